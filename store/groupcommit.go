package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// Group commit. With synchronous=FULL every SQLite commit waits for an fsync, and SQLite has one
// writer at a time, so one transaction per request caps durable writes at one fsync each. The
// committer instead takes every transaction that is waiting, runs them all in one shared SQLite
// transaction, commits that once (one fsync), and only then answers each caller. No caller is
// told "done" before its rows are durable, so nothing acknowledged can be lost.
//
// One caller's failure must not fail the others. The committer first runs the group as it is:
// nearly always every caller succeeds, and the group commits. When one fails, the transaction is
// rolled back whole and the group runs again with each caller inside a SAVEPOINT of its own, so
// that the one that fails is rolled back to its savepoint alone and the others still commit.
// Savepoints are not the first try because they are dear: SQLite copies every page a savepoint
// changes first into its sub-journal, and with them a paid notification's write cost a third
// more (BenchmarkPaidSave).

// maxGroup bounds one group, so one commit's latency stays small.
const maxGroup = 128

// errClosed answers transactions submitted after Close.
var errClosed = errors.New("store: database closed")

type txRequest struct {
	ctx  context.Context
	fn   func(tx *gorm.DB) error
	done chan error
}

// committer owns SQLite's one writer connection: one loop takes the waiting transactions as a
// group and commits them.
type committer struct {
	db *gorm.DB
	*groups[*txRequest]
}

func newCommitter(db *gorm.DB) *committer {
	c := &committer{db: db}
	c.groups = startGroups(1, maxGroup, c.commit)
	return c
}

// do runs fn in the next group and waits until that group is committed (or failed).
func (c *committer) do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	r := &txRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	return c.submit(ctx, r, r.done)
}

// groups hands concurrent callers' work to loops that each take whatever is waiting as one
// group: SQLite's committer (one loop) and PostgreSQL's batcher (several).
type groups[T any] struct {
	requests chan T // unbuffered: a send succeeds only while a loop runs
	quit     chan struct{}
	stopped  chan struct{}
}

// startGroups runs loops loops until close, each handing work groups of at most most to work.
func startGroups[T any](loops, most int, work func([]T)) *groups[T] {
	g := &groups[T]{requests: make(chan T), quit: make(chan struct{}), stopped: make(chan struct{})}
	var running sync.WaitGroup
	for range loops {
		running.Go(func() {
			for {
				select {
				case first := <-g.requests:
					work(gather(first, g.requests, most))
				case <-g.quit:
					return
				}
			}
		})
	}
	go func() { running.Wait(); close(g.stopped) }()
	return g
}

// submit hands r to a loop and waits for its outcome on done, unless the loops have quit or ctx
// ends before r is taken. Once taken, r runs to its end: its outcome must be known before
// answering.
func (g *groups[T]) submit(ctx context.Context, r T, done <-chan error) error {
	select {
	case g.requests <- r:
	case <-g.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-done
}

// close stops the loops after the groups in progress.
func (g *groups[T]) close() {
	select {
	case <-g.quit:
	default:
		close(g.quit)
	}
	<-g.stopped
}

// gather is first and whatever else is waiting on more, up to most in all: a group takes no
// more time to form than there is work waiting.
func gather[T any](first T, more <-chan T, most int) []T {
	group := []T{first}
	for len(group) < most {
		select {
		case r := <-more:
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

// commit runs one group in one transaction: as it is, or, when a caller fails, again with a
// savepoint for each.
func (c *committer) commit(group []*txRequest) {
	if c.together(group) {
		return
	}
	c.withSavepoints(group)
}

// together runs the group in one transaction without savepoints and answers every caller, unless
// one of several fails: it then rolls the transaction back, answers no one, and reports false.
func (c *committer) together(group []*txRequest) bool {
	tx := c.db.WithContext(context.Background()).Begin()
	if tx.Error != nil {
		return false
	}
	results := make([]error, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if err := runGuarded(tx, r.fn); err != nil {
			tx.Rollback()
			if len(group) > 1 {
				return false
			}
			r.done <- err
			return true
		}
	}
	err := tx.Commit().Error
	for i, r := range group {
		if results[i] == nil {
			results[i] = err
		}
		r.done <- results[i]
	}
	return true
}

// withSavepoints runs one group in one transaction, each caller in a savepoint of its own.
func (c *committer) withSavepoints(group []*txRequest) {
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
