package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// TestNotificationPerSignedContent: a notification is one row per signed content. Its first
// receipt claims the row; a repeat is counted on it, and checked only when the first one's check
// failed (MOS unavailable, or stopped for good); an outcome that settled it stays; the window of
// notifications' queries is one compare-and-set per order; a held-back notification brings the
// order's next check forward, never back.
func TestNotificationPerSignedContent(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		o := create(t, db, newOrder(1, "u1"))
		id := o.ID
		rec := func(hash, outcome string, at time.Time) order.NotificationRecord {
			return order.NotificationRecord{OrderID: &id, OutTradeNo: o.OutTradeNo, Signed: `{"sign":"` + hash + `"}`, SignedHash: hash,
				RawBody: "{}", BodySize: 400 << 10, Outcome: outcome, ReceivedAt: at}
		}
		notifications := func() []order.NotificationRecord {
			t.Helper()
			st, err := db.Story(ctx, o.OutTradeNo)
			if err != nil {
				t.Fatal(err)
			}
			return st.Notifications
		}

		claim := func(r order.NotificationRecord, staleBefore time.Time, want bool, wantRetry ...bool) {
			t.Helper()
			r.Outcome = order.OutcomeChecking
			c, err := db.ClaimNotification(ctx, r, staleBefore, 0)
			if err != nil || c.First != want || c.Retry != (len(wantRetry) > 0 && wantRetry[0]) {
				t.Fatalf("claim %s at %s: %+v %v, want %v %v", r.SignedHash, r.ReceivedAt.Sub(t0), c, err, want, wantRetry)
			}
		}
		// The first receipt claims the row; a repeat while it is checked is counted; one after
		// the check stopped for good takes it over.
		claim(rec("h1", "", t0), t0.Add(-time.Minute), true)
		claim(rec("h1", "", t0.Add(time.Second)), t0.Add(-time.Minute), false)
		claim(rec("h1", "", t0.Add(2*time.Minute)), t0.Add(time.Minute), true)
		applied := rec("h1", order.OutcomeApplied, t0.Add(2*time.Minute))
		applied.QueriedStatus = "SUCCESS"
		if _, err := db.Save(ctx, order.Write{Order: o, Notification: &applied, At: t0}); err != nil {
			t.Fatal(err)
		}
		// Settled: a racer's no_change leaves it applied; a repeat is counted, never checked.
		if err := db.RecordNotification(ctx, rec("h1", order.OutcomeNoChange, t0.Add(3*time.Minute))); err != nil {
			t.Fatal(err)
		}
		claim(rec("h1", "", t0.Add(4*time.Minute)), t0.Add(3*time.Minute), false)
		ns := notifications()
		if len(ns) != 1 || ns[0].Outcome != order.OutcomeApplied || ns[0].QueriedStatus != "SUCCESS" || ns[0].Repeats != 4 ||
			ns[0].LastRepeatAt == nil || !ns[0].LastRepeatAt.Equal(t0.Add(4*time.Minute)) || ns[0].BodySize != 400<<10 ||
			ns[0].Signed != `{"sign":"h1"}` || !ns[0].ReceivedAt.Equal(t0) {
			t.Fatalf("notifications %+v, want one applied row with 4 repeats", ns)
		}
		// MOS unavailable: its repeat is checked; held back: its repeat is not.
		claim(rec("h2", "", t0), t0.Add(-time.Minute), true)
		unavailable := rec("h2", order.OutcomeMOSUnavailable, t0)
		if _, err := db.Save(ctx, order.Write{Order: o, Notification: &unavailable, At: t0}); err != nil {
			t.Fatal(err)
		}
		claim(rec("h2", "", t0.Add(time.Second)), t0.Add(-time.Minute), true, true)
		if err := db.DeferNotification(ctx, rec("h2", order.OutcomeDeferred, t0.Add(time.Second)), t0.Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		claim(rec("h2", "", t0.Add(2*time.Second)), t0.Add(-time.Minute), false)
		if ns := notifications(); len(ns) != 2 || ns[1].Outcome != order.OutcomeDeferred || ns[1].Repeats != 2 {
			t.Fatalf("notifications %+v, want h2 deferred with 2 repeats", ns)
		}
		// Rows without a signed hash (stored before it existed) are never merged.
		for range 2 {
			if err := db.RecordNotification(ctx, rec("", order.OutcomeUnknownOrder, t0)); err != nil {
				t.Fatal(err)
			}
		}
		if ns := notifications(); len(ns) != 4 {
			t.Fatalf("%d rows, want h1, h2 and two without a hash", len(ns))
		}

		// The window (on another order): claimed once per 5 s, whoever asks, by a notification's
		// claim or on its own.
		o2 := create(t, db, newOrder(2, "u1"))
		for i, c := range []struct {
			at       time.Duration
			want     bool
			ownClaim bool // ClaimNotifyWindow, not a notification's claim
		}{{0, true, false}, {time.Second, false, false}, {4999 * time.Millisecond, false, true}, {5 * time.Second, true, true},
			{6 * time.Second, false, false}, {20 * time.Second, true, false}} {
			var got bool
			var err error
			if c.ownClaim {
				got, err = db.ClaimNotifyWindow(ctx, o2.ID, t0.Add(c.at), order.NotifyWindow)
			} else {
				var claim order.NotificationClaim
				claim, err = db.ClaimNotification(ctx, order.NotificationRecord{OrderID: &o2.ID, OutTradeNo: o2.OutTradeNo,
					SignedHash: fmt.Sprintf("w%d", i), Outcome: order.OutcomeChecking, ReceivedAt: t0.Add(c.at)}, t0, order.NotifyWindow)
				if !claim.First {
					t.Fatalf("a new signed content at +%s was not claimed: %+v", c.at, claim)
				}
				got = claim.Asked
			}
			if err != nil || got != c.want {
				t.Fatalf("window claim at +%s: %v %v, want %v", c.at, got, err, c.want)
			}
		}

		// A held-back notification brings the next check forward, never back.
		next := func() *time.Time {
			t.Helper()
			got, err := db.Order(ctx, o.OutTradeNo)
			if err != nil {
				t.Fatal(err)
			}
			return got.NextCheckAt
		}
		if n := next(); n == nil || !n.Equal(t0.Add(5*time.Second)) { // h2's, above
			t.Fatalf("next check %v, want %v", n, t0.Add(5*time.Second))
		}
		if err := db.DeferNotification(ctx, rec("h3", order.OutcomeDeferred, t0), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := next(); n == nil || !n.Equal(t0.Add(5*time.Second)) {
			t.Fatalf("next check %v after a later one, want %v", n, t0.Add(5*time.Second))
		}
		fresh, err := db.Order(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Hour)
		if _, err := db.Save(ctx, order.Write{Order: fresh, Reschedule: true, NextCheckAt: &later, At: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.DeferNotification(ctx, rec("h4", order.OutcomeDeferred, t0), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n := next(); n == nil || !n.Equal(t0.Add(time.Minute)) {
			t.Fatalf("next check %v, want it brought forward to %v", n, t0.Add(time.Minute))
		}
	})
}
