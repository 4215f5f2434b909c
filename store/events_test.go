package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

const (
	epA = "https://a.example/hook"
	epB = "https://b.example/hook"
)

// outboxEvent is an event of o for the endpoints, made at at.
func outboxEvent(o *order.Order, t order.EventType, at time.Time, endpoints ...string) order.OutboxEvent {
	return order.OutboxEvent{ID: order.NewEventID(), Type: t, OrderID: o.ID, OutTradeNo: o.OutTradeNo, OrderVersion: o.Version + 1,
		Payload: []byte(`{"type":"` + string(t) + `"}`), At: at, Endpoints: endpoints}
}

// pay saves o's move to PAID with events, and returns the saved order.
func pay(t *testing.T, db *DB, o *order.Order, at time.Time, events ...order.OutboxEvent) (*order.Order, error) {
	t.Helper()
	return db.Save(context.Background(), order.Write{Order: o,
		Change:      order.Change{From: o.Status, To: order.StatusPaid, Reason: "MOS reports SUCCESS"},
		Observation: order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify}, Events: events, At: at})
}

func eventIDs(t *testing.T, db *DB, outTradeNo string) []string {
	t.Helper()
	p, err := db.Events(context.Background(), order.EventFilter{OutTradeNo: outTradeNo})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range p.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestOutboxCommitsWithTheChange: an event is stored if and only if the change that causes it is,
// in both directions: a stale write stores no event, and an event that cannot be stored undoes
// the change.
func TestOutboxCommitsWithTheChange(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		at := t0.Add(time.Minute)

		// A write that loses the version race stores no event.
		o := create(t, db, newOrder(1, "u1"))
		if _, err := pay(t, db, o, at); err != nil {
			t.Fatal(err)
		}
		if _, err := pay(t, db, o, at, outboxEvent(o, order.EventOrderPaid, at, epA)); order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("stale write: %v, want a conflict", err)
		}
		if ids := eventIDs(t, db, o.OutTradeNo); len(ids) != 0 {
			t.Fatalf("a stale write stored events %v", ids)
		}

		// An event that cannot be stored (its id is taken) undoes the change.
		o2 := create(t, db, newOrder(2, "u1"))
		o3 := create(t, db, newOrder(3, "u1"))
		taken := outboxEvent(o3, order.EventOrderPaid, at, epA)
		if _, err := pay(t, db, o3, at, taken); err != nil {
			t.Fatal(err)
		}
		dup := outboxEvent(o2, order.EventOrderPaid, at, epA)
		dup.ID = taken.ID
		if _, err := pay(t, db, o2, at, dup); err == nil {
			t.Fatal("a write whose event could not be stored succeeded")
		}
		st, err := db.Story(ctx, o2.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if st.Order.Status != order.StatusCreated || st.Order.Version != 1 || len(st.Transitions) != 1 || len(st.Events) != 0 {
			t.Fatalf("the change stayed without its event: %s v%d, %d transitions, %d events",
				st.Order.Status, st.Order.Version, len(st.Transitions), len(st.Events))
		}

		// A write that commits stores its event, with a pending delivery per endpoint due at once.
		st, err = db.Story(ctx, o3.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Events) != 1 || st.Events[0].ID != taken.ID || string(st.Events[0].Payload) != string(taken.Payload) {
			t.Fatalf("story events: %+v", st.Events)
		}
		ds := st.Events[0].Deliveries
		if len(ds) != 1 || ds[0].Endpoint != epA || ds[0].Status != order.DeliveryPending || ds[0].NextAttemptAt == nil ||
			!ds[0].NextAttemptAt.Equal(at) {
			t.Fatalf("deliveries: %+v", ds)
		}
	})
}

// TestClaimDeliveriesKeepsEachOrdersEventsInOrder: a delivery waits while an earlier event of the
// same order is pending for the same endpoint, even one waiting for its retry; other orders' and
// other endpoints' deliveries do not wait.
func TestClaimDeliveriesKeepsEachOrdersEventsInOrder(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Second)
		a := create(t, db, newOrder(1, "u1"))
		b := create(t, db, newOrder(2, "u1"))
		a1 := outboxEvent(a, order.EventOrderPaid, now, epA, epB)
		a2 := outboxEvent(a, order.EventOrderFlagged, now, epA, epB)
		b1 := outboxEvent(b, order.EventOrderPaid, now, epA)
		if _, err := pay(t, db, a, now, a1, a2); err != nil {
			t.Fatal(err)
		}
		if _, err := pay(t, db, b, now, b1); err != nil {
			t.Fatal(err)
		}
		claim := func(ep, owner string) []order.Delivery {
			t.Helper()
			n := time.Now()
			ds, err := db.ClaimDeliveries(ctx, ep, n, 10, owner, n.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}
		events := func(ds []order.Delivery) []string {
			var ids []string
			for _, d := range ds {
				ids = append(ids, d.EventID)
			}
			slices.Sort(ids)
			return ids
		}
		want := []string{a1.ID, b1.ID}
		slices.Sort(want)
		gotA := claim(epA, "w1")
		if got := events(gotA); !slices.Equal(got, want) {
			t.Fatalf("first claim on A: %v, want %v (a2 waits for a1)", got, want)
		}
		if got := claim(epB, "w1"); !slices.Equal(events(got), []string{a1.ID}) || string(got[0].Payload) != string(a1.Payload) {
			t.Fatalf("first claim on B: %+v", got)
		}
		if got := claim(epA, "w2"); len(got) != 0 {
			t.Fatalf("leased deliveries claimed again: %v", events(got))
		}
		// a1 fails its first attempt and waits for a retry: a2 still waits.
		var da1 order.Delivery
		for _, d := range gotA {
			if d.EventID == a1.ID {
				da1 = d
			}
		}
		later := time.Now().Add(time.Hour)
		if err := db.RecordAttempts(ctx, []order.DeliveryResult{{Delivery: da1, Owner: "w1", Status: order.DeliveryPending, Next: &later,
			Attempt: order.Attempt{At: time.Now(), StatusCode: 503, Error: "answered 503"}}}); err != nil {
			t.Fatal(err)
		}
		if got := claim(epA, "w2"); len(got) != 0 {
			t.Fatalf("claimed while an earlier event of the order waits for a retry: %v", events(got))
		}
		// Once a1 is delivered, a2 is due.
		da1.Attempts = 1
		if _, err := db.Redeliver(ctx, order.RedeliverRequest{EventID: a1.ID, Endpoints: []string{epA}, At: time.Now().Add(-time.Second),
			Audit: order.AdminAction{Actor: "finance", Action: order.ActionRedeliver, RequestID: "r1", At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		got := claim(epA, "w2")
		if !slices.Equal(events(got), []string{a1.ID}) || got[0].Attempts != 0 {
			t.Fatalf("after the replay: %+v", got)
		}
		if err := db.RecordAttempts(ctx, []order.DeliveryResult{{Delivery: got[0], Owner: "w2", Status: order.DeliveryDelivered,
			Attempt: order.Attempt{At: time.Now(), StatusCode: 200}}}); err != nil {
			t.Fatal(err)
		}
		if got := claim(epA, "w2"); !slices.Equal(events(got), []string{a2.ID}) {
			t.Fatalf("after a1 delivered: %v, want [a2]", events(got))
		}
		ev, err := db.Event(ctx, a1.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ev.Deliveries {
			if d.Endpoint == epA && (d.Status != order.DeliveryDelivered || len(d.Log) != 2 || d.Log[0].StatusCode != 503) {
				t.Fatalf("a1 to A: %+v", d)
			}
		}
		audit, err := db.AdminActions(ctx, order.AuditFilter{})
		if err != nil || len(audit.Actions) != 1 || audit.Actions[0].Action != order.ActionRedeliver {
			t.Fatalf("the replay is not in the audit: %+v %v", audit.Actions, err)
		}
	})
}

// TestClaimDeliveriesNeverTwice: claimers racing on one endpoint never hold one delivery at once.
func TestClaimDeliveriesNeverTwice(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Second)
		const orders = 60
		for i := range orders {
			o := create(t, db, newOrder(i+1, "u1"))
			if _, err := pay(t, db, o, now, outboxEvent(o, order.EventOrderPaid, now, epA)); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		held := map[int64]string{}
		var wg sync.WaitGroup
		for w := range 6 {
			owner := string(rune('a' + w))
			wg.Go(func() {
				for range 10 {
					n := time.Now()
					ds, err := db.ClaimDeliveries(ctx, epA, n, 3, owner, n.Add(time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, d := range ds {
						if other, ok := held[d.ID]; ok {
							t.Errorf("delivery %d claimed by %s and %s", d.ID, other, owner)
						}
						held[d.ID] = owner
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(held) != orders {
			t.Errorf("%d deliveries claimed, want all %d", len(held), orders)
		}
	})
}

// TestClaimsRacingRecordsNeverTwice: workers claim deliveries and record them delivered while
// others claim: no delivery is claimed again once it is delivered, so each is attempted exactly
// once. On SQLite, where the leases are in memory, this is the race between a claim's read and a
// lease ending after its delivery's new state commits.
func TestClaimsRacingRecordsNeverTwice(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Second)
		const orders = 120
		for i := range orders {
			o := create(t, db, newOrder(i+1, "u1"))
			if _, err := pay(t, db, o, now, outboxEvent(o, order.EventOrderPaid, now, epA)); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu      sync.Mutex
			claimed = map[int64]int{}
			wg      sync.WaitGroup
		)
		for w := range 4 {
			owner := string(rune('a' + w))
			wg.Go(func() {
				for range 60 {
					n := time.Now()
					ds, err := db.ClaimDeliveries(ctx, epA, n, 4, owner, n.Add(time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					var rs []order.DeliveryResult
					mu.Lock()
					for _, d := range ds {
						claimed[d.ID]++
						rs = append(rs, order.DeliveryResult{Delivery: d, Owner: owner, Status: order.DeliveryDelivered,
							Attempt: order.Attempt{At: time.Now(), StatusCode: 204}})
					}
					mu.Unlock()
					if err := db.RecordAttempts(ctx, rs); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if len(claimed) != orders {
			t.Errorf("%d deliveries claimed, want all %d", len(claimed), orders)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("delivery %d claimed %d times", id, n)
			}
		}
		eps, err := db.Endpoints(ctx, []string{epA})
		if err != nil || len(eps) != 1 || eps[0].Counts[order.DeliveryDelivered] != orders || eps[0].Counts[order.DeliveryPending] != 0 {
			t.Fatalf("endpoint after the race: %+v %v", eps, err)
		}
	})
}

// TestAbandonRemovedEndpointsAndPrune: deliveries to a removed endpoint stop; the attempts of
// delivered events are pruned after the retention, the events are kept.
func TestAbandonRemovedEndpointsAndPrune(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Second)
		o := create(t, db, newOrder(1, "u1"))
		e := outboxEvent(o, order.EventOrderPaid, now, epA, epB)
		if _, err := pay(t, db, o, now, e); err != nil {
			t.Fatal(err)
		}
		ds, err := db.ClaimDeliveries(ctx, epA, time.Now(), 5, "w", time.Now().Add(time.Minute))
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: %v %v", ds, err)
		}
		old := time.Now().Add(-48 * time.Hour)
		if err := db.RecordAttempts(ctx, []order.DeliveryResult{{Delivery: ds[0], Owner: "w", Status: order.DeliveryDelivered,
			Attempt: order.Attempt{At: old, StatusCode: 204}}}); err != nil {
			t.Fatal(err)
		}
		n, err := db.AbandonRemovedEndpoints(ctx, []string{epA}, time.Now())
		if err != nil || n != 1 {
			t.Fatalf("abandoned %d, %v; want B's one", n, err)
		}
		eps, err := db.Endpoints(ctx, []string{epA})
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) != 2 || eps[0].URL != epA || !eps[0].Configured || eps[0].Counts[order.DeliveryDelivered] != 1 ||
			eps[0].LastAttempt == nil || eps[0].LastAttempt.StatusCode != 204 ||
			eps[1].URL != epB || eps[1].Configured || eps[1].Counts[order.DeliveryAbandoned] != 1 {
			t.Fatalf("endpoints: %+v", eps)
		}
		if pending, _, err := db.QueueStats(ctx); err != nil || pending != 0 {
			t.Fatalf("pending %d, %v", pending, err)
		}
		pruned, err := db.PruneAttempts(ctx, time.Now().Add(-24*time.Hour))
		if err != nil || pruned != 1 {
			t.Fatalf("pruned %d, %v", pruned, err)
		}
		ev, err := db.Event(ctx, e.ID)
		if err != nil || len(ev.Deliveries) != 2 || len(ev.Deliveries[0].Log) != 0 {
			t.Fatalf("after pruning: %+v %v", ev, err)
		}
		if _, err := db.Event(ctx, "evt_nope"); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("unknown event: %v", err)
		}
	})
}

// TestEventsPageAndFilter: newest first, by keyset; filters by order, type and delivery status.
func TestEventsPageAndFilter(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC()
		var all []string
		for i := range 5 {
			o := create(t, db, newOrder(i+1, "u1"))
			e := outboxEvent(o, order.EventOrderPaid, now, epA)
			if _, err := pay(t, db, o, now, e); err != nil {
				t.Fatal(err)
			}
			all = append(all, e.ID)
		}
		slices.Reverse(all)
		var got []string
		f := order.EventFilter{Limit: 2}
		for {
			p, err := db.Events(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				got = append(got, e.ID)
				if len(e.Deliveries) != 1 {
					t.Fatalf("event %s has %d deliveries", e.ID, len(e.Deliveries))
				}
			}
			if p.NextCursor == "" {
				break
			}
			f.Cursor = p.NextCursor
		}
		if !slices.Equal(got, all) {
			t.Fatalf("pages: %v, want %v", got, all)
		}
		for _, tt := range []struct {
			f    order.EventFilter
			want int
		}{
			{order.EventFilter{Type: order.EventOrderPaid}, 5},
			{order.EventFilter{Type: order.EventOrderRefunded}, 0},
			{order.EventFilter{Status: order.DeliveryPending}, 5},
			{order.EventFilter{Status: order.DeliveryFailed}, 0},
			{order.EventFilter{OutTradeNo: newOrder(3, "").OutTradeNo}, 1},
		} {
			p, err := db.Events(ctx, tt.f)
			if err != nil || len(p.Events) != tt.want {
				t.Errorf("%+v: %d events, %v; want %d", tt.f, len(p.Events), err, tt.want)
			}
		}
		if _, err := db.Events(ctx, order.EventFilter{Cursor: "bogus"}); order.ErrorCode(err) != order.EINVALID {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

// TestBatchShapes: a batch of any size is cut into statements of a few shapes, each row and each
// id exactly once (an IN list's padding repeats its last id).
func TestBatchShapes(t *testing.T) {
	for _, n := range []int{1, 2, 3, 63, 64, 65, 200, 256, 257, 1000} {
		args := make([]any, 0, 2*n)
		ids := make([]int64, n)
		for i := range n {
			args = append(args, i, "x")
			ids[i] = int64(i)
		}
		var rows []any
		for _, c := range chunkRows(args, 2) {
			if k := len(c) / 2; k > mostRows || k&(k-1) != 0 {
				t.Errorf("n=%d: a chunk of %d rows", n, k)
			}
			rows = append(rows, c...)
		}
		if !slices.Equal(rows, args) {
			t.Errorf("n=%d: the chunks hold %d values, want the %d given in order", n, len(rows), len(args))
		}
		seen := map[int64]bool{}
		for _, in := range idLists(ids) {
			if k := len(in); k > 256 || k&(k-1) != 0 {
				t.Errorf("n=%d: an IN list of %d", n, k)
			}
			for _, v := range in {
				seen[v.(int64)] = true
			}
		}
		if len(seen) != n {
			t.Errorf("n=%d: the IN lists name %d ids", n, len(seen))
		}
	}
}
