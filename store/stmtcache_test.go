package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// TestKeptStatements: a connection that keeps its statements still runs every query as
// go-sqlite3 would: a text of several statements runs them all, a statement run again while its
// rows are open gets a fresh one, a read sees what was committed after its statement was kept
// on another connection (closing its rows ended its snapshot), and past the bound the statements start over.
func TestKeptStatements(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "kept.db")
	db, err := sql.Open(sqliteDriver, "file:"+dbPath+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection, so that every statement is kept on it
	rd, err := sql.Open(sqliteDriver, "file:"+filepath.Join(filepath.Dir(dbPath), "kept.db")+"?_journal_mode=WAL&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rd.SetMaxOpenConns(1) // a reader of its own, as mospay's read pool
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	count := func() (n int) {
		t.Helper()
		if err := rd.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u (id INTEGER PRIMARY KEY)")
	count() // the reader's statement is kept before the writes it must then see
	if _, err := db.ExecContext(ctx, "INSERT INTO u (id) VALUES (1)"); err != nil {
		t.Fatalf("the second statement of a text of two did not run: %v", err)
	}
	for i := range 3 {
		exec("INSERT INTO t (v) VALUES (?)", fmt.Sprint(i))
		if n := count(); n != i+1 {
			t.Fatalf("after %d inserts a kept read counts %d rows", i+1, n)
		}
	}

	// The same query while its rows are open: a second statement, not the first one reset.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT v FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, "SELECT v FROM t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for inner.Next() {
			n++
		}
		inner.Close()
		if n != 3 {
			t.Fatalf("the inner query saw %d rows, want 3", n)
		}
		outer = append(outer, v)
	}
	rows.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(outer) != "[0 1 2]" {
		t.Fatalf("the outer query, interleaved with itself, gave %v", outer)
	}

	// A write that returns rows through Exec is not kept half run: the commit that follows works.
	exec("INSERT INTO t (v) VALUES (?) RETURNING id", "r")
	for i := range keptStatements + 10 {
		exec(fmt.Sprintf("UPDATE t SET v = ? WHERE id = %d", i), "x")
	}
	if n := count(); n != 4 {
		t.Fatalf("%d rows after the bound was passed, want 4", n)
	}
}
