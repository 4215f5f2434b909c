package store

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newOrder(n int, openid string) *order.Order {
	return &order.Order{
		OutTradeNo: fmt.Sprintf("o%031d", n), NonceStr: "nonce", AppKey: "k1", OpenID: openid,
		Amount: money.Amount{Minor: 1699, Currency: money.USD}, Desc: "coffee", Status: order.StatusCreated,
		Version: 1, ExpireAt: t0.Add(30 * time.Minute), CreatedAt: t0.Add(time.Duration(n) * time.Second),
		UpdatedAt: t0,
	}
}

func create(t *testing.T, db *DB, o *order.Order) *order.Order {
	t.Helper()
	err := db.CreateOrder(context.Background(), o, order.Transition{To: order.StatusCreated, Source: order.SourceAPI,
		Reason: "order created", Version: 1, At: o.CreatedAt})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return o
}

func TestOrderRoundTrip(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		o := newOrder(1, "u1")
		o.IdempotencyKey, o.RequestHash = "key-1", "hash"
		create(t, db, o)
		got, err := db.Order(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || got.Amount != o.Amount || got.Status != order.StatusCreated || got.Version != 1 ||
			!got.ExpireAt.Equal(o.ExpireAt) || !got.CreatedAt.Equal(o.CreatedAt) || got.IdempotencyKey != "key-1" {
			t.Fatalf("round trip: %+v", got)
		}
		byKey, err := db.OrderByIdempotencyKey(ctx, "u1", "key-1")
		if err != nil || byKey.ID != got.ID {
			t.Fatalf("by key: %v %v", byKey, err)
		}
		if _, err := db.OrderByIdempotencyKey(ctx, "u2", "key-1"); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("another user's key: %v", err)
		}
		if _, err := db.Order(ctx, "nope"); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("missing order: %v", err)
		}
		// The same key for the same user is a conflict; the same outTradeNo too.
		dup := newOrder(2, "u1")
		dup.IdempotencyKey = "key-1"
		err = db.CreateOrder(ctx, dup, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0})
		if order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("duplicate key: %v", err)
		}
		err = db.CreateOrder(ctx, newOrder(1, "u9"), order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0})
		if order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("duplicate outTradeNo: %v", err)
		}
	})
}

func TestSaveIsVersionGuarded(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		o := create(t, db, newOrder(1, "u1"))
		ch := order.Change{From: order.StatusCreated, To: order.StatusPending, Reason: "prepay accepted", PrepayID: "pp1"}
		e := order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI, RequestID: "r1"}
		saved, err := db.Save(ctx, order.Write{Order: o, Change: ch, Observation: e, At: t0.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if saved.Version != 2 || saved.Status != order.StatusPending || saved.PrepayID != "pp1" {
			t.Fatalf("saved: %+v", saved)
		}
		// A writer holding the old version loses, and writes nothing.
		_, err = db.Save(ctx, order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusFailed}, Observation: e, At: t0})
		if order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("stale write: %v", err)
		}
		st, err := db.Story(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Transitions) != 2 || st.Transitions[1].From != order.StatusCreated || st.Transitions[1].To != order.StatusPending ||
			st.Transitions[1].Source != order.SourceAPI || st.Transitions[1].RequestID != "r1" || st.Transitions[1].Version != 2 {
			t.Fatalf("transitions: %+v", st.Transitions)
		}
		if st.Order.Status != order.StatusPending {
			t.Fatalf("stale write changed the order: %+v", st.Order)
		}
	})
}

func TestConcurrentSavesOneWins(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		o := create(t, db, newOrder(1, "u1"))
		const n = 20
		var wg sync.WaitGroup
		wins := make(chan bool, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.Save(ctx, order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPaid},
					Observation: order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify}, At: t0})
				if err != nil && order.ErrorCode(err) != order.ECONFLICT {
					t.Errorf("save: %v", err)
				}
				wins <- err == nil
			}()
		}
		wg.Wait()
		close(wins)
		won := 0
		for w := range wins {
			if w {
				won++
			}
		}
		var count int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM transitions WHERE to_status = 'PAID'`).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if won != 1 || count != 1 {
			t.Fatalf("%d writers won, %d PAID transitions; want 1 and 1", won, count)
		}
	})
}

func TestFlagsRaisedOnceAndRecordsKept(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		o := create(t, db, newOrder(1, "u1"))
		raise := order.Change{From: order.StatusCreated, To: order.StatusCreated,
			Raise: []order.FlagRaise{{Flag: order.FlagUnknownStatus, Note: `MOS said "WEIRD"`}}}
		id := o.ID
		saved, err := db.Save(ctx, order.Write{Order: o, Change: raise, Observation: order.Observation{Source: order.SourceReconciler},
			Notification: &order.NotificationRecord{OrderID: &id, OutTradeNo: o.OutTradeNo, RawBody: `{"a":1}`, MOSStatus: "WEIRD", Outcome: order.OutcomeFlagged, ReceivedAt: t0},
			Query:        &order.QueryRecord{OrderID: id, Source: order.SourceNotify, MOSStatus: "WEIRD", At: t0}, At: t0})
		if err != nil {
			t.Fatal(err)
		}
		if !saved.HasFlag(order.FlagUnknownStatus) {
			t.Fatalf("flags: %v", saved.Flags)
		}
		// Raising it again (a racing writer that read before) adds no second active flag.
		if _, err := db.Save(ctx, order.Write{Order: saved, Change: raise, At: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordNotification(ctx, order.NotificationRecord{OutTradeNo: "unknown", RawBody: "{}", Outcome: order.OutcomeUnknownOrder, ReceivedAt: t0}); err != nil {
			t.Fatal(err)
		}
		st, err := db.Story(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Flags) != 1 || st.Flags[0].Note != `MOS said "WEIRD"` || len(st.Notifications) != 1 || len(st.Queries) != 1 ||
			st.Notifications[0].RawBody != `{"a":1}` || len(st.Transitions) != 1 {
			t.Fatalf("story: %+v", st)
		}
		got, _ := db.Order(ctx, o.OutTradeNo)
		if len(got.Flags) != 1 || got.Version != 3 {
			t.Fatalf("order after flags: %+v", got)
		}
	})
}

func TestOrdersPageAndFilter(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		for i := 1; i <= 7; i++ {
			o := newOrder(i, "u1")
			if i%2 == 0 {
				o.OpenID = "u2"
				o.Amount = money.Amount{Minor: 4000, Currency: money.KHR}
			}
			create(t, db, o)
		}
		var seen []string
		f := order.ListFilter{OpenID: "u1", Limit: 2}
		for {
			p, err := db.Orders(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range p.Orders {
				seen = append(seen, o.OutTradeNo)
			}
			if p.NextCursor == "" {
				break
			}
			f.Cursor = p.NextCursor
		}
		if len(seen) != 4 || seen[0] != newOrder(7, "").OutTradeNo || seen[3] != newOrder(1, "").OutTradeNo {
			t.Fatalf("u1's pages, newest first: %v", seen)
		}
		p, err := db.Orders(ctx, order.ListFilter{Currency: money.KHR})
		if err != nil || len(p.Orders) != 3 {
			t.Fatalf("KHR: %d %v", len(p.Orders), err)
		}
		from, to := t0.Add(2*time.Second), t0.Add(4*time.Second)
		p, err = db.Orders(ctx, order.ListFilter{From: &from, To: &to})
		if err != nil || len(p.Orders) != 2 {
			t.Fatalf("[from, to): %d %v", len(p.Orders), err)
		}
		if _, err := db.Orders(ctx, order.ListFilter{Cursor: "garbage"}); order.ErrorCode(err) != order.EINVALID {
			t.Fatalf("bad cursor: %v", err)
		}
		totals, err := db.Totals(ctx, t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := map[money.Currency][2]int64{money.USD: {4, 4 * 1699}, money.KHR: {3, 3 * 4000}}
		if len(totals) != 2 {
			t.Fatalf("totals: %+v", totals)
		}
		for _, tt := range totals {
			if w := want[tt.Currency]; tt.Count != w[0] || tt.Minor != w[1] || tt.Status != order.StatusCreated {
				t.Errorf("total %+v, want %v", tt, w)
			}
		}
	})
}

func TestClaimDueLeases(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		// PostgreSQL claims by the database's clock, so due times are set relative to real now.
		now := time.Now().UTC()
		past, future := now.Add(-time.Minute), now.Add(time.Hour)
		for i := 1; i <= 5; i++ {
			o := newOrder(i, "u1")
			o.NextCheckAt = &past
			if i == 5 {
				o.NextCheckAt = &future
			}
			create(t, db, o)
		}
		a, err := db.ClaimDue(ctx, now, 3, "a", now.Add(time.Minute))
		if err != nil || len(a) != 3 {
			t.Fatalf("first claim: %d %v", len(a), err)
		}
		b, err := db.ClaimDue(ctx, now, 10, "b", now.Add(time.Minute))
		if err != nil || len(b) != 1 {
			t.Fatalf("second claim got %d (want the one due order left), %v", len(b), err)
		}
		for _, o := range a {
			if o.ID == b[0].ID || o.LeaseOwner != "a" {
				t.Fatalf("claimed twice or wrong owner: %+v", o)
			}
		}
		if c, _ := db.ClaimDue(ctx, now, 10, "c", now.Add(time.Minute)); len(c) != 0 {
			t.Fatalf("leased orders claimed again: %d", len(c))
		}
		// A lease may be taken only when free or expired.
		if ok, err := db.AcquireLease(ctx, a[0].ID, "d", now.Add(time.Minute)); ok || err != nil {
			t.Fatalf("acquire a held lease: %v %v", ok, err)
		}
		if _, err := db.Save(ctx, order.Write{Order: a[0], ReleaseLease: true, At: now}); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.AcquireLease(ctx, a[0].ID, "d", now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("acquire a released lease: %v %v", ok, err)
		}
	})
}

func TestRecoverLeasesOnSQLite(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC()
		o := newOrder(1, "u1")
		o.NextCheckAt = &now
		create(t, db, o)
		if ok, err := db.AcquireLease(ctx, o.ID, "dead-process", now.Add(time.Hour)); !ok || err != nil {
			t.Fatalf("lease: %v %v", ok, err)
		}
		n, err := db.RecoverLeases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := db.Order(ctx, o.OutTradeNo)
		if db.Dialect == SQLite && (n != 1 || got.LeaseOwner != "") {
			t.Fatalf("SQLite: released %d, owner %q; want the dead process's lease gone", n, got.LeaseOwner)
		}
		if db.Dialect == Postgres && (n != 0 || got.LeaseOwner != "dead-process") {
			t.Fatalf("PostgreSQL: released %d, owner %q; another instance's lease must stay", n, got.LeaseOwner)
		}
	})
}

// TestStaleWritesConflict: every kind of write is version-guarded, not only the ones that move
// the status (whose second transition row the unique index would catch anyway). A writer that
// read version 1 after someone else saved version 2 loses with ECONFLICT, whatever it writes:
// a flag, the schedule, a prepayId, or only its lease. Nothing it carried is stored.
func TestStaleWritesConflict(t *testing.T) {
	next := t0.Add(time.Hour)
	stale := []struct {
		name string
		w    func(o *order.Order) order.Write
	}{
		{"flag only", func(o *order.Order) order.Write {
			return order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusCreated, Reason: "flagged",
				Raise: []order.FlagRaise{{Flag: order.FlagUnknownStatus, Note: "stale"}}}, At: t0}
		}},
		{"schedule only", func(o *order.Order) order.Write {
			return order.Write{Order: o, Reschedule: true, NextCheckAt: &next, CheckAttempts: 7, At: t0}
		}},
		{"prepayId only", func(o *order.Order) order.Write {
			return order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusCreated, PrepayID: "stale"}, At: t0}
		}},
		{"lease only", func(o *order.Order) order.Write {
			return order.Write{Order: o, ReleaseLease: true, At: t0}
		}},
	}
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		for i, tt := range stale {
			t.Run(tt.name, func(t *testing.T) {
				o := create(t, db, newOrder(i+1, "u1"))
				// Someone else moves first: version 2, nothing else changed.
				if _, err := db.Save(ctx, order.Write{Order: o, Reschedule: true, CheckAttempts: 1, At: t0}); err != nil {
					t.Fatal(err)
				}
				query := &order.QueryRecord{OrderID: o.ID, Source: order.SourceReconciler, MOSStatus: "stale", At: t0}
				w := tt.w(o)
				w.Query = query
				if _, err := db.Save(ctx, w); order.ErrorCode(err) != order.ECONFLICT {
					t.Fatalf("stale %s write: err = %v, want ECONFLICT", tt.name, err)
				}
				st, err := db.Story(ctx, o.OutTradeNo)
				if err != nil {
					t.Fatal(err)
				}
				if st.Order.Version != 2 || st.Order.CheckAttempts != 1 || st.Order.PrepayID != "" || len(st.Flags) != 0 || len(st.Queries) != 0 {
					t.Fatalf("the stale write left a trace: order %+v, flags %+v, queries %+v", st.Order, st.Flags, st.Queries)
				}
			})
		}
	})
}

// TestWriteAfterIsWhatIsStored: the order Save returns (Write.After) is the order as read back.
func TestWriteAfterIsWhatIsStored(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		o := create(t, db, newOrder(1, "u1"))
		next := t0.Add(time.Minute)
		w := order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPending, Reason: "prepay accepted",
			PrepayID: "pp1", Raise: []order.FlagRaise{{Flag: order.FlagUnknownStatus, Note: "n"}}},
			Observation: order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI}, Reschedule: true, NextCheckAt: &next,
			CheckAttempts: 3, ReleaseLease: true, At: t0.Add(time.Second)}
		saved, err := db.Save(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Order(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(saved, w.After()) {
			t.Fatalf("Save returned %+v, After is %+v", saved, w.After())
		}
		if got.Status != saved.Status || got.PrepayID != saved.PrepayID || got.Version != saved.Version ||
			!got.UpdatedAt.Equal(saved.UpdatedAt) || !got.NextCheckAt.Equal(*saved.NextCheckAt) ||
			got.CheckAttempts != saved.CheckAttempts || got.LeaseOwner != "" || got.LeaseUntil != nil ||
			!reflect.DeepEqual(got.Flags, saved.Flags) {
			t.Fatalf("stored %+v, Save returned %+v", got, saved)
		}
	})
}
