package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// dropNotifications makes the sandbox lose every notification from now on.
func dropNotifications(t *testing.T, h *apptest.Stack) {
	t.Helper()
	h.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1})
}

// TestRefundWithLostNotification: an order is paid (its notification arrives), then refunded at
// MOS with the notification lost. The user's query and the admin's reconcile both ask MOS
// whatever the status, so the refund is found and recorded.
func TestRefundWithLostNotification(t *testing.T) {
	for _, via := range []string{"user query", "admin reconcile"} {
		t.Run(via, func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{})
			token := h.Login(t, "user-refund-lost")
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Coffee"}, "")
			h.Pay(t, o.OutTradeNo)
			h.WaitStatus(t, token, o.OutTradeNo, "PAID")

			dropNotifications(t, h)
			h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+o.OutTradeNo+"/refund", nil)
			if _, got := h.GetOrder(t, token, o.OutTradeNo); got.Status != "PAID" {
				t.Fatalf("before asking MOS the order is %s, want PAID (the refund's notification was lost)", got.Status)
			}

			var r apptest.Response
			source := "api"
			if via == "user query" {
				r = h.Must(t, http.MethodPost, h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(token))
			} else {
				r = h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+o.OutTradeNo+"/reconcile", nil, apptest.Bearer(apptest.FinanceToken))
				source = "admin"
			}
			var got apptest.Order
			r.Decode(t, &got)
			if r.Status != http.StatusOK || got.Status != "REFUNDED" || len(got.Flags) != 0 {
				t.Fatalf("%s: HTTP %d %s, want 200 REFUNDED without a flag", via, r.Status, r.Body)
			}
			h.WantTransitions(t, o.OutTradeNo,
				apptest.Transition{From: "", To: "CREATED", Source: "api"},
				apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"},
				apptest.Transition{From: "PENDING", To: "PAID", Source: "notify"},
				apptest.Transition{From: "PAID", To: "REFUNDED", Source: source})
		})
	}
}

// TestRefundBeforePayment: MOS reports a refund for an order mospay never saw paid (both the
// payment's and the refund's notifications lost). The money moved and came back: the order goes
// to REFUNDED, MOS's truth, with refund_not_paid telling finance it was never seen paid.
func TestRefundBeforePayment(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	dropNotifications(t, h)
	token := h.Login(t, "user-refund-first")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Noodles"}, "")
	h.Pay(t, o.OutTradeNo)
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+o.OutTradeNo+"/refund", nil)

	r := h.Must(t, http.MethodPost, h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(token))
	var got apptest.Order
	r.Decode(t, &got)
	if r.Status != http.StatusOK || got.Status != "REFUNDED" || !got.HasFlag("refund_not_paid") {
		t.Fatalf("query: HTTP %d %s, want REFUNDED with refund_not_paid", r.Status, r.Body)
	}
	h.WantTransitions(t, o.OutTradeNo,
		apptest.Transition{From: "", To: "CREATED", Source: "api"},
		apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"},
		apptest.Transition{From: "PENDING", To: "REFUNDED", Source: "api"})
	var story struct {
		Flags []struct {
			Flag, Note string
		}
	}
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
	if len(story.Flags) != 1 || story.Flags[0].Flag != "refund_not_paid" || story.Flags[0].Note == "" {
		t.Fatalf("story flags %+v, want refund_not_paid with a note", story.Flags)
	}
}

// TestRetryRefusedWhileMOSHoldsTheOrder: two instances on PostgreSQL without a shared public
// URL, so each sends its own notifyUrl. The first's prepay reaches MOS but its answer is lost
// (503, the order stays CREATED); the client retries with the same Idempotency-Key and lands on
// the second, whose prepay MOS refuses (another notifyUrl). The refusal of a retry is checked
// with orderQuery: MOS has the order, so mospay follows MOS (PENDING with MOS's prepayId), where
// it used to mark the order FAILED.
func TestRetryRefusedWhileMOSHoldsTheOrder(t *testing.T) {
	dsn := pgtest.NewDB(t)
	first := apptest.Start(t, apptest.Options{DBURL: dsn})
	second := apptest.Start(t, apptest.Options{DBURL: dsn, MOS: first})
	token := first.Login(t, "user-retry")
	body := apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Retry"}

	first.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{LostAnswerRate: map[string]float64{"prepay": 1}})
	r, err := first.Create(token, body, "retry-key-1")
	if err != nil {
		t.Fatal(err)
	}
	r.WantError(t, http.StatusServiceUnavailable, "provider_unavailable")
	first.SandboxPost(t, http.MethodDelete, "/sandbox/faults", nil)
	var outTradeNo string
	if err := first.DB.SQL().QueryRow(`SELECT out_trade_no FROM orders WHERE idempotency_key = 'retry-key-1'`).Scan(&outTradeNo); err != nil {
		t.Fatal(err)
	}
	held, ok := first.Sandbox.Order(outTradeNo)
	if !ok || held.Status != "PENDING" {
		t.Fatalf("the first prepay did not reach MOS: %+v", held)
	}

	r, err = second.Create(token, body, "retry-key-1")
	if err != nil {
		t.Fatal(err)
	}
	var got apptest.Order
	r.Decode(t, &got)
	if r.Status != http.StatusOK || got.Status != "PENDING" || got.PrepayID != held.PrepayID || got.OutTradeNo != outTradeNo {
		t.Fatalf("retry on the other instance: HTTP %d %s, want 200 PENDING with MOS's prepayId %s", r.Status, r.Body, held.PrepayID)
	}
	if v, _ := first.Sandbox.Order(outTradeNo); v.PrepayCalls != 1 {
		t.Fatalf("MOS took %d prepays of the order, want the first only", v.PrepayCalls)
	}
	first.WantTransitions(t, outTradeNo,
		apptest.Transition{From: "", To: "CREATED", Source: "api"},
		apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"})
	// And it pays as any order does.
	first.Pay(t, outTradeNo)
	first.WaitStatus(t, token, outTradeNo, "PAID")
}

// TestRefusedFirstPrepayStillFails: a refusal of a first prepay (one that cannot have reached MOS
// before) is not second-guessed: the order is FAILED at once, with no orderQuery.
func TestRefusedFirstPrepayStillFails(t *testing.T) {
	mos := apptest.Start(t, apptest.Options{})
	h := apptest.Start(t, apptest.Options{MOS: mos, Config: func(c *app.Config) { c.MOSMchID = "notthemerchant" }})
	token := h.Login(t, "user-refused")
	r, err := h.Create(token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "Refused"}, "")
	if err != nil {
		t.Fatal(err)
	}
	r.WantError(t, http.StatusUnprocessableEntity, "unprocessable")
	if n := h.Count(t, `SELECT COUNT(*) FROM orders WHERE status = 'FAILED'`); n != 1 {
		t.Fatalf("%d FAILED orders, want 1", n)
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM mos_queries`); n != 0 {
		t.Fatalf("%d orderQuery calls for a refused first prepay, want none", n)
	}
}

// TestLastRefundCheckRetriedUntilAnswered: the refund window's last check finds MOS unavailable;
// the order is checked again until MOS answers, and the refund behind it is found.
func TestLastRefundCheckRetriedUntilAnswered(t *testing.T) {
	sched := order.DefaultSchedule()
	sched.RefundChecks, sched.RefundWindow, sched.Backoff, sched.Jitter = nil, 300*time.Millisecond, []time.Duration{200 * time.Millisecond}, 0
	sched.RetryFirst, sched.RetryMax = 200*time.Millisecond, 200*time.Millisecond // a check without an answer comes back within 200 ms
	h := apptest.Start(t, apptest.Options{Schedule: &sched})
	token := h.Login(t, "user-last-check")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Last check"}, "")
	h.Pay(t, o.OutTradeNo)
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	dropNotifications(t, h)
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+o.OutTradeNo+"/refund", nil)
	h.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1,
		ErrorRate: map[string]float64{"orderQuery": 1}})

	pass := func() {
		t.Helper()
		if _, err := h.App.Reconciler().Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond) // past the window's end: its last check is due
	pass()
	stored, err := h.DB.Order(context.Background(), o.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != order.StatusPaid || stored.NextCheckAt == nil {
		t.Fatalf("after the last check failed: %s, next check %v; want PAID and another check", stored.Status, stored.NextCheckAt)
	}
	h.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1})
	time.Sleep(300 * time.Millisecond)
	pass()
	if _, got := h.GetOrder(t, token, o.OutTradeNo); got.Status != "REFUNDED" {
		t.Fatalf("after MOS answered again: %s, want REFUNDED", got.Status)
	}
	h.WantTransitions(t, o.OutTradeNo,
		apptest.Transition{From: "", To: "CREATED", Source: "api"},
		apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"},
		apptest.Transition{From: "PENDING", To: "PAID", Source: "notify"},
		apptest.Transition{From: "PAID", To: "REFUNDED", Source: "reconciler"})
}
