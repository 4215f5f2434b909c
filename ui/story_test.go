package ui_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
)

// TestFinanceStoryPage: an order's story, resolving its flag with a note (an empty note is
// refused and changes nothing), reconciling, CSRF on both, and the audit trail.
func TestFinanceStoryPage(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "bob")
	o := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "Tea"}, "0.10")
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	path := "/finance/orders/" + o.OutTradeNo

	story := f.Get(t, path+"?tz=Asia/Bangkok")
	wantPage(t, story, http.StatusOK, "1.00 USD", "PENDING", "Tea", "bob", o.PrepayID, "amount_mismatch",
		"Created as CREATED (api)", "CREATED → PENDING (api)", "Notification from MOS: SUCCESS", "<details>",
		"Flag amount_mismatch raised", "Resolve amount_mismatch", "Reconcile now", "+07:00")
	resolveURL := path + "/flags/amount_mismatch/resolve?tz=Asia%2FBangkok"
	if !strings.Contains(story.Body, `action="`+html.EscapeString(resolveURL)+`"`) {
		t.Fatalf("no resolve form posting to %s", resolveURL)
	}
	csrf := story.CSRF(t)

	wantPage(t, f.Post(t, resolveURL, url.Values{"note": {"fine"}}), http.StatusForbidden)
	refused := f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {"   "}})
	wantPage(t, refused, http.StatusBadRequest, "The flag was not resolved: note: say why", "Resolve amount_mismatch")
	long := strings.Repeat("é", 501)
	wantPage(t, f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {long}}), http.StatusBadRequest, "at most 500 characters", long)
	var check struct{ Order apptest.Order }
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &check)
	if !check.Order.HasFlag("amount_mismatch") {
		t.Fatal("a refused note resolved the flag")
	}

	done := f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {"Customer paid 0.10 by mistake; refunded by hand"}})
	wantRedirect(t, done, path+"?tz=Asia%2FBangkok&done=resolved")
	wantPage(t, f.Get(t, done.Location), http.StatusOK,
		"Flag amount_mismatch resolved (keep watching): Customer paid 0.10 by mistake; refunded by hand",
		"Flag amount_mismatch resolved by finance", "outcome: keep watching", "Next to review")
	if again := f.Get(t, done.Location); strings.Contains(again.Body, "resolved (keep watching)") || strings.Contains(again.Body, "Next to review") {
		t.Fatal("reloading the story says the resolution again")
	}
	wantPage(t, f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {"again"}}), http.StatusConflict, "is not active")

	wantPage(t, f.Post(t, path+"/reconcile", url.Values{}), http.StatusForbidden)
	rec := f.Post(t, path+"/reconcile?tz=UTC", url.Values{"csrf": {csrf}})
	wantRedirect(t, rec, path+"?tz=UTC&done=reconciled")
	wantPage(t, f.Get(t, rec.Location), http.StatusOK, "MOS answered SUCCESS 0.10 USD; nothing changed.",
		"finance asked MOS now (reconcile)", "orderQuery (admin)")

	audit := f.Get(t, "/finance/audit?actor=finance")
	wantPage(t, audit, http.StatusOK, ">resolve<", ">reconcile<", ">login<",
		"amount_mismatch · keep watching · MOS answered: SUCCESS 0.10 USD · Customer paid 0.10 by mistake")
	wantPage(t, f.Get(t, "/finance/audit?actor=nobody"), http.StatusOK, "No admin action matches")
	wantPage(t, f.Get(t, "/finance/audit?from=yesterday"), http.StatusBadRequest, "from: a date such as")

	wantPage(t, f.Get(t, "/finance/orders/0"+strings.Repeat("a", 31)), http.StatusNotFound, "Back to the orders")
	wantPage(t, f.Get(t, "/finance/nowhere"), http.StatusNotFound, "There is no page at /finance/nowhere.")
}
