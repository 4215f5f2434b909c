package scheduler_test

import (
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/scheduler"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/store/pgtest"
)

// TestMain starts one throw-away PostgreSQL server for the package (pgtest) for the
// several-instances test; the other tests use SQLite files.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testSchedule is the default timetable without jitter, so that the tests know when a check is
// due.
func testSchedule() order.Schedule {
	s := order.DefaultSchedule()
	s.Jitter = 0
	return s
}

// Timings of the SQLite end-to-end tests (testSchedule's first check is 15 s after creation).
const (
	orderTTL     = 30 * time.Minute
	unknownAfter = 2 * time.Minute
	firstCheck   = 16 * time.Second // just past the first check
)

// env is one mospay, as serve assembles it (app/apptest), on a SQLite file and a test clock,
// whose MOS sandbox loses every notification: only the reconciler can tell mospay what happened.
type env struct {
	clock *apptest.Clock
	stack *apptest.Stack
	db    *store.DB
	svc   *order.Service
	sched *scheduler.Scheduler // the app's own reconciler
}

// newEnv starts the env; schedule, if given, replaces testSchedule.
func newEnv(t *testing.T, schedule ...order.Schedule) *env {
	t.Helper()
	e := &env{clock: apptest.ClockAt(time.Now().Truncate(time.Second))}
	sched := testSchedule()
	if len(schedule) > 0 {
		sched = schedule[0]
	}
	e.stack = apptest.Start(t, apptest.Options{Clock: e.clock, Schedule: &sched, Config: func(c *app.Config) {
		c.OrderTTL, c.PrepayGiveUp = orderTTL, unknownAfter
	}})
	e.setFaults(t, sandbox.Faults{})
	e.db, e.svc, e.sched = e.stack.DB, e.stack.App.Service(), e.stack.App.Reconciler()
	// The tests run the passes by hand, on the test clock: no tick or extra pass of the app's own
	// schedule may run between their steps.
	if err := e.sched.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// setFaults replaces the sandbox's injected faults; notifications stay lost whatever f says.
func (e *env) setFaults(t *testing.T, f sandbox.Faults) {
	t.Helper()
	f.DropNotifications = 1
	if err := e.stack.Sandbox.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

// pay plays the user paying at MOS; its notification is lost.
func (e *env) pay(t *testing.T, outTradeNo string) {
	t.Helper()
	e.stack.Pay(t, outTradeNo)
}

// mosClient is a MOS client of the env's mini-app, for a test that plays a call mospay made.
func (e *env) mosClient() *mos.Client {
	return mos.NewClient(mos.Config{BaseURL: e.stack.SandboxURL, AppKey: e.stack.AppKey, AppSecret: e.stack.Secret,
		MchID: e.stack.MchID, Timeout: 5 * time.Second})
}

// newScheduler makes a scheduler over the env's database and r; cfg's clock, owner and logger
// default to the env's.
func (e *env) newScheduler(t *testing.T, r scheduler.Reconciler, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = e.clock
	}
	if cfg.Owner == "" {
		cfg.Owner = "test"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.Rate == 0 {
		cfg.Rate = 1000
	}
	s, err := scheduler.New(e.db, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// payer is a create request of the env's one user, who logs in (again) first.
func (e *env) payer(t *testing.T, amount, currency, desc string) order.CreateRequest {
	t.Helper()
	u, err := e.svc.Login(t.Context(), "o-payer", "en-US")
	if err != nil {
		t.Fatal(err)
	}
	return order.CreateRequest{UserID: u.ID, OpenID: u.OpenID, TotalAmount: amount, Currency: currency, Desc: desc}
}

// create makes an order through the service; MOS accepts its prepay.
func (e *env) create(t *testing.T) *order.Order {
	t.Helper()
	o, created, err := e.svc.Create(t.Context(), e.payer(t, "1.50", "USD", "coffee"))
	if err != nil || !created {
		t.Fatalf("create: created %v, %v", created, err)
	}
	if o.Status != order.StatusPending || o.PrepayID == "" {
		t.Fatalf("created order is %s with prepayId %q, want PENDING with one", o.Status, o.PrepayID)
	}
	return o
}

// pass runs one pass, which must not fail as a whole.
func (e *env) pass(t *testing.T) scheduler.Summary {
	t.Helper()
	sum, err := e.sched.Pass(t.Context())
	if err != nil {
		t.Fatalf("pass: %v (%s)", err, sum)
	}
	return sum
}

// order reads the order as stored now.
func (e *env) order(t *testing.T, outTradeNo string) *order.Order {
	t.Helper()
	o, err := e.svc.Order(t.Context(), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// story reads everything that explains the order.
func (e *env) story(t *testing.T, outTradeNo string) *order.Story {
	t.Helper()
	s, err := e.svc.Story(t.Context(), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lastTransition is the order's latest status change.
func lastTransition(t *testing.T, s *order.Story) order.Transition {
	t.Helper()
	if len(s.Transitions) == 0 {
		t.Fatal("order has no transitions")
	}
	last := s.Transitions[0]
	for _, tr := range s.Transitions {
		if tr.Version > last.Version {
			last = tr
		}
	}
	return last
}

// wantSummary compares a pass's counts (not its duration).
func wantSummary(t *testing.T, got scheduler.Summary, checked, errs int, changed map[order.Status]int) {
	t.Helper()
	bad := got.Checked != checked || got.Errors != errs || len(got.Changed) != len(changed)
	for st, n := range changed {
		if got.Changed[st] != n {
			bad = true
		}
	}
	if bad {
		t.Fatalf("summary %q, want checked %d, errors %d, changed %v", got, checked, errs, changed)
	}
}

// testLogger sends slog lines to the test's log, so that a failure shows what the pass said.
// Lines written once the test has ended (a goroutine winding down) are dropped.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
