package ui_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
)

// TestFinanceReviewAndReport: the review queue and the report show flagged orders with MOS's
// amounts beside theirs; the report's sums are the list's.
//
// It runs at instants on both sides of the day boundaries (apptest.DayBoundaries).
func TestFinanceReviewAndReport(t *testing.T) {
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) { financeReviewAndReport(t, at) })
	}
}

func financeReviewAndReport(t *testing.T, at time.Time) {
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
	token := h.Login(t, "carol")
	flagged := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Rice"}, "40")
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "2.50", Currency: "USD", Desc: "Coffee"})
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "7.50", Currency: "USD", Desc: "Cake"})
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)

	wantPage(t, f.Get(t, "/finance/review"), http.StatusOK, flagged.OutTradeNo, "4,000 KHR", "SUCCESS 40 KHR", "(differs)", "amount_mismatch")
	wantPage(t, f.Get(t, "/finance/report"), http.StatusOK, "Orders by status", "10.00", "4000", flagged.OutTradeNo, "(differs)")
	wantPage(t, f.Get(t, "/finance/orders"), http.StatusOK, "Orders by status", "10.00")
	wantPage(t, f.Get(t, "/finance/report?status=PAID&currency=KHR"), http.StatusOK, "No orders in this selection.")
	wantPage(t, f.Get(t, "/finance/report?tz=Nowhere/Else"), http.StatusBadRequest, `tz: unknown time zone "Nowhere/Else"`)

	// Resolved, the order leaves the queue.
	story := f.Get(t, "/finance/orders/"+flagged.OutTradeNo)
	f.Post(t, "/finance/orders/"+flagged.OutTradeNo+"/flags/amount_mismatch/resolve", url.Values{"csrf": {story.CSRF(t)}, "note": {"ok"}})
	wantPage(t, f.Get(t, "/finance/review"), http.StatusOK, "Nothing to review")
}
