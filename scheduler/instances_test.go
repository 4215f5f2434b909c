package scheduler_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/scheduler"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/store/pgtest"
)

// instance is one mospay process on the shared PostgreSQL database, as serve assembles it: its
// own pool and service, and a scheduler of its own name.
type instance struct {
	db    *store.DB
	svc   *order.Service
	sched *scheduler.Scheduler
}

// Two instances on one PostgreSQL database, both reconciling at once while MOS's duplicate
// notifications for the same orders arrive at both: no order is checked twice in a pass, no
// transition is written twice, and every order ends PAID.
func TestTwoInstancesOnPostgres(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	// Every order is due as soon as it is created; once checked, not again for an hour.
	sched := order.Schedule{First: time.Millisecond, Backoff: []time.Duration{time.Hour}, Steady: time.Hour, Grace: []time.Duration{time.Hour}}
	hour := func(c *app.Config) { c.OrderTTL = time.Hour }
	first := apptest.Start(t, apptest.Options{DBURL: dsn, Schedule: &sched, Config: hour})
	second := apptest.Start(t, apptest.Options{DBURL: dsn, Schedule: &sched, Config: hour, MOS: first}) // migrates nothing
	// MOS's own notifications are lost: the ones below are the only ones.
	if err := first.Sandbox.SetFaults(sandbox.Faults{DropNotifications: 1}); err != nil {
		t.Fatal(err)
	}
	// The stacks' own start-up passes end before any order exists: every check below is one of
	// the two passes this test runs and counts.
	<-first.App.StartupPassDone()
	<-second.App.StartupPassDone()

	var inst [2]instance
	for i, st := range []*apptest.Stack{first, second} {
		name := fmt.Sprintf("instance-%d", i)
		s, err := scheduler.New(st.DB, st.App.Service(), scheduler.Config{Batch: 4, Concurrency: 4, Rate: math.Inf(1), Owner: name, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		inst[i] = instance{db: st.DB, svc: st.App.Service(), sched: s}
	}

	const n = 40
	orders := make([]*order.Order, n)
	for i := range orders {
		u, err := inst[i%2].svc.Login(ctx, fmt.Sprintf("o-user-%d", i%7), "en-US")
		if err != nil {
			t.Fatal(err)
		}
		o, _, err := inst[i%2].svc.Create(ctx, order.CreateRequest{UserID: u.ID, OpenID: u.OpenID,
			TotalAmount: "2.25", Currency: "USD", Desc: "two instances"})
		if err != nil || o.Status != order.StatusPending {
			t.Fatalf("create %d: %v %v", i, o, err)
		}
		orders[i] = o
	}
	for _, o := range orders {
		first.Pay(t, o.OutTradeNo)
	}
	time.Sleep(10 * time.Millisecond) // past every order's first check on the database's clock

	var wg sync.WaitGroup
	start := make(chan struct{})
	sums := make([]scheduler.Summary, len(inst))
	passErrs := make([]error, len(inst))
	for i := range inst {
		wg.Go(func() {
			<-start
			sums[i], passErrs[i] = inst[i].sched.Pass(ctx)
		})
	}
	// MOS's duplicate notifications, to both instances, newest orders first so that they meet the
	// reconcilers half way.
	notifyErrs := make(chan error, 4*n)
	for g := range 4 {
		wg.Go(func() {
			<-start
			for k := n - 1; k >= 0; k-- {
				no := orders[k].OutTradeNo
				_, err := inst[(g+k)%2].svc.Notify(ctx, order.Notification{
					OutTradeNo: no, Status: "SUCCESS",
					RawBody:     `{"outTradeNo":"` + no + `","status":"SUCCESS"}`,
					ContentType: "application/json", RequestID: fmt.Sprintf("notify-%d-%d", g, k),
				})
				if err != nil {
					notifyErrs <- fmt.Errorf("notify %s via instance %d: %w", no, (g+k)%2, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(notifyErrs)
	for err := range notifyErrs {
		t.Error(err)
	}
	checked := 0
	for i := range inst {
		if passErrs[i] != nil {
			t.Fatalf("pass on instance %d: %v", i, passErrs[i])
		}
		t.Logf("instance %d: %s", i, sums[i])
		checked += sums[i].Checked
	}
	if checked == 0 || checked > n {
		t.Fatalf("%d checks in all, want between 1 and %d", checked, n)
	}

	sqlDB := inst[0].db.SQL()
	rows := func(query string) []string {
		t.Helper()
		r, err := sqlDB.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var id int64
			var what string
			var count int
			if err := r.Scan(&id, &what, &count); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("order %d %s: %d", id, what, count))
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if dup := rows(`SELECT order_id, to_status, count(*) FROM transitions GROUP BY order_id, to_status HAVING count(*) > 1`); len(dup) > 0 {
		t.Errorf("transitions to the same status twice: %v", dup)
	}
	if dup := rows(`SELECT order_id, version::text, count(*) FROM transitions GROUP BY order_id, version HAVING count(*) > 1`); len(dup) > 0 {
		t.Errorf("duplicate (order_id, version) transitions: %v", dup)
	}
	if dup := rows(`SELECT order_id, source, count(*) FROM mos_queries WHERE source = 'reconciler' GROUP BY order_id, source HAVING count(*) > 1`); len(dup) > 0 {
		t.Errorf("orders checked more than once by the reconcilers in one pass: %v", dup)
	}
	var reconciled int
	if err := sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM mos_queries WHERE source = 'reconciler'`).Scan(&reconciled); err != nil {
		t.Fatal(err)
	}
	if reconciled != checked {
		t.Errorf("%d reconciler queries recorded, the summaries say %d checks", reconciled, checked)
	}

	for i, o := range orders {
		s, err := inst[i%2].svc.Story(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if s.Order.Status != order.StatusPaid || s.Order.NextCheckAt != nil || s.Order.LeaseOwner != "" {
			t.Errorf("order %d: %s, next check %v, lease %q; want PAID, none, released", i, s.Order.Status, s.Order.NextCheckAt, s.Order.LeaseOwner)
		}
		if len(s.Transitions) != 3 {
			t.Errorf("order %d has %d transitions, want CREATED, PENDING, PAID: %+v", i, len(s.Transitions), s.Transitions)
		}
	}

	// Nothing is left to check.
	for i := range inst {
		if sum, err := inst[i].sched.Pass(ctx); err != nil || sum.Checked != 0 {
			t.Errorf("second pass on instance %d: %s, %v; want nothing checked", i, sum, err)
		}
	}
}

// slowReconciler takes its time before each check, as a slow orderQuery does.
type slowReconciler struct {
	scheduler.Reconciler
	delay   time.Duration
	checked atomic.Int64
}

func (s *slowReconciler) Reconcile(ctx context.Context, o *order.Order) (*order.Order, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.checked.Add(1)
	return s.Reconciler.Reconcile(ctx, o)
}

// A check slower than the lease keeps its claim: the working instance renews its leases while it
// works, so the other instance, claiming all along, never gets those orders.
func TestSlowCheckKeepsItsLease(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	sched := order.Schedule{First: time.Millisecond, Backoff: []time.Duration{time.Hour}, Steady: time.Hour, Grace: []time.Duration{time.Hour}}
	first := apptest.Start(t, apptest.Options{DBURL: dsn, Schedule: &sched})
	second := apptest.Start(t, apptest.Options{DBURL: dsn, Schedule: &sched, MOS: first})
	token := first.Login(t, "slow-user")
	var orders []string
	for range 3 {
		orders = append(orders, first.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "slow"}, "").OutTradeNo)
	}
	time.Sleep(10 * time.Millisecond) // past the first check on the database's clock

	const lease = 600 * time.Millisecond
	slow := &slowReconciler{Reconciler: first.App.Service(), delay: 4 * lease}
	a, err := scheduler.New(first.DB, slow, scheduler.Config{Batch: 10, Concurrency: 3, Rate: math.Inf(1), Owner: "slow", Lease: lease, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Pass(ctx)
		done <- err
	}()
	stolen := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if stolen > 0 {
				t.Fatalf("the other instance claimed %d orders still being checked", stolen)
			}
			if n := slow.checked.Load(); n != int64(len(orders)) {
				t.Fatalf("%d checks, want %d", n, len(orders))
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		now := time.Now()
		got, err := second.DB.ClaimDue(ctx, now, 10, "thief", now.Add(lease))
		if err != nil {
			t.Fatal(err)
		}
		stolen += len(got)
	}
}

// A crashed instance's claims come back within a lease: the instance claims a batch, dies
// without releasing it (no heartbeat, no writes), and the other instance checks every order once
// the leases run out, which is at most scheduler.DefaultLease after the last renewal. It does so
// in an extra pass at the leases' end, not at its next tick (10 s apart here, so the extra pass
// comes first).
func TestDeadInstanceClaimsComeBack(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	sched := order.Schedule{First: time.Millisecond, Backoff: []time.Duration{time.Hour}, Steady: time.Hour, Grace: []time.Duration{time.Hour}}
	first := apptest.Start(t, apptest.Options{DBURL: dsn, Schedule: &sched})
	second := apptest.Start(t, apptest.Options{DBURL: dsn, Schedule: &sched, MOS: first, Config: func(c *app.Config) {
		c.ReconcileEvery = "@every 10s"
	}})
	if err := first.Sandbox.SetFaults(sandbox.Faults{DropNotifications: 1}); err != nil {
		t.Fatal(err)
	}
	token := first.Login(t, "dead-user")
	var orders []string
	for range 4 {
		o := first.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "dead"}, "")
		first.Pay(t, o.OutTradeNo) // its notification is lost: only a check can find the payment
		orders = append(orders, o.OutTradeNo)
	}
	// The instance that dies: it claims every order with the default lease and hangs.
	hung := make(chan struct{})
	dying, die := context.WithCancel(ctx)
	a, err := scheduler.New(first.DB, hangingReconciler{hung: hung}, scheduler.Config{Batch: 10, Concurrency: 4, Rate: math.Inf(1), Owner: "dying", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = a.Pass(dying) }()
	for range orders {
		<-hung
	}
	die()
	died := time.Now()
	var leaseEnd time.Time
	if err := first.DB.SQL().QueryRow(`SELECT max(lease_until) FROM orders WHERE lease_owner = 'dying'`).Scan(&leaseEnd); err != nil {
		t.Fatal(err)
	}
	if held := leaseEnd.Sub(died); held > scheduler.DefaultLease {
		t.Fatalf("the dead instance's claims hold %s more, want at most a lease (%s)", held, scheduler.DefaultLease)
	}
	for _, no := range orders {
		var o *order.Order
		if !apptest.Within(apptest.WaitFor+scheduler.DefaultLease, func() bool {
			var err error
			if o, err = second.App.Service().Order(ctx, no); err != nil {
				t.Fatal(err)
			}
			return o.Status == order.StatusPaid
		}) {
			t.Fatalf("order %s is still %s: the dead instance's claim never came back", no, o.Status)
		}
	}
	t.Logf("the other instance checked every order %s after the first one died (lease %s)", time.Since(died).Round(100*time.Millisecond), scheduler.DefaultLease)
	if !strings.Contains(second.Logs.String(), "extra reconcile pass") {
		t.Error("no extra pass at the end of the dead instance's leases")
	}
	if took := time.Since(died); took > 30*time.Second {
		t.Fatalf("the claims came back after %s, want within 30 s", took)
	}
}

// hangingReconciler says it has an order, then hangs until its pass is cancelled, as a process
// frozen mid-check.
type hangingReconciler struct{ hung chan struct{} }

func (h hangingReconciler) Reconcile(ctx context.Context, o *order.Order) (*order.Order, error) {
	h.hung <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}
