package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
)

// recoveryWithin is how soon after MOS answers again every order must match it.
const recoveryWithin = 10 * time.Second

// The MOS faults of the recovery tests: notifications are always lost (only the reconciler can
// find out what happened at MOS), and during an outage every orderQuery answers HTTP 500.
var (
	recoveryQuiet  = sandbox.Faults{DropNotifications: 1}
	recoveryOutage = sandbox.Faults{DropNotifications: 1, ErrorRate: map[string]float64{"orderQuery": 1}}
)

// TestRecoveryAfterOutagesOverChecks: orders live 20 s and orderQuery answers 500 from t=12 s to
// t=30 s, over their first check and their check at expiry. Within 10 s of MOS answering again,
// the orders still PENDING at MOS are CLOSED and the one MOS took payment for during the outage is
// PAID. Then a second outage lies over their next checks (the closed orders' first grace check,
// the paid order's refund check), while MOS takes a late payment for one and refunds the other:
// again every order matches MOS within 10 s of its end. The timetable is the default one but for
// its first grace check (25 s after expiry instead of a minute) and a 15 s refund window, to keep
// the test within a minute; the reconciler's cadence is one second, as in the fault test.
func TestRecoveryAfterOutagesOverChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about a minute of real time; skipped with -short")
	}
	t.Parallel()
	sched := order.DefaultSchedule()
	sched.InFlight = 10 * time.Second // the MOS timeout (5 s) + 5 s, as serve sets it
	sched.Grace = []time.Duration{25 * time.Second, 10 * time.Minute, time.Hour}
	sched.RefundWindow = 15 * time.Second
	h := apptest.Start(t, apptest.Options{Schedule: &sched, Config: func(c *app.Config) {
		c.OrderTTL, c.ReconcileEvery = 20*time.Second, "@every 1s"
	}})
	setFaults(t, h, recoveryQuiet)
	token := h.Login(t, "outage-user")
	t0 := time.Now()
	var nos []string
	for i := range 4 {
		nos = append(nos, h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: fmt.Sprintf("%d.00", i+1), Currency: "USD", Desc: "outage"}, "").OutTradeNo)
	}
	pending, paid := nos[:3], nos[3]

	sleepUntil(t0.Add(12 * time.Second))
	setFaults(t, h, recoveryOutage)
	sleepUntil(t0.Add(14 * time.Second))
	h.Pay(t, paid) // its notification is lost
	sleepUntil(t0.Add(30 * time.Second))
	setFaults(t, h, recoveryQuiet)
	healed := time.Now()
	took := waitMatchMOS(t, h, nos)
	t.Logf("first outage (t=12 s to t=30 s, over the first check and the check at expiry): every order matches MOS %.1f s after MOS answers again", took.Seconds())
	wantUnanswered(t, h, nos, t0.Add(12*time.Second), healed)
	wantStatus(t, h, paid, order.StatusPaid)
	for _, no := range pending {
		wantStatus(t, h, no, order.StatusClosed)
	}

	// The second outage, over each order's next check.
	var first, last time.Time
	for _, no := range nos {
		o := mospayOrder(t, h, no)
		if o.NextCheckAt == nil {
			t.Fatalf("order %s (%s) has no next check", no, o.Status)
		}
		if first.IsZero() || o.NextCheckAt.Before(first) {
			first = *o.NextCheckAt
		}
		if o.NextCheckAt.After(last) {
			last = *o.NextCheckAt
		}
	}
	start, end := first.Add(-3*time.Second), last.Add(3*time.Second)
	sleepUntil(start)
	setFaults(t, h, recoveryOutage)
	h.Pay(t, pending[0])                                             // a late payment, its notification lost
	h.SandboxPost(t, "POST", "/sandbox/orders/"+paid+"/refund", nil) // a refund, its notification lost
	sleepUntil(end)
	setFaults(t, h, recoveryQuiet)
	healed = time.Now()
	took = waitMatchMOS(t, h, nos)
	t.Logf("second outage (%.1f s, over the next checks at t=%.1f s to t=%.1f s): every order matches MOS %.1f s after MOS answers again",
		end.Sub(start).Seconds(), first.Sub(t0).Seconds(), last.Sub(t0).Seconds(), took.Seconds())
	wantUnanswered(t, h, nos, start, healed)
	wantStatus(t, h, pending[0], order.StatusPaid)
	wantStatus(t, h, paid, order.StatusRefunded)
	for _, no := range pending[1:] {
		wantStatus(t, h, no, order.StatusClosed)
	}
}

// TestGiveUpWhenTTLIsShorter: an order whose prepay never reached MOS, with a TTL (20 s) shorter
// than the give-up (30 s), is FAILED within 5 s of its give-up moment, not at a later grace check;
// also when an outage of orderQuery ended just before that moment. The reconciler never sends the
// prepay again.
func TestGiveUpWhenTTLIsShorter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 35 s of real time; skipped with -short")
	}
	t.Parallel()
	const ttl, giveUp = 20 * time.Second, 30 * time.Second
	tests := []struct {
		name               string
		outageFrom, healAt time.Duration // after creation; none when zero
	}{
		{"no outage", 0, 0},
		{"an outage over the expiry check ends 2 s before the give-up moment", 15 * time.Second, giveUp - 2*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) {
				c.OrderTTL, c.PrepayGiveUp, c.ReconcileEvery = ttl, giveUp, "@every 1s"
			}})
			token := h.Login(t, "giveup-user")
			setFaults(t, h, sandbox.Faults{DropNotifications: 1, ErrorRate: map[string]float64{"prepay": 1}})
			r, err := h.Create(token, apptest.CreateBody{TotalAmount: "2.00", Currency: "USD", Desc: "never reaches MOS"}, "giveup-1")
			if err != nil {
				t.Fatal(err)
			}
			r.WantError(t, 503, order.EUNAVAILABLE)
			setFaults(t, h, recoveryQuiet)
			page, err := h.App.Service().List(t.Context(), order.ListFilter{})
			if err != nil || len(page.Orders) != 1 {
				t.Fatalf("orders: %v, %v; want the one CREATED order", page.Orders, err)
			}
			o := page.Orders[0]
			prepays := h.Sandbox.Stats().Calls["prepay"]
			due := o.CreatedAt.Add(giveUp)
			if tt.outageFrom > 0 {
				sleepUntil(o.CreatedAt.Add(tt.outageFrom))
				setFaults(t, h, recoveryOutage)
				sleepUntil(o.CreatedAt.Add(tt.healAt))
				setFaults(t, h, recoveryQuiet)
			}
			if !apptest.Within(time.Until(due.Add(10*time.Second)), func() bool { return mospayOrder(t, h, o.OutTradeNo).Status == order.StatusFailed }) {
				t.Fatalf("order still %s 10 s after its give-up moment", mospayOrder(t, h, o.OutTradeNo).Status)
			}
			s, err := h.App.Service().Story(t.Context(), o.OutTradeNo)
			if err != nil {
				t.Fatal(err)
			}
			tr := s.Transitions[len(s.Transitions)-1]
			late := tr.At.Sub(due)
			t.Logf("FAILED %.1f s after the give-up moment (%s)", late.Seconds(), tr.Reason)
			if late < 0 || late > 5*time.Second || tr.From != order.StatusCreated || tr.Source != order.SourceReconciler {
				t.Errorf("transition %+v %v after the give-up moment; want CREATED -> FAILED by the reconciler within 5 s of it", tr, late)
			}
			if n := h.Sandbox.Stats().Calls["prepay"]; n != prepays {
				t.Errorf("%d prepay calls, want %d: the reconciler asks with orderQuery and never sends a prepay", n, prepays)
			}
			if tt.outageFrom > 0 {
				if n := wantUnanswered(t, h, []string{o.OutTradeNo}, o.CreatedAt.Add(tt.outageFrom), o.CreatedAt.Add(tt.healAt)); n != 1 {
					t.Errorf("the outage met %d checks of the order, want its expiry check", n)
				}
			}
		})
	}
}

// setFaults replaces the sandbox's injected faults.
func setFaults(t *testing.T, h *apptest.Stack, f sandbox.Faults) {
	t.Helper()
	if err := h.Sandbox.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// mospayOrder reads the order as mospay holds it.
func mospayOrder(t *testing.T, h *apptest.Stack, outTradeNo string) *order.Order {
	t.Helper()
	o, err := h.App.Service().Order(context.Background(), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// matchesMOS says whether mospay's status is what MOS's says it must be: an order MOS still has
// unpaid after its expireTime is CLOSED.
func matchesMOS(h *apptest.Stack, o *order.Order) (bool, string) {
	v, ok := h.Sandbox.Order(o.OutTradeNo)
	if !ok {
		return o.Status == order.StatusFailed, "unknown to MOS"
	}
	want := map[string]order.Status{"SUCCESS": order.StatusPaid, "REFUNDED": order.StatusRefunded,
		"FAILED": order.StatusFailed, "CLOSED": order.StatusClosed, "PENDING": order.StatusPending}[v.Status]
	if want == order.StatusPending && !time.Now().Before(o.ExpireAt) {
		want = order.StatusClosed
	}
	return o.Status == want, v.Status
}

// waitMatchMOS waits until every order matches MOS and returns how long that took; it fails the
// test if that takes longer than recoveryWithin.
func waitMatchMOS(t *testing.T, h *apptest.Stack, nos []string) time.Duration {
	t.Helper()
	start := time.Now()
	var off []string
	if !apptest.Within(recoveryWithin, func() bool {
		off = off[:0]
		for _, no := range nos {
			o := mospayOrder(t, h, no)
			if ok, mos := matchesMOS(h, o); !ok {
				off = append(off, fmt.Sprintf("%s: mospay %s, MOS %s", no, o.Status, mos))
			}
		}
		return len(off) == 0
	}) {
		t.Fatalf("%d orders do not match MOS %s after MOS answers again:\n%s", len(off), recoveryWithin, strings.Join(off, "\n"))
	}
	return time.Since(start)
}

// wantStatus asserts mospay's status of the order.
func wantStatus(t *testing.T, h *apptest.Stack, outTradeNo string, want order.Status) {
	t.Helper()
	if got := mospayOrder(t, h, outTradeNo).Status; got != want {
		t.Errorf("order %s is %s, want %s", outTradeNo, got, want)
	}
}

// wantUnanswered asserts that the outage did meet the orders' checks: it returns how many of the
// orders had a reconciler check that got no answer between from and to, which must be some (the
// others' checks were held back while MOS was taken to be down).
func wantUnanswered(t *testing.T, h *apptest.Stack, nos []string, from, to time.Time) int {
	t.Helper()
	n := 0
	for _, no := range nos {
		s, err := h.App.Service().Story(context.Background(), no)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range s.Queries {
			if q.Source == order.SourceReconciler && q.Error != "" && !q.At.Before(from) && !q.At.After(to) {
				n++
				break
			}
		}
	}
	t.Logf("the outage from %s to %s met the checks of %d of %d orders", from.Format("15:04:05.000"), to.Format("15:04:05.000"), n, len(nos))
	if n == 0 {
		t.Errorf("no reconciler check got an error between %s and %s: the outage missed the checks",
			from.Format("15:04:05.000"), to.Format("15:04:05.000"))
	}
	return n
}
