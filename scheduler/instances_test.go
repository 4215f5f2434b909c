package scheduler_test

import (
	"context"
	"fmt"
	"math"
	"sync"
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
		o, _, err := inst[i%2].svc.Create(ctx, order.CreateRequest{OpenID: fmt.Sprintf("o-user-%d", i%7),
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
