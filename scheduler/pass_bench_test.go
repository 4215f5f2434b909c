package scheduler_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/store/pgtest"
)

// benchOrdersDefault is how many due orders one pass goes over, unless MOSPAY_BENCH_ORDERS says
// otherwise (1000 with -short).
const benchOrdersDefault = 100_000

// BenchmarkPass times one reconciliation pass over N due PENDING orders, all known to the MOS
// sandbox (half of them paid there, without a notification), on SQLite and on PostgreSQL, with
// a rate limit high enough not to be the bound (100,000/s, 32 in flight). Both databases are
// durable: SQLite with synchronous=FULL, PostgreSQL started for the benchmark with fsync and
// synchronous commit on (the tests' server turns them off). The "notdue" runs add 4N PAID orders
// whose next refund check is a week away: a pass must cost the same with them (it reads only the
// due index's range). It reports orders/s and memory: the peak Go heap in use during the pass,
// its growth over the heap before the pass, and the process's peak resident set (VmHWM, which
// includes the setup and the sandbox, since the sandbox runs in this process). Each op is one
// whole pass; run it with -benchtime=1x:
//
//	MOSPAY_BENCH_ORDERS=100000 go test -run '^$' -bench Pass -benchtime=1x -timeout 60m ./scheduler
func BenchmarkPass(b *testing.B) {
	n := benchOrders(b)
	b.Run("sqlite", func(b *testing.B) {
		benchPass(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), n, 0)
	})
	b.Run("sqlite-notdue", func(b *testing.B) {
		benchPass(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), n, 4*n)
	})
	if pgtest.Shared() == nil {
		pgtest.Require(b) // skips, or fails in CI
		return
	}
	pg, err := pgtest.StartDurable(context.Background(), b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			b.Error(err)
		}
	}()
	for i, notDue := range []int{0, 4 * n} {
		name := "postgres"
		if notDue > 0 {
			name += "-notdue"
		}
		b.Run(name, func(b *testing.B) {
			dsn, err := pg.CreateDB(context.Background(), fmt.Sprintf("bench%d", i))
			if err != nil {
				b.Fatal(err)
			}
			benchPass(b, dsn, n, notDue)
		})
	}
}

// benchOrders reads MOSPAY_BENCH_ORDERS.
func benchOrders(b *testing.B) int {
	b.Helper()
	if v := os.Getenv("MOSPAY_BENCH_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			b.Fatalf("MOSPAY_BENCH_ORDERS=%q: want a whole number of at least 2", v)
		}
		return n
	}
	if testing.Short() {
		return 1000
	}
	return benchOrdersDefault
}

// benchPass prepares n due orders on dsn and times b.N passes over them, making them all due
// again (and unpaid in mospay) between passes.
func benchPass(b *testing.B, dsn string, n, notDue int) {
	ctx := context.Background()
	// mospay as serve assembles it, with the pass's bounds lifted: 32 in flight, no rate limit
	// to speak of.
	st := apptest.Start(b, apptest.Options{DBURL: dsn, Config: func(c *app.Config) {
		c.ReconcileConc, c.ReconcileRate = 32, 100_000
	}})
	w := newBenchMOS(st)
	db := st.DB

	start := time.Now()
	orders := w.prepay(b, n)
	paid := w.payHalf(b, orders)
	b.Logf("sandbox: %d orders prepaid, %d paid, in %s", n, paid, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	now := time.Now().UTC()
	benchInsert(b, db, w.appKey, orders, order.StatusPending, now.Add(-time.Minute), nil)
	b.Logf("%s: %d due orders inserted in %s", db.Dialect, n, time.Since(start).Round(time.Millisecond))
	if notDue > 0 {
		start = time.Now()
		paidAt := now.Add(-2 * 24 * time.Hour)
		benchInsert(b, db, w.appKey, notDueOrders(notDue), order.StatusPaid, now.Add(7*24*time.Hour), &paidAt)
		b.Logf("%s: %d PAID orders not due for a week inserted in %s", db.Dialect, notDue, time.Since(start).Round(time.Millisecond))
	}

	sched := st.App.Reconciler()

	var elapsed time.Duration
	var peak, growth uint64
	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			b.StopTimer()
			benchReset(b, db)
			b.StartTimer()
		}
		mem := startHeapSampler()
		t0 := time.Now()
		sum, err := sched.Pass(ctx)
		elapsed += time.Since(t0)
		p, g := mem.stop()
		peak, growth = max(peak, p), max(growth, g)
		if err != nil {
			b.Fatalf("pass: %v (%s)", err, sum)
		}
		if sum.Checked != n || sum.Errors != 0 || sum.Changed[order.StatusPaid] != paid || len(sum.Changed) != 1 {
			b.Fatalf("pass: %s; want %d checked, %d changed to PAID, no errors", sum, n, paid)
		}
		b.Logf("%s: %s", db.Dialect, sum)
	}
	b.StopTimer()
	const mib = 1 << 20
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(float64(peak)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(growth)/mib, "pass-heap-MiB")
	if hwm, err := vmHWM(); err == nil {
		b.ReportMetric(float64(hwm)/mib, "VmHWM-MiB")
	}
}

// benchMOS is the stack's sandbox as the benchmark uses it: a MOS client of the stack's
// mini-app, to prepay orders the way mospay would.
type benchMOS struct {
	sandboxURL string
	client     *mos.Client
	notify     string
	appKey     string
}

func newBenchMOS(st *apptest.Stack) *benchMOS {
	return &benchMOS{
		sandboxURL: st.SandboxURL,
		client:     mos.NewClient(mos.Config{BaseURL: st.SandboxURL, AppKey: st.AppKey, AppSecret: st.Secret, MchID: st.MchID}),
		notify:     st.App.NotifyURL(),
		appKey:     st.AppKey,
	}
}

// benchOrder is one order as both sides know it.
type benchOrder struct {
	outTradeNo, nonce, prepayID, openid string
	expire                              time.Time
}

// benchAmount is every benchmark order's amount: USD 1.50.
var benchAmount = money.Amount{Minor: 150, Currency: money.USD}

// benchDesc is every benchmark order's description.
const benchDesc = "bench"

// prepay registers n orders with the sandbox through the MOS client, 16 at a time.
func (w *benchMOS) prepay(b *testing.B, n int) []benchOrder {
	b.Helper()
	orders := make([]benchOrder, n)
	expire := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	benchParallel(b, n, 16, func(i int) error {
		o := benchOrder{outTradeNo: order.NewOutTradeNo(), nonce: order.NewNonce(),
			openid: "bench-user-" + strconv.Itoa(i%1000), expire: expire}
		res, err := w.client.Prepay(context.Background(), mos.PrepayRequest{
			NonceStr: o.nonce, Desc: benchDesc, OutTradeNo: o.outTradeNo, Currency: benchAmount.Currency,
			TotalAmount: money.Format(benchAmount.Minor, benchAmount.Currency), NotifyURL: w.notify,
			OpenID: o.openid, ExpireTime: o.expire,
		})
		if err != nil {
			return fmt.Errorf("prepay %d: %w", i, err)
		}
		o.prepayID = res.PrepayID
		orders[i] = o
		return nil
	})
	return orders
}

// payHalf marks every other order SUCCESS at the sandbox without a notification (PATCH), so
// that only the pass can find out; it returns how many.
func (w *benchMOS) payHalf(b *testing.B, orders []benchOrder) int {
	b.Helper()
	paid := (len(orders) + 1) / 2
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	benchParallel(b, paid, 16, func(i int) error {
		req, err := http.NewRequest(http.MethodPatch, w.sandboxURL+"/sandbox/orders/"+orders[2*i].outTradeNo,
			strings.NewReader(`{"status":"SUCCESS"}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("PATCH order %d: HTTP %d %s", 2*i, res.StatusCode, body)
		}
		return nil
	})
	return paid
}

// benchParallel runs f(0..n-1) on workers goroutines; the first error fails the benchmark.
func benchParallel(b *testing.B, n, workers int, f func(i int) error) {
	b.Helper()
	next := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// benchColumns are the orders columns the benchmark fills; the rest take their defaults.
var benchColumns = []string{"out_trade_no", "nonce_str", "app_key", "openid", "prepay_id", "amount_minor", "currency",
	"description", "status", "version", "sandbox", "request_hash", "expire_at", "next_check_at", "check_attempts",
	"paid_at", "created_at", "updated_at"}

// notDueOrders makes n orders MOS never hears of (they are never due in the benchmark).
func notDueOrders(n int) []benchOrder {
	orders := make([]benchOrder, n)
	expire := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range orders {
		orders[i] = benchOrder{outTradeNo: order.NewOutTradeNo(), nonce: order.NewNonce(), prepayID: "pp-not-due",
			openid: "bench-user-" + strconv.Itoa(i%1000), expire: expire}
	}
	return orders
}

// benchInsert writes the orders as rows of status, next checked at due, straight through
// database/sql, 500 rows a statement and 10,000 a transaction. Their transitions are left out:
// the pass never reads them, and the version (2, as after CREATED and PENDING) keeps the PAID one
// unique.
func benchInsert(b *testing.B, db *store.DB, appKey string, orders []benchOrder, status order.Status, due time.Time, paidAt *time.Time) {
	b.Helper()
	const perStmt, perTx = 500, 10_000
	now := time.Now().UTC()
	created := now.Add(-2 * time.Minute)
	for lo := 0; lo < len(orders); lo += perTx {
		tx, err := db.SQL().Begin()
		if err != nil {
			b.Fatal(err)
		}
		for s := lo; s < min(lo+perTx, len(orders)); s += perStmt {
			chunk := orders[s:min(s+perStmt, lo+perTx, len(orders))]
			var q strings.Builder
			q.WriteString("INSERT INTO orders (" + strings.Join(benchColumns, ", ") + ") VALUES ")
			args := make([]any, 0, len(chunk)*len(benchColumns))
			for i, o := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(")
				for j := range benchColumns {
					if j > 0 {
						q.WriteString(", ")
					}
					q.WriteString(benchPlaceholder(db, len(args)+j+1))
				}
				q.WriteString(")")
				args = append(args, o.outTradeNo, o.nonce, appKey, o.openid, o.prepayID, benchAmount.Minor,
					string(benchAmount.Currency), benchDesc, string(status), 2, true, "",
					o.expire.UTC(), due, 0, paidAt, created, created)
			}
			if _, err := tx.Exec(q.String(), args...); err != nil {
				_ = tx.Rollback()
				b.Fatalf("insert orders: %v", err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPlaceholder is the n-th bind parameter in the database's syntax.
func benchPlaceholder(db *store.DB, n int) string {
	if db.Dialect == store.Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// benchReset makes every order the pass checked due and PENDING again, forgetting what it wrote.
func benchReset(b *testing.B, db *store.DB) {
	b.Helper()
	due := time.Now().UTC().Add(-time.Minute)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"DELETE FROM transitions", nil},
		{"DELETE FROM mos_queries", nil},
		{"UPDATE orders SET status = 'PENDING', version = 2, check_attempts = 0, lease_owner = NULL, lease_until = NULL, paid_at = NULL, next_check_at = " +
			benchPlaceholder(db, 1) + " WHERE prepay_id <> 'pp-not-due'", []any{due}},
	} {
		if _, err := db.SQL().Exec(q.sql, q.args...); err != nil {
			b.Fatalf("%s: %v", q.sql, err)
		}
	}
}

// heapSampler records the largest HeapInuse seen while a pass runs.
type heapSampler struct {
	base uint64
	peak uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := &heapSampler{base: ms.HeapInuse, peak: ms.HeapInuse, done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				s.peak = max(s.peak, ms.HeapInuse)
			}
		}
	})
	return s
}

// stop ends the sampling and returns the peak heap in use and its growth over the start.
func (s *heapSampler) stop() (peak, growth uint64) {
	close(s.done)
	s.wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.peak = max(s.peak, ms.HeapInuse)
	return s.peak, s.peak - s.base
}

// vmHWM is this process's peak resident set size, from /proc/self/status.
func vmHWM() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no VmHWM line")
}
