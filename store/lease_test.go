package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// TestLeaseRenewal: both queues renew only their owner's leases, and a renewed lease keeps its
// rows from other claimers after the claim's own lease would have run out.
func TestLeaseRenewal(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Now().UTC().Add(-time.Second)
		o := newOrder(1, "u1")
		o.NextCheckAt = &now
		o = create(t, db, o)
		if _, err := pay(t, db, o, now, outboxEvent(o, order.EventOrderPaid, now, epA)); err != nil {
			t.Fatal(err)
		}
		// pay moved the order's next check: make it due again.
		if err := db.write.Exec("UPDATE orders SET next_check_at = ?", now).Error; err != nil {
			t.Fatal(err)
		}
		short := 2 * time.Second
		claim := func(q leaseQueue, owner string) []int64 {
			t.Helper()
			n := time.Now()
			var ids []int64
			var err error
			if q == orderQueue {
				var os []*order.Order
				os, err = db.ClaimDue(ctx, n, 10, owner, n.Add(short))
				for _, o := range os {
					ids = append(ids, o.ID)
				}
			} else {
				var ds []order.Delivery
				ds, err = db.ClaimDeliveries(ctx, epA, n, 10, owner, n.Add(short))
				for _, d := range ds {
					ids = append(ids, d.ID)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		for _, tc := range []struct {
			name string
			q    leaseQueue
		}{{"orders", orderQueue}, {"deliveries", deliveryQueue}} {
			t.Run(tc.name, func(t *testing.T) {
				ids := claim(tc.q, "a")
				if len(ids) != 1 {
					t.Fatalf("claimed %d rows, want 1", len(ids))
				}
				n := time.Now()
				if got, err := tc.q.renew(ctx, db, "b", ids, n, n.Add(time.Hour)); err != nil || got != 0 {
					t.Fatalf("another owner renewed %d leases (%v), want 0", got, err)
				}
				if got, err := tc.q.renew(ctx, db, "a", ids, n, n.Add(time.Hour)); err != nil || got != 1 {
					t.Fatalf("the owner renewed %d leases (%v), want 1", got, err)
				}
				if got, err := tc.q.renew(ctx, db, "a", nil, n, n.Add(time.Hour)); err != nil || got != 0 {
					t.Fatalf("renewing nothing: %d %v", got, err)
				}
				time.Sleep(short + 500*time.Millisecond)
				if got := claim(tc.q, "c"); len(got) != 0 {
					t.Fatalf("a renewed lease was claimed by another: %v", got)
				}
			})
		}
	})
}

// TestClaimsReadInDueOrder: on SQLite a claim reads the queue through an index in the order rows
// fall due and stops at its batch: no plan that reads every pending row and sorts them, whose
// cost grows with the backlog (the deliverer's claims once cost an eighth of mospay's CPU under
// load that way).
func TestClaimsReadInDueOrder(t *testing.T) {
	db := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "plan.db"))
	for _, c := range []struct {
		queue leaseQueue
		where string
		index string
	}{
		{deliveryQueue, deliveryClaim, "deliveries_claim"},
		{orderQueue, "", "orders_due"},
	} {
		var plan []struct {
			Detail string
		}
		q, args := c.queue.dueSQL(c.where), []any{t0, t0, "https://a.example/events"}
		if c.queue.inMemory {
			q, args = c.queue.freeSQL("q.id", "", c.where), []any{t0, "[1,2,3]", "https://a.example/events"}
		}
		err := db.read.Raw("EXPLAIN QUERY PLAN "+q+" LIMIT 32", args...).Scan(&plan).Error
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, p := range plan {
			details = append(details, p.Detail)
		}
		all := strings.Join(details, "; ")
		if !strings.Contains(all, "USING INDEX "+c.index) || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("%s's claim plan: %s; want it read through %s, unsorted", c.queue.table, all, c.index)
		}
	}
}
