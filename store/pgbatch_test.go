package store

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// TestBatchFailsAlone: a batch one of whose statements fails commits nothing, and its
// statements then run one by one, so that only the failing one fails; the connection it ran on
// goes back to the pool usable (not inside the aborted transaction).
func TestBatchFailsAlone(t *testing.T) {
	db := openMigrated(t, pgtest.NewDB(t))
	ctx := context.Background()
	if _, err := db.SQL().Exec(`CREATE TABLE batch_probe (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	stmt := func(k string) *pgStatement {
		var got string
		return &pgStatement{ctx: ctx, sql: `INSERT INTO batch_probe (k) VALUES ($1) RETURNING k`, args: []any{k},
			dst: []any{&got}, done: make(chan error, 1)}
	}
	count := func() (n int) {
		t.Helper()
		if err := db.SQL().QueryRow(`SELECT count(*) FROM batch_probe`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := db.batch.do(ctx, `INSERT INTO batch_probe (k) VALUES ($1) RETURNING k`, []any{"taken"}, new(string)); err != nil {
		t.Fatal(err)
	}

	batch := []*pgStatement{stmt("a"), stmt("taken"), stmt("b")}
	if _, err := db.batch.together(batch); err == nil {
		t.Fatal("a batch with a duplicate key committed")
	}
	if n := count(); n != 1 {
		t.Fatalf("after the failed batch %d rows, want the 1 from before: it must commit nothing", n)
	}
	// Every connection of the pool answers, and none is left inside a transaction.
	conns := make([]*sql.Conn, 16)
	for i := range conns {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var idleInTx int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idleInTx); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if idleInTx != 0 {
			t.Fatalf("%d connections were left inside a transaction", idleInTx)
		}
		conns[i] = c
	}
	for _, c := range conns {
		_ = c.Close()
	}

	batch = []*pgStatement{stmt("a"), stmt("taken"), stmt("b")}
	db.batch.send(batch)
	for i, want := range []bool{true, false, true} {
		err := <-batch[i].done
		if (err == nil) != want {
			t.Errorf("statement %d: err %v, want success %v", i, err, want)
		}
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows, want 3 (taken, a, b)", n)
	}
}

// TestBatchedCreatesAndSaves: many concurrent one-statement writes on PostgreSQL (creates, then a
// save of each, two of them racing on one order) come out as if each were its own transaction.
func TestBatchedCreatesAndSaves(t *testing.T) {
	db := openMigrated(t, pgtest.NewDB(t))
	ctx := context.Background()
	const n = 96
	orders := make([]*order.Order, n)
	var wg sync.WaitGroup
	for i := range orders {
		orders[i] = newOrder(i+1, "u1")
		wg.Go(func() {
			if err := db.CreateOrder(ctx, orders[i], order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0}); err != nil {
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	// A repeat of an existing outTradeNo among them fails, alone.
	dup := newOrder(1, "u1")
	wg.Wait()
	if err := db.CreateOrder(ctx, dup, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0}); err == nil {
		t.Fatal("a second order with the same outTradeNo was created")
	}
	var saved sync.WaitGroup
	var mu sync.Mutex
	wins := map[int]int{}
	for i, o := range orders {
		for range 2 {
			saved.Go(func() {
				_, err := db.Save(ctx, order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPending, PrepayID: "pp"},
					Observation: order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI}, At: t0})
				if err == nil {
					mu.Lock()
					wins[i]++
					mu.Unlock()
				} else if order.ErrorCode(err) != order.ECONFLICT {
					t.Errorf("save %d: %v", i, err)
				}
			})
		}
	}
	saved.Wait()
	for i := range orders {
		if wins[i] != 1 {
			t.Errorf("order %d saved %d times, want once (the other write is stale)", i, wins[i])
		}
	}
	var rows int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM transitions`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2*n {
		t.Errorf("%d transitions, want %d (a create and one save of each order)", rows, 2*n)
	}
}
