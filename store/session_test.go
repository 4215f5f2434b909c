package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// sessionID is a session's database id as api makes it: 64 hex digits.
func sessionID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestFinanceSessions: a session is stored with its sign-in's audit row; it ends once, for its
// own admin only, with a logout row; a start without a token ends that token's open sessions and
// no others; expired sessions are dropped a day after they expire. On both databases.
func TestFinanceSessions(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		start := func(id, admin, fp string, at time.Time) {
			t.Helper()
			fs := order.FinanceSession{ID: sessionID(id), Admin: admin, TokenFingerprint: fp, RemoteIP: "10.0.0.1",
				UserAgent: "test", CreatedAt: at, ExpiresAt: at.Add(12 * time.Hour)}
			if err := db.CreateSession(ctx, fs, order.AdminAction{Actor: admin, Action: order.ActionLogin, RequestID: "r-" + id,
				ClientRequestID: "c-" + id, At: at}); err != nil {
				t.Fatal(err)
			}
		}
		start("old", "finance", "fp1", now.Add(-48*time.Hour)) // expired 36 h ago: dropped by the next sign-in
		start("a", "finance", "fp1", now)
		start("b", "finance", "fp1", now.Add(time.Minute))
		start("c", "admin", "fp2", now.Add(2*time.Minute))
		start("d", "finance", "fp-old", now.Add(3*time.Minute))

		if _, err := db.Session(ctx, sessionID("old")); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("a session expired over a day ago: %v, want ENOTFOUND", err)
		}
		got, err := db.Session(ctx, sessionID("a"))
		if err != nil || got.Admin != "finance" || got.TokenFingerprint != "fp1" || got.RemoteIP != "10.0.0.1" ||
			!got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(12*time.Hour)) || got.EndedAt != nil || !got.Open(now) {
			t.Fatalf("session a: %+v, %v", got, err)
		}
		open, err := db.OpenSessions(ctx, "finance", now.Add(time.Hour))
		if err != nil || len(open) != 3 || open[0].ID != sessionID("d") || open[2].ID != sessionID("a") {
			t.Fatalf("finance's open sessions: %+v, %v", open, err)
		}

		logout := order.AdminAction{Actor: "admin", Action: order.ActionLogout, RequestID: "r-end", At: now.Add(time.Hour)}
		if err := db.EndSession(ctx, sessionID("a"), "admin", now.Add(time.Hour), logout); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("another admin ends finance's session: %v, want ENOTFOUND", err)
		}
		logout.Actor = "finance"
		if err := db.EndSession(ctx, sessionID("a"), "finance", now.Add(time.Hour), logout); err != nil {
			t.Fatal(err)
		}
		if err := db.EndSession(ctx, sessionID("a"), "finance", now.Add(time.Hour), logout); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("a session ended twice: %v, want ENOTFOUND", err)
		}
		got, _ = db.Session(ctx, sessionID("a"))
		if got.EndedAt == nil || got.EndedBy != order.SessionEndLogout || got.Open(now.Add(2*time.Hour)) {
			t.Fatalf("ended session: %+v", got)
		}

		n, err := db.EndSessionsExcept(ctx, []order.SessionToken{{Admin: "finance", Fingerprint: "fp1"}, {Admin: "admin", Fingerprint: "fp2"}},
			now.Add(2*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("ending the sessions of removed tokens: %d, %v; want 1 (d)", n, err)
		}
		if got, _ := db.Session(ctx, sessionID("d")); got.EndedAt == nil || got.EndedBy != order.SessionEndTokenRemoved {
			t.Fatalf("d: %+v", got)
		}
		for _, id := range []string{"b", "c"} {
			if got, _ := db.Session(ctx, sessionID(id)); got.EndedAt != nil {
				t.Fatalf("%s ended with its token still configured", id)
			}
		}
		if n, err := db.EndSessionsExcept(ctx, nil, now.Add(3*time.Hour)); err != nil || n != 2 {
			t.Fatalf("no token configured: ended %d, %v; want 2", n, err)
		}

		// The audit trail: every sign-in and the sign-out, both request ids, filtered by action.
		all, err := db.AdminActions(ctx, order.AuditFilter{})
		if err != nil || len(all.Actions) != 6 || all.Actions[0].Action != order.ActionLogout || all.Actions[1].ClientRequestID != "c-d" {
			t.Fatalf("audit: %+v, %v", all.Actions, err)
		}
		for _, tc := range []struct {
			f    order.AuditFilter
			want int
		}{
			{order.AuditFilter{Action: order.ActionLogin}, 5},
			{order.AuditFilter{Action: order.ActionLogout}, 1},
			{order.AuditFilter{Except: order.SignInActions}, 0},
			{order.AuditFilter{Except: []string{order.ActionLogin}}, 1},
			{order.AuditFilter{Actor: "admin", Action: order.ActionLogin}, 1},
		} {
			p, err := db.AdminActions(ctx, tc.f)
			if err != nil || len(p.Actions) != tc.want {
				t.Errorf("%+v: %d actions, %v; want %d", tc.f, len(p.Actions), err, tc.want)
			}
		}
		for _, a := range []string{order.ActionExport, order.ActionLookup, order.ActionLoginFailed} {
			if err := db.RecordAction(ctx, order.AdminAction{Actor: "finance", Action: a, At: now}); err != nil {
				t.Errorf("recording %s: %v", a, err)
			}
		}
		if err := db.RecordAction(ctx, order.AdminAction{Actor: "finance", Action: "nonsense", At: now}); err == nil {
			t.Error("the schema takes an unknown action")
		}
	})
}
