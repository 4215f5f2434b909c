package scheduler_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/scheduler"
)

// A payment whose notification is lost is found by the reconciler at the order's first check,
// not before: cron is only an alarm clock, the due time lives in the row.
func TestPaidWithoutNotification(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)
	e.pay(t, o.OutTradeNo)

	wantSummary(t, e.pass(t), 0, 0, nil)
	if got := e.order(t, o.OutTradeNo); got.Status != order.StatusPending {
		t.Fatalf("before its first check the order is %s, want PENDING", got.Status)
	}

	e.clock.Advance(firstCheck)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusPaid: 1})
	s := e.story(t, o.OutTradeNo)
	if s.Order.Status != order.StatusPaid || s.Order.PaidAt == nil || s.Order.LeaseOwner != "" {
		t.Fatalf("order %s, paid at %v, lease %q; want PAID, a time, released", s.Order.Status, s.Order.PaidAt, s.Order.LeaseOwner)
	}
	if want := s.Order.PaidAt.Add(time.Hour); s.Order.NextCheckAt == nil || !s.Order.NextCheckAt.Equal(want) {
		t.Fatalf("next check %v, want the first refund check an hour after payment, %v", s.Order.NextCheckAt, want)
	}
	if tr := lastTransition(t, s); tr.From != order.StatusPending || tr.To != order.StatusPaid || tr.Source != order.SourceReconciler || tr.MOSStatus != "SUCCESS" {
		t.Fatalf("last transition %+v, want PENDING -> PAID by the reconciler on SUCCESS", tr)
	}
	if n := countQueries(s, order.SourceReconciler); n != 1 {
		t.Fatalf("%d reconciler queries recorded, want 1", n)
	}

	e.clock.Advance(30 * time.Minute)
	wantSummary(t, e.pass(t), 0, 0, nil) // the refund check is not due yet
}

// A refund whose notification is lost is found by the refund window's checks: at +1 h, +1 day,
// +7 days and the end of the window after payment, then never again.
func TestRefundFoundByPolling(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)
	e.pay(t, o.OutTradeNo)
	e.clock.Advance(firstCheck)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusPaid: 1})
	paidAt := *e.order(t, o.OutTradeNo).PaidAt

	// The first refund check finds MOS still paid: nothing changes, the next is a day after payment.
	e.clock.Advance(time.Hour)
	wantSummary(t, e.pass(t), 1, 0, nil)
	if got := e.order(t, o.OutTradeNo); got.NextCheckAt == nil || !got.NextCheckAt.Equal(paidAt.Add(24*time.Hour)) {
		t.Fatalf("after the first refund check: next %v, want a day after payment", got.NextCheckAt)
	}

	// Refunded at MOS, its notification lost: the next check finds it.
	e.stack.SandboxPost(t, "POST", "/sandbox/orders/"+o.OutTradeNo+"/refund", nil)
	e.clock.Advance(23 * time.Hour)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusRefunded: 1})
	s := e.story(t, o.OutTradeNo)
	tr := lastTransition(t, s)
	if s.Order.Status != order.StatusRefunded || s.Order.RefundedAt == nil || s.Order.NextCheckAt != nil || len(s.Order.Flags) != 0 {
		t.Fatalf("order %s refunded at %v next %v flags %v; want REFUNDED, a time, no check, no flag",
			s.Order.Status, s.Order.RefundedAt, s.Order.NextCheckAt, s.Order.Flags)
	}
	if tr.From != order.StatusPaid || tr.To != order.StatusRefunded || tr.Source != order.SourceReconciler || tr.MOSStatus != "REFUNDED" {
		t.Fatalf("last transition %+v, want PAID -> REFUNDED by the reconciler", tr)
	}
	e.clock.Advance(60 * 24 * time.Hour)
	wantSummary(t, e.pass(t), 0, 0, nil) // REFUNDED is final
}

// A paid order MOS never refunds is checked four times through the window, then never again.
func TestRefundWindowEnds(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)
	e.pay(t, o.OutTradeNo)
	e.clock.Advance(firstCheck)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusPaid: 1})
	for _, d := range []time.Duration{time.Hour, 23 * time.Hour, 6 * 24 * time.Hour, 23 * 24 * time.Hour} {
		e.clock.Advance(d)
		wantSummary(t, e.pass(t), 1, 0, nil)
	}
	if got := e.order(t, o.OutTradeNo); got.NextCheckAt != nil || got.Status != order.StatusPaid {
		t.Fatalf("after the window: %s, next check %v; want PAID with none", got.Status, got.NextCheckAt)
	}
	if n := countQueries(e.story(t, o.OutTradeNo), order.SourceReconciler); n != 5 {
		t.Fatalf("%d reconciler queries, want the first check and 4 refund checks", n)
	}
}

// An order MOS still reports unpaid at its expireTime is closed; a payment MOS reports after that
// is recorded as PAID with late_payment during the grace checks.
func TestExpiryThenLatePayment(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)

	e.clock.Advance(orderTTL + time.Second)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusClosed: 1})
	s := e.story(t, o.OutTradeNo)
	tr := lastTransition(t, s)
	if s.Order.Status != order.StatusClosed || tr.Source != order.SourceReconciler || !strings.Contains(tr.Reason, "expired") {
		t.Fatalf("order %s, last transition %+v; want CLOSED by the reconciler, reason expired", s.Order.Status, tr)
	}
	if s.Order.NextCheckAt == nil || !s.Order.NextCheckAt.After(o.ExpireAt) {
		t.Fatalf("closed order's next check %v, want a grace check after its expireTime %v", s.Order.NextCheckAt, o.ExpireAt)
	}

	e.pay(t, o.OutTradeNo)
	wantSummary(t, e.pass(t), 0, 0, nil) // the first grace check is not due yet
	e.clock.Advance(time.Minute)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusPaid: 1})
	s = e.story(t, o.OutTradeNo)
	tr = lastTransition(t, s)
	if s.Order.Status != order.StatusPaid || !s.Order.HasFlag(order.FlagLatePayment) {
		t.Fatalf("order %s flags %v, want PAID with late_payment", s.Order.Status, s.Order.Flags)
	}
	if tr.From != order.StatusClosed || tr.To != order.StatusPaid || tr.Source != order.SourceReconciler {
		t.Fatalf("last transition %+v, want CLOSED -> PAID by the reconciler", tr)
	}
}

// While MOS fails, a check that got no answer is counted as an error and made again within
// seconds, backing off up to RetryMax, without moving the order along its timetable; after
// DownAfter of them in a row MOS is taken to be down and only probed, every Probe. Once MOS
// answers, the order is resolved and goes on with its timetable.
func TestMOSFaultsRetryThenRecover(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)
	e.pay(t, o.OutTradeNo)
	e.setFaults(t, sandbox.Faults{ErrorRate: map[string]float64{"orderQuery": 1}})

	e.clock.Advance(firstCheck)
	retryMax := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, limit := range retryMax {
		wantSummary(t, e.pass(t), 1, 1, nil)
		after := e.order(t, o.OutTradeNo)
		if after.Status != order.StatusPending || after.CheckAttempts != 0 || after.CheckFailures != i+1 {
			t.Fatalf("after failed check %d: %s with %d answered and %d failed checks, want PENDING with 0 and %d",
				i+1, after.Status, after.CheckAttempts, after.CheckFailures, i+1)
		}
		retry := after.NextCheckAt.Sub(e.clock.Now())
		if retry < limit/2 || retry > limit {
			t.Fatalf("failed check %d: made again after %v, want between %v and %v", i+1, retry, limit/2, limit)
		}
		if after.LeaseOwner != "" {
			t.Fatalf("lease still held by %q after the failed check", after.LeaseOwner)
		}
		if i == 0 {
			wantSummary(t, e.pass(t), 0, 0, nil) // not due again at once
		}
		e.clock.Advance(retry)
	}
	if s := e.story(t, o.OutTradeNo); countQueries(s, order.SourceReconciler) != 3 || s.Queries[len(s.Queries)-1].Error == "" {
		t.Fatalf("queries %+v, want three failed reconciler queries recorded", s.Queries)
	}
	if !e.sched.MOSDown() {
		t.Fatal("three checks in a row got no answer, but MOS is not taken to be down")
	}
	// Down: the order's retry is due, but only a probe calls MOS, once per Probe.
	wantSummary(t, e.pass(t), 0, 0, nil)
	e.clock.Advance(e.sched.Config().Probe)
	wantSummary(t, e.pass(t), 1, 1, nil) // the probe: still no answer
	wantSummary(t, e.pass(t), 0, 0, nil)

	e.setFaults(t, sandbox.Faults{})
	e.clock.Advance(e.sched.Config().Probe)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusPaid: 1})
	got := e.order(t, o.OutTradeNo)
	if got.Status != order.StatusPaid || got.CheckAttempts != 1 || got.CheckFailures != 0 || e.sched.MOSDown() {
		t.Fatalf("after recovery: %s with %d answered and %d failed checks, MOS down %v; want PAID with 1 and 0, MOS up",
			got.Status, got.CheckAttempts, got.CheckFailures, e.sched.MOSDown())
	}
	if next := got.NextCheckAt.Sub(*got.PaidAt); next != time.Hour {
		t.Fatalf("next check %v after payment, want the refund check an hour after", next)
	}
}

// createUnknown creates an order whose prepay outcome is unknown: MOS answered 500, so the order
// stays CREATED.
func (e *env) createUnknown(t *testing.T) *order.Order {
	t.Helper()
	e.setFaults(t, sandbox.Faults{ErrorRate: map[string]float64{"prepay": 1}})
	o, _, err := e.svc.Create(t.Context(), e.payer(t, "4000", "KHR", "noodles"))
	if order.ErrorCode(err) != order.EUNAVAILABLE || o == nil || o.Status != order.StatusCreated {
		t.Fatalf("create with prepay failing: %v, %v; want a CREATED order and provider_unavailable", o, err)
	}
	e.setFaults(t, sandbox.Faults{})
	return o
}

// A CREATED order whose prepay answer was lost, but which did reach MOS, is asked about with
// orderQuery within seconds (never prepaid again) and moved to PENDING with MOS's prepayId.
func TestCreatedKnownToMOSBecomesPending(t *testing.T) {
	e := newEnv(t)
	o := e.createUnknown(t)
	// MOS got the prepay after all (the answer was lost on the way back).
	prepayID, err := mos.Provider{Client: e.mosClient()}.Prepay(t.Context(), order.PrepayRequest{
		OutTradeNo: o.OutTradeNo, NonceStr: o.NonceStr, Desc: o.Desc, Amount: o.Amount,
		NotifyURL: e.stack.App.NotifyURL(), OpenID: o.OpenID, ExpireAt: o.ExpireAt,
	})
	if err != nil {
		t.Fatal(err)
	}

	prepays := e.stack.Sandbox.Stats().Calls["prepay"]
	if due := e.order(t, o.OutTradeNo).NextCheckAt.Sub(o.CreatedAt); due <= 0 || due > time.Second {
		t.Fatalf("a prepay without an answer is checked %v after it, want within the first retry delay", due)
	}
	e.clock.Advance(time.Second)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusPending: 1})
	if n := e.stack.Sandbox.Stats().Calls["prepay"]; n != prepays {
		t.Fatalf("%d prepay calls after the check, want %d: the reconciler never sends a prepay", n, prepays)
	}
	s := e.story(t, o.OutTradeNo)
	if s.Order.Status != order.StatusPending || s.Order.PrepayID != prepayID {
		t.Fatalf("order %s with prepayId %q, want PENDING with MOS's %q", s.Order.Status, s.Order.PrepayID, prepayID)
	}
	if tr := lastTransition(t, s); tr.From != order.StatusCreated || tr.Source != order.SourceReconciler {
		t.Fatalf("last transition %+v, want CREATED -> PENDING by the reconciler", tr)
	}
}

// A CREATED order MOS has never heard of is left alone during the first minutes (its prepay may
// still arrive) and FAILED after UnknownAfter.
func TestCreatedUnknownToMOSFails(t *testing.T) {
	e := newEnv(t)
	o := e.createUnknown(t)

	e.clock.Advance(firstCheck)
	wantSummary(t, e.pass(t), 1, 0, nil)
	if got := e.order(t, o.OutTradeNo); got.Status != order.StatusCreated || got.CheckAttempts != 1 {
		t.Fatalf("young unknown order: %s with %d attempts, want CREATED with 1", got.Status, got.CheckAttempts)
	}

	e.clock.Advance(unknownAfter)
	wantSummary(t, e.pass(t), 1, 0, map[order.Status]int{order.StatusFailed: 1})
	s := e.story(t, o.OutTradeNo)
	tr := lastTransition(t, s)
	if s.Order.Status != order.StatusFailed || tr.Source != order.SourceReconciler || !strings.Contains(tr.Reason, "no record") {
		t.Fatalf("order %s, last transition %+v; want FAILED by the reconciler with a reason", s.Order.Status, tr)
	}
}

// A status MOS reports that mospay cannot map raises a flag and changes nothing.
func TestUnknownMOSStatusFlags(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)
	e.stack.SandboxPost(t, http.MethodPatch, "/sandbox/orders/"+o.OutTradeNo, map[string]string{"status": "WEIRD"})

	e.clock.Advance(firstCheck)
	wantSummary(t, e.pass(t), 1, 0, nil)
	s := e.story(t, o.OutTradeNo)
	if s.Order.Status != order.StatusPending || !s.Order.HasFlag(order.FlagUnknownStatus) {
		t.Fatalf("order %s flags %v, want PENDING with unknown_mos_status", s.Order.Status, s.Order.Flags)
	}
	if len(s.Transitions) != 2 {
		t.Fatalf("%d transitions, want only CREATED and PENDING", len(s.Transitions))
	}
	if s.Order.NextCheckAt == nil {
		t.Fatal("a flagged open order must still be checked")
	}
}

// badReconciler fails one order and panics on another; the rest go to the real service.
type badReconciler struct {
	scheduler.Reconciler
	fail, panic string
}

func (b badReconciler) Reconcile(ctx context.Context, o *order.Order) (*order.Order, error) {
	switch o.OutTradeNo {
	case b.fail:
		return nil, errors.New("database on fire")
	case b.panic:
		panic("bug in the reconciler")
	}
	return b.Reconciler.Reconcile(ctx, o)
}

// A failing or panicking order is counted and logged, and the pass goes on with the others; the
// bad orders' claims expire with their lease and they are checked again later.
func TestOneBadOrderDoesNotStopThePass(t *testing.T) {
	e := newEnv(t)
	var orders []*order.Order
	for range 5 {
		o := e.create(t)
		e.pay(t, o.OutTradeNo)
		orders = append(orders, o)
	}
	bad := e.newScheduler(t, badReconciler{Reconciler: e.svc, fail: orders[0].OutTradeNo, panic: orders[2].OutTradeNo},
		scheduler.Config{Batch: 2, Concurrency: 1, Lease: time.Minute})

	e.clock.Advance(firstCheck)
	sum, err := bad.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, 5, 2, map[order.Status]int{order.StatusPaid: 3})
	for i, o := range orders {
		want := order.StatusPaid
		if i == 0 || i == 2 {
			want = order.StatusPending
		}
		if got := e.order(t, o.OutTradeNo); got.Status != want {
			t.Errorf("order %d is %s, want %s", i, got.Status, want)
		}
	}

	wantSummary(t, e.pass(t), 0, 0, nil) // still leased
	e.clock.Advance(time.Minute + time.Second)
	wantSummary(t, e.pass(t), 2, 0, map[order.Status]int{order.StatusPaid: 2})
}

// claimCounter counts claims and lets a test fail them.
type claimCounter struct {
	scheduler.Claimer
	n   atomic.Int64
	err error
}

func (c *claimCounter) ClaimDue(ctx context.Context, now time.Time, limit int, owner string, until time.Time) ([]*order.Order, error) {
	c.n.Add(1)
	if c.err != nil {
		return nil, c.err
	}
	return c.Claimer.ClaimDue(ctx, now, limit, owner, until)
}

// A claim error ends the pass with that error.
func TestClaimErrorEndsThePass(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("database unreachable")
	s, err := scheduler.New(&claimCounter{Claimer: e.db, err: boom}, e.svc, scheduler.Config{Clock: e.clock, Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := s.Pass(t.Context()); !errors.Is(err, boom) || sum.Checked != 0 {
		t.Fatalf("pass: %s, %v; want the claim's error", sum, err)
	}
}

// Start runs passes on the cron schedule until Stop.
func TestStartStopRunsPasses(t *testing.T) {
	e := newEnv(t)
	o := e.create(t)
	e.pay(t, o.OutTradeNo)
	e.clock.Advance(firstCheck)
	claims := &claimCounter{Claimer: e.db}
	s, err := scheduler.New(claims, e.svc, scheduler.Config{Every: "@every 1s", Clock: e.clock, Logger: testLogger(t), Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	s.Start() // a second Start changes nothing
	apptest.Eventually(t, "a scheduled pass to pay the order", func() bool { return e.order(t, o.OutTradeNo).Status == order.StatusPaid })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if claims.n.Load() == 0 {
		t.Fatal("no claim made")
	}
}

// blockingReconciler holds every check until its context ends.
type blockingReconciler struct {
	entered   chan struct{}
	cancelled chan struct{}
}

func (b blockingReconciler) Reconcile(ctx context.Context, o *order.Order) (*order.Order, error) {
	b.entered <- struct{}{}
	<-ctx.Done()
	close(b.cancelled)
	return o, ctx.Err()
}

// A tick that comes while a pass is still running is skipped; Stop waits for the running pass
// only as long as its context allows, then cancels it.
func TestOverlappingPassesSkippedAndStopBounded(t *testing.T) {
	e := newEnv(t)
	e.create(t)
	e.clock.Advance(firstCheck)
	claims := &claimCounter{Claimer: e.db}
	block := blockingReconciler{entered: make(chan struct{}, 10), cancelled: make(chan struct{})}
	s, err := scheduler.New(claims, block, scheduler.Config{Every: "@every 1s", Clock: e.clock, Logger: testLogger(t), Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	select {
	case <-block.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("no scheduled pass")
	}
	time.Sleep(2500 * time.Millisecond) // two more ticks, both skipped
	if n := claims.n.Load(); n != 1 {
		t.Fatalf("%d claims while the first pass was still running, want 1", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop with a pass hanging: %v, want the deadline", err)
	}
	select {
	case <-block.cancelled:
	case <-time.After(15 * time.Second):
		t.Fatal("the running pass was not cancelled")
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		cfg  scheduler.Config
		want string // "" = valid
	}{
		{"defaults", scheduler.Config{}, ""},
		{"every descriptor", scheduler.Config{Every: "@every 30s"}, ""},
		{"cron spec", scheduler.Config{Every: "*/5 * * * *"}, ""},
		{"hourly", scheduler.Config{Every: "@hourly"}, ""},
		{"seconds field refused", scheduler.Config{Every: "*/5 * * * * *"}, "schedule"},
		{"nonsense", scheduler.Config{Every: "every now and then"}, "schedule"},
		{"bad duration", scheduler.Config{Every: "@every 30"}, "schedule"},
		{"negative batch", scheduler.Config{Batch: -1}, "batch"},
		{"negative concurrency", scheduler.Config{Concurrency: -2}, "concurrency"},
		{"negative rate", scheduler.Config{Rate: -1}, "rate"},
		{"NaN rate", scheduler.Config{Rate: math.NaN()}, "rate"},
		{"no rate limit", scheduler.Config{Rate: math.Inf(1), Lease: time.Second}, ""},
		{"negative lease", scheduler.Config{Lease: -time.Second}, "lease"},
		{"no owner", scheduler.Config{}, "owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no owner" {
				tt.cfg.Owner = "test"
			}
			s, err := scheduler.New(e.db, e.svc, tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			case tt.want == "" && (s.Config().Batch <= 0 || s.Config().Owner == "" || s.Config().Clock == nil):
				t.Fatalf("defaults not filled in: %+v", s.Config())
			}
		})
	}
}

func TestSummaryString(t *testing.T) {
	tests := []struct {
		name string
		sum  scheduler.Summary
		want string
	}{
		{"nothing", scheduler.Summary{}, "checked 0, changed: none, errors 0 in 0s"},
		{"lifecycle order", scheduler.Summary{Checked: 12, Errors: 0, Duration: 1234 * time.Millisecond,
			Changed: map[order.Status]int{order.StatusClosed: 1, order.StatusPaid: 3}},
			"checked 12, changed: PAID 3, CLOSED 1, errors 0 in 1.2s"},
		{"zero counts left out", scheduler.Summary{Checked: 2, Errors: 2, Duration: 1500 * time.Microsecond,
			Changed: map[order.Status]int{order.StatusPending: 0}},
			"checked 2, changed: none, errors 2 in 2ms"},
		{"every status", scheduler.Summary{Checked: 6, Duration: 61 * time.Second, Changed: map[order.Status]int{
			order.StatusRefunded: 1, order.StatusFailed: 1, order.StatusCreated: 1, order.StatusPending: 1, order.StatusPaid: 1, order.StatusClosed: 1}},
			"checked 6, changed: CREATED 1, PENDING 1, PAID 1, FAILED 1, CLOSED 1, REFUNDED 1, errors 0 in 1m1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sum.String(); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// countQueries counts the orderQuery calls of one source in the order's story.
func countQueries(s *order.Story, source order.Source) int {
	n := 0
	for _, q := range s.Queries {
		if q.Source == source {
			n++
		}
	}
	return n
}

// An order whose next check is due again at once (a timetable with no backoff) is checked once
// per pass, not in a loop: the pass ends, and the order's second claim ends with its lease.
func TestOrderDueAgainIsCheckedOncePerPass(t *testing.T) {
	eager := testSchedule()
	eager.Backoff, eager.Steady = []time.Duration{0}, 0
	e := newEnv(t, eager)
	s := e.newScheduler(t, e.svc, scheduler.Config{Batch: 1, Lease: time.Minute})
	o := e.create(t)

	e.clock.Advance(firstCheck)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sum, err := s.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, 1, 0, nil)
	if n := countQueries(e.story(t, o.OutTradeNo), order.SourceReconciler); n != 1 {
		t.Fatalf("%d reconciler queries in one pass, want 1", n)
	}
	wantSummary(t, e.pass(t), 0, 0, nil) // claimed by the first pass until its lease ends
	e.clock.Advance(time.Minute + time.Second)
	wantSummary(t, e.pass(t), 1, 0, nil)
}

// A CREATED order MOS never heard of is FAILED at the give-up moment itself: the timetable puts a
// check there, instead of backing off past it.
func TestNeverReachedMOSFailsOnTime(t *testing.T) {
	e := newEnv(t)
	o := e.createUnknown(t)
	giveUp := o.CreatedAt.Add(unknownAfter)
	for checks := 0; ; checks++ {
		got := e.order(t, o.OutTradeNo)
		if got.Status == order.StatusFailed {
			tr := lastTransition(t, e.story(t, o.OutTradeNo))
			if !tr.At.Equal(giveUp) {
				t.Fatalf("FAILED at %v, want at the give-up moment %v", tr.At, giveUp)
			}
			return
		}
		if got.NextCheckAt == nil || got.NextCheckAt.After(giveUp) || checks > 10 {
			t.Fatalf("check %d: next check %v, want one at or before the give-up moment %v", checks, got.NextCheckAt, giveUp)
		}
		e.clock.Advance(got.NextCheckAt.Sub(e.clock.Now()))
		e.pass(t)
	}
}

// When MOS fails for every order, the reconciler backs off together instead of every order
// retrying on its own: once DownAfter checks in a row got no answer, the orders a pass claimed and
// did not check yet are released unchecked, and passes make one probe per Probe. When MOS answers
// again, the pass drains everything due.
func TestMOSDownIsProbedNotStormed(t *testing.T) {
	e := newEnv(t)
	const n, conc = 20, 4
	s := e.newScheduler(t, e.svc, scheduler.Config{Concurrency: conc})
	var orders []*order.Order
	for range n {
		orders = append(orders, e.create(t))
	}
	e.setFaults(t, sandbox.Faults{ErrorRate: map[string]float64{"orderQuery": 1}})
	queries := func() int { return e.stack.Sandbox.Stats().Calls["orderQuery"] }
	pass := func() scheduler.Summary {
		t.Helper()
		sum, err := s.Pass(t.Context())
		if err != nil {
			t.Fatalf("pass: %v (%s)", err, sum)
		}
		return sum
	}
	before := queries()

	e.clock.Advance(firstCheck)
	sum := pass()
	asked := queries() - before
	down := s.Config().DownAfter
	if asked > down+conc || sum.Deferred != n-sum.Checked || sum.Unanswered != sum.Checked || !s.MOSDown() {
		t.Fatalf("first pass: %q, %d orderQuery calls, MOS down %v; want at most %d calls, the rest deferred, MOS down",
			sum, asked, s.MOSDown(), down+conc)
	}
	// The deferred claims are free at once: another instance could take them now.
	if got, err := e.db.ClaimDue(t.Context(), e.clock.Now(), n, "other", e.clock.Now().Add(time.Second)); err != nil || len(got) != sum.Deferred {
		t.Fatalf("another owner claims %d orders (%v), want the %d deferred ones", len(got), err, sum.Deferred)
	}
	e.clock.Advance(2 * time.Second) // past the other owner's lease

	for i := range 3 {
		before = queries()
		if sum := pass(); sum.Checked != 0 || queries() != before {
			t.Fatalf("pass %d before the next probe: %q with %d calls, want none", i, sum, queries()-before)
		}
		e.clock.Advance(s.Config().Probe - 2*time.Second)
		sum := pass()
		if sum.Checked != 1 || queries()-before != 1 || !s.MOSDown() {
			t.Fatalf("probe %d: %q with %d calls, want one check, MOS still down", i, sum, queries()-before)
		}
		e.clock.Advance(2 * time.Second)
	}

	e.setFaults(t, sandbox.Faults{})
	e.clock.Advance(s.Config().Probe)
	before = queries()
	sum = pass()
	if sum.Checked != n || sum.Errors != 0 || queries()-before != n || s.MOSDown() {
		t.Fatalf("after MOS answers: %q with %d calls, want all %d checked once, MOS up", sum, queries()-before, n)
	}
	for _, o := range orders {
		if got := e.order(t, o.OutTradeNo); got.CheckAttempts != 1 || got.CheckFailures != 0 || got.LeaseOwner != "" {
			t.Fatalf("order %s: %d answered and %d failed checks, lease %q; want 1, 0 and none", o.OutTradeNo,
				got.CheckAttempts, got.CheckFailures, got.LeaseOwner)
		}
	}
}
