package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Group commit on PostgreSQL. Its hot writes are one statement each (an order's create, Save, a
// notification's first receipt), and each used to be its own transaction: one WAL flush and one
// round trip per write. Under load PostgreSQL's backends then spent most of their time waiting
// for the WAL to be flushed (wait events WALWrite and WALSync), a few commits per flush. The
// batcher instead takes the one-statement writes that are waiting and sends them together, in one
// transaction, in one round trip (pgx's pipelined batch: BEGIN, the statements, COMMIT): one flush
// for all of them. No caller is answered before that COMMIT succeeded, so nothing acknowledged
// is lost. When any statement of a batch fails, the transaction is rolled back whole and each
// statement runs again on its own, so that one caller's conflict is its own and not its
// neighbours'.

// maxBatch bounds one batch, and pgBatchers how many are sent at once (each on a connection of
// the pool). A batch holds its rows' locks until its COMMIT; two batches that wait for each
// other's rows are a deadlock PostgreSQL breaks within deadlock_timeout, after which the
// statements of the one it aborted run again one by one.
const (
	maxBatch   = 64
	pgBatchers = 4
	// batchTimeout bounds a batch (and a statement run again alone): a connection that hangs
	// without an answer must not hold its callers, and every later write, for ever. Its callers
	// then get an error, as they would from a statement cut short by their own context.
	batchTimeout = 30 * time.Second
)

// pgStatement is one write waiting for its batch: a statement returning one row, scanned into dst.
type pgStatement struct {
	ctx  context.Context
	sql  string // with $n placeholders
	args []any
	dst  []any
	done chan error
}

// pgBatcher sends the one-statement writes waiting at once as batches, pgBatchers at a time.
type pgBatcher struct {
	db *sql.DB
	*groups[*pgStatement]
}

func newPGBatcher(db *sql.DB) *pgBatcher {
	b := &pgBatcher{db: db}
	b.groups = startGroups(pgBatchers, maxBatch, b.send)
	return b
}

// do runs the statement in the next batch and scans its row into dst once the batch committed.
func (b *pgBatcher) do(ctx context.Context, query string, args []any, dst ...any) error {
	s := &pgStatement{ctx: ctx, sql: query, args: args, dst: dst, done: make(chan error, 1)}
	return b.submit(ctx, s, s.done)
}

// send runs a batch: alone, a statement is its own transaction; several go in one.
func (b *pgBatcher) send(batch []*pgStatement) {
	live := batch[:0]
	for _, s := range batch {
		if err := s.ctx.Err(); err != nil {
			s.done <- err
			continue
		}
		live = append(live, s)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		if results, err := b.together(live); err == nil {
			for i, s := range live {
				s.done <- results[i]
			}
			return
		}
	}
	for _, s := range live {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		s.done <- b.db.QueryRowContext(ctx, s.sql, s.args...).Scan(s.dst...)
		cancel()
	}
}

// together runs the statements in one transaction, in one round trip. It returns each one's
// scan error only when the transaction committed (a statement that returns no row, which a
// transaction survives); any other failure rolls it all back and is returned as err.
func (b *pgBatcher) together(batch []*pgStatement) ([]error, error) {
	// Not the callers' contexts: the batch is theirs together, and must not end for one of them.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	results := make([]error, len(batch))
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: a %T is not a pgx connection", dc)
		}
		var pb pgx.Batch
		pb.Queue("BEGIN")
		for _, s := range batch {
			pb.Queue(s.sql, s.args...)
		}
		pb.Queue("COMMIT")
		br := c.Conn().SendBatch(ctx, &pb)
		_, err := br.Exec()
		failed := err
		for i, s := range batch {
			// A statement that found no row leaves the transaction as it was; any other error
			// aborts it (and PostgreSQL then refuses the rest, which is read and dropped here).
			e := br.QueryRow().Scan(s.dst...)
			if e != nil && !errors.Is(e, pgx.ErrNoRows) && failed == nil {
				failed = e
			}
			results[i] = e
		}
		tag, err := br.Exec()
		if failed == nil && err == nil && tag.String() != "COMMIT" {
			// COMMIT in an aborted transaction answers ROLLBACK, without an error.
			err = fmt.Errorf("store: the batch's transaction ended in %s", tag)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if failed != nil || err != nil {
			// PostgreSQL skips a pipeline's statements after an error up to its end, COMMIT
			// included: the transaction may still be open (and aborted). End it before the
			// connection goes back to the pool, or drop the connection.
			if _, rerr := c.Conn().Exec(ctx, "ROLLBACK"); rerr != nil {
				return errors.Join(cmp.Or(failed, err), driver.ErrBadConn)
			}
		}
		return cmp.Or(failed, err)
	})
	if err != nil {
		return nil, err
	}
	for i, e := range results {
		if errors.Is(e, pgx.ErrNoRows) {
			results[i] = sql.ErrNoRows
		}
	}
	return results, nil
}
