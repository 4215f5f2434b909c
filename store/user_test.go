package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// TestOrdersUserIsReal: an order's user_id names a real user, and a user that orders name stays,
// on both databases (SQLite by its foreign key, PostgreSQL by the triggers of migration 12, which
// also keep every other user and every user's id). A refusal is the foreign key's error on either
// (SQLite's SQLITE_CONSTRAINT_FOREIGNKEY, PostgreSQL's SQLSTATE 23503), which FormatError leaves
// internal, as it did with PostgreSQL's key.
func TestOrdersUserIsReal(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		pg := db.Dialect == Postgres
		for _, id := range []string{"owner", "other", "loner1", "loner2"} {
			if _, err := db.LoginUser(ctx, "openid-"+id, "en", id, t0); err != nil {
				t.Fatal(err)
			}
		}
		owned := newOrder(1, "openid-owner")
		owned.UserID = "owner"
		create(t, db, owned)

		exec := func(q string, args ...any) func() error {
			return func() error {
				_, err := db.SQL().ExecContext(ctx, db.Rebind(q), args...)
				return err
			}
		}
		createFor := func(n int, user string) func() error {
			return func() error {
				o := newOrder(n, "openid-"+user)
				o.UserID = user
				return db.CreateOrder(ctx, o, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0})
			}
		}
		tests := []struct {
			name          string
			run           func() error
			refusedSQLite bool
			refusedPG     bool
		}{
			{"an order of a user", createFor(2, "owner"), false, false},
			{"an order of no such user", createFor(3, "ghost"), true, true},
			{"an order without a user", createFor(4, ""), false, false},
			{"an order moved to no such user", exec(`UPDATE orders SET user_id = 'ghost' WHERE id = ?`, owned.ID), true, true},
			{"an order moved to another user", exec(`UPDATE orders SET user_id = 'other' WHERE out_trade_no = ?`, newOrder(2, "").OutTradeNo), false, false},
			{"an order's other columns updated", exec(`UPDATE orders SET user_id = user_id, check_failures = 1 WHERE id = ?`, owned.ID), false, false},
			{"a user with orders deleted", exec(`DELETE FROM users WHERE id = 'owner'`), true, true},
			{"a user with orders given another id", exec(`UPDATE users SET id = 'owner2' WHERE id = 'owner'`), true, true},
			{"a user without orders deleted", exec(`DELETE FROM users WHERE id = 'loner1'`), false, true},
			{"a user without orders given another id", exec(`UPDATE users SET id = 'loner3' WHERE id = 'loner2'`), false, true},
			{"a user logging in again", func() error {
				_, err := db.LoginUser(ctx, "openid-owner", "km", "unused", t0)
				return err
			}, false, false},
			{"a user's tokens revoked", func() error {
				_, err := db.RevokeUser(ctx, "owner", t0, order.AdminAction{Actor: "ops", Action: "revoke", UserID: "owner", At: t0})
				return err
			}, false, false},
		}
		if pg {
			tests = append(tests, struct {
				name          string
				run           func() error
				refusedSQLite bool
				refusedPG     bool
			}{"the users truncated", exec(`TRUNCATE users CASCADE`), true, true})
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.run()
				refused := tt.refusedSQLite
				if pg {
					refused = tt.refusedPG
				}
				if !refused {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if err == nil {
					t.Fatal("accepted")
				}
				var pe *pgconn.PgError
				var se sqlite3.Error
				switch {
				case pg && (!errors.As(err, &pe) || pe.Code != pgerrcode.ForeignKeyViolation):
					t.Fatalf("refused with %v, want SQLSTATE 23503", err)
				case !pg && (!errors.As(err, &se) || se.ExtendedCode != sqlite3.ErrConstraintForeignKey):
					t.Fatalf("refused with %v, want SQLITE_CONSTRAINT_FOREIGNKEY", err)
				}
				if code := order.ErrorCode(FormatError(err)); code != order.EINTERNAL {
					t.Fatalf("FormatError gives code %s, want it left internal", code)
				}
			})
		}

		var orphans, users int
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM orders o WHERE o.user_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)`).Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
			t.Fatal(err)
		}
		wantUsers := 4
		if !pg {
			wantUsers = 3 // loner1 deleted
		}
		if orphans != 0 || users != wantUsers {
			t.Fatalf("%d orders name no user, %d users; want 0 and %d", orphans, users, wantUsers)
		}
	})
}

// TestOrderLocksNoUser: on PostgreSQL an order being inserted does not lock its user's row, so
// that the concurrent orders of one user do not pile up row locks (multixacts) on it. The
// foreign key it replaced (migration 12; before it, and after its Down) took FOR KEY SHARE on the
// user's row until the order's transaction ended: a FOR UPDATE NOWAIT of the row then failed with
// 55P03 (lock_not_available).
func TestOrderLocksNoUser(t *testing.T) {
	tests := []struct {
		name    string
		upTo    int64
		downTo  int64 // 0: none
		wantKey bool
	}{
		{"the foreign key (migration 11)", 11, 0, true},
		{"the triggers (migration 12)", 12, 0, false},
		{"migration 12 undone", 12, 11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, pgtest.NewDB(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			p, err := db.provider()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, tt.upTo); err != nil {
				t.Fatal(err)
			}
			if tt.downTo != 0 {
				if _, err := p.DownTo(ctx, tt.downTo); err != nil {
					t.Fatal(err)
				}
			}
			var keys int
			if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_constraint
				WHERE conname = 'orders_user_id_fkey' AND contype = 'f' AND conrelid = 'orders'::regclass`).Scan(&keys); err != nil {
				t.Fatal(err)
			}
			if got := keys == 1; got != tt.wantKey {
				t.Fatalf("foreign key orders_user_id_fkey there: %v, want %v", got, tt.wantKey)
			}
			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO users (id, openid, first_login_at, last_login_at)
				VALUES ('u', 'openid-u', now(), now())`); err != nil {
				t.Fatal(err)
			}

			// Two orders of the user in transactions left open, as concurrent creates are.
			insert := `INSERT INTO orders (out_trade_no, nonce_str, app_key, user_id, openid, amount_minor, currency, status,
				expire_at, created_at, updated_at) VALUES ($1, 'n', 'k', 'u', 'openid-u', 100, 'USD', 'CREATED', now(), now(), now())`
			var open []*sql.Tx
			for _, no := range []string{"o1", "o2"} {
				tx, err := db.SQL().BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				if _, err := tx.ExecContext(ctx, insert, no); err != nil {
					t.Fatal(err)
				}
				open = append(open, tx)
			}
			_, err = db.SQL().ExecContext(ctx, `SELECT id FROM users WHERE id = 'u' FOR UPDATE NOWAIT`)
			var pe *pgconn.PgError
			locked := errors.As(err, &pe) && pe.Code == pgerrcode.LockNotAvailable
			if err != nil && !locked {
				t.Fatal(err)
			}
			if locked != tt.wantKey {
				t.Fatalf("the user's row locked by the open orders: %v (%v), want %v", locked, err, tt.wantKey)
			}
			for _, tx := range open {
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE user_id = 'u'`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("%d orders of the user after the commits, %v; want 2", n, err)
			}
		})
	}
}
