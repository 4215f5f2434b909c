package store

import (
	"context"
	"database/sql/driver"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Prepared statements, kept per SQLite connection.
//
// go-sqlite3 compiles every statement on every call and throws it away after: measured under
// create's load, a fifth of mospay's CPU, most of it on the group commit's goroutine, which is
// what bounds SQLite's writes. GORM's PrepareStmt does not help there: inside a transaction it
// prepares the statement on that transaction, and database/sql prepares it again in every later
// one, and every write runs in a group commit's transaction. So mospay's SQLite driver keeps
// each connection's statements itself, below database/sql and GORM: a statement is compiled
// once per connection and run again with new arguments. PostgreSQL needs none of this (pgx
// caches its prepared statements itself).

// keptStatements bounds the statements one connection keeps; when it is reached they are all
// finalized and the hot ones come back at their next use. The hot paths use a few dozen;
// finance's filters and IN lists of every length make more, rarer ones.
const keptStatements = 256

// stmtDriver is go-sqlite3's driver whose connections keep their statements.
type stmtDriver struct{ *sqlite3.SQLiteDriver }

func (d stmtDriver) Open(name string) (driver.Conn, error) {
	c, err := d.SQLiteDriver.Open(name)
	if err != nil {
		return nil, err
	}
	return &stmtConn{SQLiteConn: c.(*sqlite3.SQLiteConn), kept: map[string]*keptStmt{}}, nil
}

// stmtConn is a go-sqlite3 connection that runs a statement it has compiled before from its
// kept set. database/sql uses a connection from one goroutine at a time, so it needs no lock.
type stmtConn struct {
	*sqlite3.SQLiteConn
	kept map[string]*keptStmt
}

type keptStmt struct {
	stmt *sqlite3.SQLiteStmt
	exec bool // a write that returns no rows: Exec may run it (see writesNoRows)
	rows bool // a result set of it is open: the statement cannot be run again until it closes
}

// statement returns the kept statement for query with n arguments, compiling it at its first
// use, or nil where the query must run as go-sqlite3 runs it: a text of several statements (only
// go-sqlite3's own path runs them all), an exec that could leave rows pending (a statement that
// returns rows is only kept for queries, whose Close resets it), a statement already running, or
// one that does not compile (go-sqlite3 then reports why).
func (c *stmtConn) statement(ctx context.Context, query string, n int, exec bool) *keptStmt {
	k := c.kept[query]
	if k == nil {
		if strings.ContainsRune(query, ';') {
			return nil
		}
		if len(c.kept) >= keptStatements {
			c.finalizeAll()
		}
		s, err := c.SQLiteConn.PrepareContext(ctx, query)
		if err != nil {
			return nil
		}
		k = &keptStmt{stmt: s.(*sqlite3.SQLiteStmt), exec: writesNoRows(query)}
		c.kept[query] = k
	}
	if k.rows || exec && !k.exec || k.stmt.NumInput() != n {
		return nil
	}
	return k
}

// writesNoRows reports whether query is a write that returns no rows, so that running it to its
// end leaves the statement finished.
func writesNoRows(query string) bool {
	q := strings.TrimSpace(query)
	verb, _, _ := strings.Cut(q, " ")
	switch strings.ToUpper(verb) {
	case "INSERT", "UPDATE", "DELETE", "SAVEPOINT", "RELEASE":
		return !strings.Contains(strings.ToUpper(q), "RETURNING")
	}
	return false
}

// ExecContext runs a kept statement, or go-sqlite3's path.
func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if k := c.statement(ctx, query, len(args), true); k != nil {
		return k.stmt.ExecContext(ctx, args)
	}
	return c.SQLiteConn.ExecContext(ctx, query, args)
}

// QueryContext runs a kept statement, or go-sqlite3's path; the statement is free again when its
// rows close (which resets it, ending its read).
func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k := c.statement(ctx, query, len(args), false)
	if k == nil {
		return c.SQLiteConn.QueryContext(ctx, query, args)
	}
	rows, err := k.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	r, ok := rows.(*sqlite3.SQLiteRows)
	if !ok {
		return rows, nil
	}
	k.rows = true
	return &keptRows{SQLiteRows: r, k: k}, nil
}

// keptRows are a kept statement's results; closing them frees the statement.
type keptRows struct {
	*sqlite3.SQLiteRows
	k *keptStmt
}

func (r *keptRows) Close() error {
	r.k.rows = false
	return r.SQLiteRows.Close()
}

// finalizeAll drops every kept statement whose results are closed.
func (c *stmtConn) finalizeAll() {
	for q, k := range c.kept {
		if !k.rows {
			_ = k.stmt.Close() // finalizing a statement that ran reports its last error again
			delete(c.kept, q)
		}
	}
}

// Close finalizes the kept statements, then closes the connection (SQLite refuses to close one
// with statements left).
func (c *stmtConn) Close() error {
	for q, k := range c.kept {
		_ = k.stmt.Close()
		delete(c.kept, q)
	}
	return c.SQLiteConn.Close()
}
