package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/mospay/mospay/mos/sandbox"
)

// concurrently runs f(i) for i in [0, n) at once, released together, and waits for all.
func concurrently(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// paidTransitions counts an order's transitions to PAID.
func (h *harness) paidTransitions(t testing.TB, outTradeNo string) int {
	t.Helper()
	return h.count(t, `SELECT COUNT(*) FROM transitions t JOIN orders o ON o.id = t.order_id
		WHERE o.out_trade_no = ? AND t.to_status = 'PAID'`, outTradeNo)
}

// TestConcurrentNotifications: MOS delivers the same notification 50 times at once; the order is
// paid exactly once, and every delivery is acknowledged.
func TestConcurrentNotifications(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		h := newHarness(t, options{dbURL: dbURL})
		token := h.login(t, "user-race-notify")
		const n = 50

		t.Run("one_body_posted_50_times", func(t *testing.T) {
			o := h.createOrder(t, token, createBody{"16.99", "USD", "Race"}, "")
			h.sandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			body := h.notification(t, o.OutTradeNo, nil, h.secret)
			answers := make([]response, n)
			errs := make([]error, n)
			concurrently(n, func(i int) {
				answers[i], errs[i] = h.do("POST", h.apiURL+"/mos/notify", body, nil)
			})
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				wantMOSAnswer(t, answers[i], 200)
			}
			if got := h.paidTransitions(t, o.OutTradeNo); got != 1 {
				t.Fatalf("%d PAID transitions, want exactly 1", got)
			}
			h.wantTransitions(t, o.OutTradeNo, created, prepaid, paid)
			outcomes := map[string]int{}
			for _, nr := range h.notifications(t, o.OutTradeNo) {
				outcomes[nr.Outcome]++
			}
			if outcomes["applied"] != 1 || outcomes["no_change"] != n-1 {
				t.Fatalf("notification outcomes %v, want 1 applied and %d no_change", outcomes, n-1)
			}
			h.waitStatus(t, token, o.OutTradeNo, "PAID")
		})

		t.Run("sandbox_sends_50", func(t *testing.T) {
			o := h.createOrder(t, token, createBody{"4000", "KHR", "Race"}, "")
			h.sandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			errs := make([]error, n)
			concurrently(n, func(i int) {
				r, err := h.do("POST", h.sbURL+"/sandbox/orders/"+o.OutTradeNo+"/notify", nil, nil)
				if err == nil && r.status != 200 {
					err = fmt.Errorf("HTTP %d %s", r.status, r.body)
				}
				errs[i] = err
			})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// MOS redelivers whatever was not acknowledged, so all 50 end acknowledged.
			h.waitSandbox(t, o.OutTradeNo, "all acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == n })
			if got := h.paidTransitions(t, o.OutTradeNo); got != 1 {
				t.Fatalf("%d PAID transitions, want exactly 1", got)
			}
			h.wantTransitions(t, o.OutTradeNo, created, prepaid, paid)
		})
	})
}

// TestNotifyRacingQuery: the front end asks (POST .../query) while MOS's notifications arrive;
// one transition to PAID, whoever wins.
func TestNotifyRacingQuery(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		h := newHarness(t, options{dbURL: dbURL})
		token := h.login(t, "user-race-query")
		for round := range 3 {
			o := h.createOrder(t, token, createBody{"16.99", "USD", fmt.Sprint("Race ", round)}, "")
			h.sandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			body := h.notification(t, o.OutTradeNo, nil, h.secret)
			const n = 10
			answers := make([]response, 2*n)
			errs := make([]error, 2*n)
			concurrently(2*n, func(i int) {
				if i%2 == 0 {
					answers[i], errs[i] = h.do("POST", h.apiURL+"/mos/notify", body, nil)
				} else {
					answers[i], errs[i] = h.do("POST", h.apiURL+"/mp/orders/"+o.OutTradeNo+"/query", nil, bearer(token))
				}
			})
			for i := range answers {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if i%2 == 0 {
					wantMOSAnswer(t, answers[i], 200)
					continue
				}
				var got orderJSON
				answers[i].decode(t, &got)
				if answers[i].status != 200 || got.Status != "PAID" {
					t.Fatalf("query: HTTP %d %s, want 200 PAID", answers[i].status, answers[i].body)
				}
			}
			if got := h.paidTransitions(t, o.OutTradeNo); got != 1 {
				t.Fatalf("round %d: %d PAID transitions, want exactly 1: %v", round, got, h.transitions(t, o.OutTradeNo))
			}
			if tr := h.transitions(t, o.OutTradeNo); len(tr) != 3 || tr[2].From != "PENDING" || tr[2].To != "PAID" {
				t.Fatalf("round %d: transitions %v", round, tr)
			}
		}
	})
}

// TestConcurrentCreates: 20 requests with one Idempotency-Key at once make one order, and MOS
// sees one prepay.
func TestConcurrentCreates(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		h := newHarness(t, options{dbURL: dbURL})
		token := h.login(t, "user-race-create")
		const n = 20
		before := h.sb.Stats()
		answers := make([]response, n)
		errs := make([]error, n)
		concurrently(n, func(i int) {
			answers[i], errs[i] = h.create(token, createBody{"16.99", "USD", "Once"}, "double-click")
		})
		byStatus := map[int]int{}
		var first orderJSON
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			var o orderJSON
			answers[i].decode(t, &o)
			byStatus[answers[i].status]++
			if first.OutTradeNo == "" {
				first = o
			}
			if o.OutTradeNo != first.OutTradeNo || o.PrepayID == "" || o.PrepayID != first.PrepayID || o.Status != "PENDING" {
				t.Fatalf("answer %d: HTTP %d %s; first was %+v", i, answers[i].status, answers[i].body, first)
			}
		}
		if byStatus[http.StatusCreated] != 1 || byStatus[http.StatusOK] != n-1 {
			t.Fatalf("answers by status %v, want one 201 and %d 200", byStatus, n-1)
		}
		if c := h.count(t, `SELECT COUNT(*) FROM orders`); c != 1 {
			t.Fatalf("%d orders, want 1", c)
		}
		after := h.sb.Stats()
		if d := after.Calls["prepay"] - before.Calls["prepay"]; d != 1 {
			t.Fatalf("%d prepay calls reached the sandbox, want 1", d)
		}
		if v, _ := h.sb.Order(first.OutTradeNo); v.PrepayCalls != 1 {
			t.Fatalf("sandbox order %+v: want one prepay", v)
		}
		h.wantTransitions(t, first.OutTradeNo, created, prepaid)
	})
}
