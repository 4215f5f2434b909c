package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/store/pgtest"
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
func paidTransitions(t testing.TB, h *apptest.Stack, outTradeNo string) int {
	t.Helper()
	return h.Count(t, `SELECT COUNT(*) FROM transitions t JOIN orders o ON o.id = t.order_id
		WHERE o.out_trade_no = ? AND t.to_status = 'PAID'`, outTradeNo)
}

// TestConcurrentNotifications: MOS delivers the same notification 50 times at once; the order is
// paid exactly once, and every delivery is acknowledged.
func TestConcurrentNotifications(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, dbURL string) {
		h := apptest.Start(t, apptest.Options{DBURL: dbURL})
		token := h.Login(t, "user-race-notify")
		const n = 50

		t.Run("one_body_posted_50_times", func(t *testing.T) {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Race"}, "")
			h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			body := h.Notification(t, o.OutTradeNo, nil, h.Secret)
			answers := make([]apptest.Response, n)
			errs := make([]error, n)
			concurrently(n, func(i int) {
				answers[i], errs[i] = h.Do("POST", h.URL+"/mos/notify", body, nil)
			})
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				apptest.WantMOSAnswer(t, answers[i], 200)
			}
			if got := paidTransitions(t, h, o.OutTradeNo); got != 1 {
				t.Fatalf("%d PAID transitions, want exactly 1", got)
			}
			h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
			// One is applied; those that raced it are stored as no_change; once one is stored,
			// the rest are replays of a known body: answered without orderQuery, not stored again.
			outcomes := map[string]int{}
			for _, nr := range h.Notifications(t, o.OutTradeNo) {
				outcomes[nr.Outcome]++
			}
			if outcomes["applied"] != 1 || len(outcomes) > 2 || outcomes["applied"]+outcomes["no_change"] > n {
				t.Fatalf("notification outcomes %v, want 1 applied and at most %d no_change", outcomes, n-1)
			}
			h.WaitStatus(t, token, o.OutTradeNo, "PAID")
		})

		t.Run("sandbox_sends_50", func(t *testing.T) {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Race"}, "")
			h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			errs := make([]error, n)
			concurrently(n, func(i int) {
				r, err := h.Do("POST", h.SandboxURL+"/sandbox/orders/"+o.OutTradeNo+"/notify", nil, nil)
				if err == nil && r.Status != 200 {
					err = fmt.Errorf("HTTP %d %s", r.Status, r.Body)
				}
				errs[i] = err
			})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// MOS redelivers whatever was not acknowledged, so all 50 end acknowledged.
			h.WaitSandbox(t, o.OutTradeNo, "all acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == n })
			if got := paidTransitions(t, h, o.OutTradeNo); got != 1 {
				t.Fatalf("%d PAID transitions, want exactly 1", got)
			}
			h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
		})
	})
}

// TestNotifyRacingQuery: the front end asks (POST .../query) while MOS's notifications arrive;
// one transition to PAID, whoever wins.
func TestNotifyRacingQuery(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, dbURL string) {
		h := apptest.Start(t, apptest.Options{DBURL: dbURL})
		token := h.Login(t, "user-race-query")
		for round := range 3 {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: fmt.Sprint("Race ", round)}, "")
			h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			body := h.Notification(t, o.OutTradeNo, nil, h.Secret)
			const n = 10
			answers := make([]apptest.Response, 2*n)
			errs := make([]error, 2*n)
			concurrently(2*n, func(i int) {
				if i%2 == 0 {
					answers[i], errs[i] = h.Do("POST", h.URL+"/mos/notify", body, nil)
				} else {
					answers[i], errs[i] = h.Do("POST", h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(token))
				}
			})
			for i := range answers {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if i%2 == 0 {
					apptest.WantMOSAnswer(t, answers[i], 200)
					continue
				}
				var got apptest.Order
				answers[i].Decode(t, &got)
				if answers[i].Status != 200 || got.Status != "PAID" {
					t.Fatalf("query: HTTP %d %s, want 200 PAID", answers[i].Status, answers[i].Body)
				}
			}
			if got := paidTransitions(t, h, o.OutTradeNo); got != 1 {
				t.Fatalf("round %d: %d PAID transitions, want exactly 1: %v", round, got, h.Transitions(t, o.OutTradeNo))
			}
			if tr := h.Transitions(t, o.OutTradeNo); len(tr) != 3 || tr[2].From != "PENDING" || tr[2].To != "PAID" {
				t.Fatalf("round %d: transitions %v", round, tr)
			}
		}
	})
}

// TestConcurrentCreates: 20 requests with one Idempotency-Key at once make one order, and MOS
// sees one prepay.
func TestConcurrentCreates(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, dbURL string) {
		h := apptest.Start(t, apptest.Options{DBURL: dbURL})
		token := h.Login(t, "user-race-create")
		const n = 20
		before := h.Sandbox.Stats()
		answers := make([]apptest.Response, n)
		errs := make([]error, n)
		concurrently(n, func(i int) {
			answers[i], errs[i] = h.Create(token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Once"}, "double-click")
		})
		byStatus := map[int]int{}
		var first apptest.Order
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			var o apptest.Order
			answers[i].Decode(t, &o)
			byStatus[answers[i].Status]++
			if first.OutTradeNo == "" {
				first = o
			}
			if o.OutTradeNo != first.OutTradeNo || o.PrepayID == "" || o.PrepayID != first.PrepayID || o.Status != "PENDING" {
				t.Fatalf("answer %d: HTTP %d %s; first was %+v", i, answers[i].Status, answers[i].Body, first)
			}
		}
		if byStatus[http.StatusCreated] != 1 || byStatus[http.StatusOK] != n-1 {
			t.Fatalf("answers by status %v, want one 201 and %d 200", byStatus, n-1)
		}
		if c := h.Count(t, `SELECT COUNT(*) FROM orders`); c != 1 {
			t.Fatalf("%d orders, want 1", c)
		}
		after := h.Sandbox.Stats()
		if d := after.Calls["prepay"] - before.Calls["prepay"]; d != 1 {
			t.Fatalf("%d prepay calls reached the sandbox, want 1", d)
		}
		if v, _ := h.Sandbox.Order(first.OutTradeNo); v.PrepayCalls != 1 {
			t.Fatalf("sandbox order %+v: want one prepay", v)
		}
		h.WantTransitions(t, first.OutTradeNo, created, prepaid)
	})
}
