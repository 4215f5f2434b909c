package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// TestFormatErrorByCode: driver errors are classified by their codes. Each real error is made
// by a real database; the rest are the drivers' own typed errors with the code in question. A
// plain error whose text looks like a driver's is not classified: only codes count.
func TestFormatErrorByCode(t *testing.T) {
	ctx := context.Background()
	real := map[string]error{}

	// SQLite: a unique violation, a CHECK violation, a busy file and a full database.
	path := filepath.Join(t.TempDir(), "e.db")
	db := openMigrated(t, "sqlite:"+path)
	insert := `INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, amount_minor, currency, status, expire_at, created_at, updated_at)
		VALUES (?, 'n', 'k', 'u', ?, 'USD', 'CREATED', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`
	if _, err := db.SQL().Exec(insert, "dup", 100); err != nil {
		t.Fatal(err)
	}
	_, real["sqlite unique"] = db.SQL().Exec(insert, "dup", 100)
	_, real["sqlite check"] = db.SQL().Exec(insert, "zero", 0)

	other, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=0&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	hold, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	busy, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=0&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, real["sqlite busy"] = busy.Exec(insert, "busy", 100)
	_ = hold.Rollback()

	full, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	full.SetMaxOpenConns(1)
	var pages int
	if err := full.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := full.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	_, real["sqlite full"] = full.Exec(`INSERT INTO mos_queries (order_id, source, error, created_at) VALUES (1, 'api', ?, CURRENT_TIMESTAMP)`,
		strings.Repeat("x", 1<<20))

	// PostgreSQL: a unique violation, and a server that is not there.
	pg := openMigrated(t, pgtest.NewDB(t))
	if _, err := pg.SQL().Exec(pg.Rebind(insert), "dup", 100); err != nil {
		t.Fatal(err)
	}
	_, real["postgres unique"] = pg.SQL().Exec(pg.Rebind(insert), "dup", 100)
	_, real["postgres refused"] = Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", Options{})

	tests := []struct {
		name string
		err  error
		want string // the order error code; "" = left as it is (internal)
	}{
		{"sqlite unique", real["sqlite unique"], order.ECONFLICT},
		{"sqlite check", real["sqlite check"], ""},
		{"sqlite busy", real["sqlite busy"], order.EUNAVAILABLE},
		{"sqlite full", real["sqlite full"], order.EUNAVAILABLE},
		{"sqlite locked", sqlite3.Error{Code: sqlite3.ErrLocked}, order.EUNAVAILABLE},
		{"sqlite i/o error", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite}, order.EUNAVAILABLE},
		{"sqlite primary key", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintPrimaryKey}, order.ECONFLICT},
		{"sqlite not null", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintNotNull}, ""},
		{"postgres unique", real["postgres unique"], order.ECONFLICT},
		{"postgres refused", real["postgres refused"], order.EUNAVAILABLE},
		{"postgres serialization", &pgconn.PgError{Code: "40001"}, order.EUNAVAILABLE},
		{"postgres deadlock", &pgconn.PgError{Code: "40P01"}, order.EUNAVAILABLE},
		{"postgres admin shutdown", &pgconn.PgError{Code: "57P01"}, order.EUNAVAILABLE},
		{"postgres connection failure", &pgconn.PgError{Code: "08006"}, order.EUNAVAILABLE},
		{"postgres disk full", &pgconn.PgError{Code: "53100"}, order.EUNAVAILABLE},
		{"postgres check", &pgconn.PgError{Code: "23514"}, ""},
		{"postgres syntax", &pgconn.PgError{Code: "42601"}, ""},
		{"bad connection", fmt.Errorf("query: %w", driver.ErrBadConn), order.EUNAVAILABLE},
		{"connection done", sql.ErrConnDone, order.EUNAVAILABLE},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), order.EUNAVAILABLE},
		{"text only: unique", errors.New("UNIQUE constraint failed: orders.out_trade_no"), ""},
		{"text only: busy", errors.New("database is locked (SQLITE_BUSY)"), ""},
		{"text only: sqlstate", errors.New("ERROR: duplicate key (SQLSTATE 23505)"), ""},
		{"coded passes", order.Errorf(order.ENOTFOUND, "x"), order.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("the database did not fail")
			}
			got := FormatError(tt.err)
			code := ""
			var oe *order.Error
			if errors.As(got, &oe) {
				code = oe.Code
			}
			if code != tt.want {
				t.Fatalf("FormatError(%v) has code %q, want %q", tt.err, code, tt.want)
			}
			if tt.want != "" && !errors.Is(got, tt.err) {
				t.Fatalf("FormatError lost the cause %v", tt.err)
			}
		})
	}
}
