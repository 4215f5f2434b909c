package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// Group commit. With synchronous=FULL every SQLite commit waits for an fsync, and SQLite has one
// writer at a time, so one transaction per request caps durable writes at one fsync each. The
// committer instead takes every transaction that is waiting, runs each inside a SAVEPOINT of one
// shared SQLite transaction, commits that once (one fsync), and only then answers each caller.
// A caller whose work fails is rolled back to its savepoint alone; the others still commit. No
// caller is told "done" before its rows are durable, so nothing acknowledged can be lost.

// maxGroup bounds one group, so one commit's latency stays small.
const maxGroup = 128

// errClosed answers transactions submitted after Close.
var errClosed = errors.New("store: database closed")

type txRequest struct {
	ctx  context.Context
	fn   func(tx *gorm.DB) error
	done chan error
}

// committer owns SQLite's one writer connection.
type committer struct {
	db       *gorm.DB
	requests chan *txRequest // unbuffered: a send succeeds only while the committer runs
	quit     chan struct{}
	stopped  chan struct{}
}

func newCommitter(db *gorm.DB) *committer {
	c := &committer{db: db, requests: make(chan *txRequest), quit: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// do runs fn in the next group and waits until that group is committed (or failed).
func (c *committer) do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	r := &txRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case c.requests <- r:
	case <-c.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once accepted, the request runs to its end: its outcome must be known before answering.
	return <-r.done
}

func (c *committer) run() {
	defer close(c.stopped)
	for {
		var first *txRequest
		select {
		case first = <-c.requests:
		case <-c.quit:
			return
		}
		group := []*txRequest{first}
	gather:
		for len(group) < maxGroup {
			select {
			case r := <-c.requests:
				group = append(group, r)
			default:
				break gather
			}
		}
		c.commit(group)
	}
}

// commit runs one group in one transaction.
func (c *committer) commit(group []*txRequest) {
	results := make([]error, len(group))
	// The group's statements must not be interrupted by one caller's cancellation: SQLite rolls a
	// whole transaction back when a write statement inside it is interrupted.
	tx := c.db.WithContext(context.Background()).Begin()
	if tx.Error != nil {
		for _, r := range group {
			r.done <- tx.Error
		}
		return
	}
	ok := 0
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		sp := fmt.Sprintf("g%d", i)
		if err := tx.SavePoint(sp).Error; err != nil {
			results[i] = err
			continue
		}
		if err := runGuarded(tx, r.fn); err != nil {
			results[i] = err
			if rerr := tx.RollbackTo(sp).Error; rerr != nil {
				// The transaction is unusable: fail the whole group.
				tx.Rollback()
				for j, r := range group {
					if results[j] == nil {
						// The cause first, so that errors.As classifies by it (a full disk), not by
						// the failed rollback it led to.
						results[j] = fmt.Errorf("group rolled back after %w: %w", err, rerr)
					}
					r.done <- results[j]
				}
				return
			}
			continue
		}
		ok++
	}
	var cerr error
	if ok > 0 {
		cerr = tx.Commit().Error
	} else {
		tx.Rollback()
	}
	for i, r := range group {
		if results[i] == nil && cerr != nil {
			results[i] = cerr
		}
		r.done <- results[i]
	}
}

// runGuarded runs fn, turning a panic into an error so one caller cannot take the group down.
func runGuarded(tx *gorm.DB, fn func(tx *gorm.DB) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in transaction: %v", p)
		}
	}()
	return fn(tx)
}

// close stops the committer after the group in progress.
func (c *committer) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.stopped
}
