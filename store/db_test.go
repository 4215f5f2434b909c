package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/migrations"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

func TestMigrateTwiceIsNoOp(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, err := Open(ctx, url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		first, err := db.Migrate(ctx)
		if err != nil || len(first) == 0 {
			t.Fatalf("first migrate: %v %v", first, err)
		}
		second, err := db.Migrate(ctx)
		if err != nil || len(second) != 0 {
			t.Fatalf("second migrate applied %v, %v; want nothing", second, err)
		}
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("ready after migrate: %v", err)
		}
	})
}

func TestReadyFailsBeforeMigrationsAndWhenClosed(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("ready before migrate: %v", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Ready(ctx); err == nil {
		t.Fatal("ready with the database closed")
	}
}

func TestSQLiteOneInstancePerFile(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "one.db")
	a, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, url, Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by another mospay process") {
		t.Fatalf("second open: %v", err)
	}
	a.Close()
	b, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	b.Close()
}

func TestSchemaRefusesIllegalRows(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		bad := []string{
			`INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, amount_minor, currency, status, expire_at, created_at, updated_at)
			 VALUES ('o1', 'n', 'k', 'u', 100, 'USD', 'LOST', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
			`INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, amount_minor, currency, status, expire_at, created_at, updated_at)
			 VALUES ('o2', 'n', 'k', 'u', 0, 'USD', 'CREATED', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
			`INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, amount_minor, currency, status, expire_at, created_at, updated_at)
			 VALUES ('o3', 'n', 'k', 'u', 100, 'EUR', 'CREATED', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
		}
		for _, q := range bad {
			if _, err := db.SQL().Exec(q); err == nil {
				t.Errorf("schema accepted: %s", q)
			}
		}
		ok := `INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, amount_minor, currency, status, expire_at, created_at, updated_at)
			 VALUES ('dup', 'n', 'k', 'u', 100, 'USD', 'CREATED', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`
		if _, err := db.SQL().Exec(ok); err != nil {
			t.Fatal(err)
		}
		_, err := db.SQL().Exec(ok)
		if err == nil || order.ErrorCode(FormatError(err)) != order.ECONFLICT {
			t.Fatalf("duplicate outTradeNo: %v (code %s)", err, order.ErrorCode(FormatError(err)))
		}
	})
}

// TestSQLitePragmas pins what durability and speed rest on, on the writer and the readers:
// WAL, synchronous=FULL (2), foreign keys on, savepoint journals in memory (temp_store=2).
func TestSQLitePragmas(t *testing.T) {
	db := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	for _, c := range []struct {
		pragma string
		want   string
	}{{"journal_mode", "wal"}, {"synchronous", "2"}, {"foreign_keys", "1"}, {"temp_store", "2"}} {
		var got string
		if err := db.write.Raw("PRAGMA " + c.pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("writer PRAGMA %s = %q, want %q", c.pragma, got, c.want)
		}
	}
	var ro string
	if err := db.read.Raw("PRAGMA query_only").Scan(&ro).Error; err != nil || ro != "1" {
		t.Errorf("reader query_only = %q, %v", ro, err)
	}
}

// TestConcurrentMigrateOnce: instances starting together on one PostgreSQL migrate once (goose's
// advisory lock); the loser finds nothing left to apply and both end ready.
func TestConcurrentMigrateOnce(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx := context.Background()
	const n = 4
	applied := make(chan int, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			db, err := Open(ctx, url, Options{})
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			v, err := db.Migrate(ctx)
			if err == nil {
				err = db.Ready(ctx)
			}
			errs <- err
			applied <- len(v)
		}()
	}
	total := 0
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		total += <-applied
	}
	want := len(mustEntries(t))
	if total != want {
		t.Fatalf("%d migrations applied across %d instances, want each of the %d once", total, n, want)
	}
}

func mustEntries(t *testing.T) []string {
	t.Helper()
	fsys, err := migrations.FS("postgres")
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestRefundWindowMigration: orders paid before migration 2 get their paid_at from their first
// transition to PAID and, while still within the default refund window, their next refund check
// (the next of paid_at + 1 h, 1 day, 7 days, 30 days still ahead); refunded orders get
// refunded_at; an order paid long ago gets no check.
func TestRefundWindowMigration(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, err := Open(ctx, url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		p, err := db.provider()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 1); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		orders := []struct {
			no        string
			status    string
			paidAgo   time.Duration // 0: never paid
			refundAgo time.Duration
			wantNext  time.Duration // after paid_at; 0: no check
		}{
			{"recent", "PAID", 30 * time.Minute, 0, time.Hour},
			{"yesterday", "PAID", 30 * time.Hour, 0, 7 * 24 * time.Hour},
			{"last week", "PAID", 10 * 24 * time.Hour, 0, 30 * 24 * time.Hour},
			{"long ago", "PAID", 40 * 24 * time.Hour, 0, 0},
			{"refunded", "REFUNDED", 3 * time.Hour, time.Hour, 0},
			{"pending", "PENDING", 0, 0, 0},
		}
		for _, o := range orders {
			q := db.Rebind(`INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, amount_minor, currency, status, version,
				expire_at, created_at, updated_at) VALUES (?, 'n', 'k', 'u', 100, 'USD', ?, 3, ?, ?, ?)`)
			created := now.Add(-o.paidAgo - time.Minute)
			if _, err := db.SQL().Exec(q, o.no, o.status, created.Add(time.Hour), created, now); err != nil {
				t.Fatal(err)
			}
			tr := db.Rebind(`INSERT INTO transitions (order_id, version, from_status, to_status, source, created_at)
				VALUES ((SELECT id FROM orders WHERE out_trade_no = ?), ?, ?, ?, 'notify', ?)`)
			if o.paidAgo > 0 {
				if _, err := db.SQL().Exec(tr, o.no, 2, "PENDING", "PAID", now.Add(-o.paidAgo)); err != nil {
					t.Fatal(err)
				}
			}
			if o.refundAgo > 0 {
				if _, err := db.SQL().Exec(tr, o.no, 3, "PAID", "REFUNDED", now.Add(-o.refundAgo)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			got, err := db.Order(ctx, o.no)
			if err != nil {
				t.Fatal(err)
			}
			paid := now.Add(-o.paidAgo)
			switch {
			case o.paidAgo == 0 && got.PaidAt != nil:
				t.Errorf("%s: paid_at %v, want none", o.no, got.PaidAt)
			case o.paidAgo > 0 && (got.PaidAt == nil || got.PaidAt.Sub(paid).Abs() > time.Millisecond):
				t.Errorf("%s: paid_at %v, want %v", o.no, got.PaidAt, paid)
			}
			if o.refundAgo > 0 && (got.RefundedAt == nil || got.RefundedAt.Sub(now.Add(-o.refundAgo)).Abs() > time.Millisecond) {
				t.Errorf("%s: refunded_at %v, want %v", o.no, got.RefundedAt, now.Add(-o.refundAgo))
			}
			switch {
			case o.wantNext == 0 && got.NextCheckAt != nil:
				t.Errorf("%s: next check %v, want none", o.no, got.NextCheckAt)
			case o.wantNext > 0 && (got.NextCheckAt == nil || got.NextCheckAt.Sub(paid.Add(o.wantNext)).Abs() > time.Millisecond):
				t.Errorf("%s: next check %v, want %v", o.no, got.NextCheckAt, paid.Add(o.wantNext))
			}
		}
	})
}

// TestRebind: placeholders are numbered in order, other text (UTF-8 too) is kept, and a query
// seen before gives the same text.
func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"note = 'café ✓' AND x = ?", "note = 'café ✓' AND x = $1"},
		{strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	} {
		for range 2 {
			if got := rebind(tc.in); got != tc.want {
				t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
