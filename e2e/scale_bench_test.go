package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/store"
)

// BenchmarkFinanceScale measures whether finance's reads cost the same however many orders there
// are. It fills a SQLite file with 10,000 orders (two years of them, in USD and KHR, every
// status, one in 200 flagged with MOS's answer beside it, each with its transitions), starts
// mospay on it and takes the p99 of a list page, the review queue and an order's story over the
// admin API; then it grows the same file to MOSPAY_BENCH_SCALE_ORDERS orders (1,000,000 by
// default; 100,000 with -short) and measures again, reporting each p99 as a ratio to the small
// one (the goal: at most 1.5). It prints the query plan of a month's report, and streams the CSV
// of every order, reporting how far the Go heap grew meanwhile. Run it alone:
//
//	go test -run '^$' -bench FinanceScale -benchtime 1x -timeout 60m ./e2e
func BenchmarkFinanceScale(b *testing.B) {
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	if v := os.Getenv("MOSPAY_BENCH_SCALE_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20_000 {
			b.Fatalf("MOSPAY_BENCH_SCALE_ORDERS=%q: want a whole number of at least 20000", v)
		}
		total = n
	}
	const small = 10_000
	for range b.N {
		dir := b.TempDir()
		url := "sqlite:" + filepath.Join(dir, "scale.db")
		seed := &scaleSeed{rng: rand.New(rand.NewPCG(1, 2)), start: time.Now().UTC().AddDate(-2, 0, 0), span: 2 * 365 * 24 * time.Hour}
		seed.fill(b, url, small, total)
		p99Small := measureFinance(b, url, seed, "10k")
		start := time.Now()
		seed.fill(b, url, total-small, total)
		b.Logf("grew the database to %d orders in %s", total, time.Since(start).Round(time.Second))
		p99Big := measureFinance(b, url, seed, "big")
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range p99Small {
				if !yield(k) {
					return
				}
			}
		}) {
			ratio := float64(p99Big[name]) / float64(p99Small[name])
			b.Logf("%-28s p99 %8s with %d orders, %8s with %d: %.2f×", name, p99Small[name].Round(time.Microsecond), small,
				p99Big[name].Round(time.Microsecond), total, ratio)
			b.ReportMetric(ratio, strings.ReplaceAll(name, " ", "-")+"-p99-ratio")
		}
		reportPlan(b, url, seed)
		csvGrowth(b, url, total)
	}
}

// scaleSeed makes the benchmark's orders; its counter continues across fills.
type scaleSeed struct {
	rng         *rand.Rand
	start       time.Time
	span        time.Duration
	n           int
	flagged     []string // outTradeNos of flagged orders
	some        []string // outTradeNos to read stories of
	lastCreated time.Time
}

// fill inserts n more orders (of total) straight into the database, in large transactions: the
// benchmark measures reads, and a million creations through the API would take an hour.
func (s *scaleSeed) fill(b testing.TB, url string, n, total int) {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	conn := db.SQL()
	const batch = 20_000
	for done := 0; done < n; done += batch {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		insOrder := prepare(b, tx, `INSERT INTO orders (out_trade_no, nonce_str, app_key, openid, prepay_id, amount_minor, currency,
			description, status, version, expire_at, created_at, updated_at, paid_at, refunded_at) VALUES (?, ?, 'k', ?, ?, ?, ?, 'bench', ?, ?, ?, ?, ?, ?, ?)`)
		insTr := prepare(b, tx, `INSERT INTO transitions (order_id, version, from_status, to_status, source, reason, created_at)
			VALUES (?, ?, ?, ?, 'reconciler', 'bench', ?)`)
		insFlag := prepare(b, tx, `INSERT INTO order_flags (order_id, flag, note, mos_answer, raised_at) VALUES (?, 'amount_mismatch', 'MOS reports 1.00 USD', 'SUCCESS|1.00|USD', ?)`)
		insQuery := prepare(b, tx, `INSERT INTO mos_queries (order_id, source, mos_status, total_amount, currency, created_at)
			VALUES (?, 'reconciler', 'SUCCESS', '1.00', 'USD', ?)`)
		for i := 0; i < min(batch, n-done); i++ {
			s.n++
			// Creation times run forward through the span, as a real table's do.
			created := s.start.Add(time.Duration(float64(s.span) * float64(s.n) / float64(total)))
			s.lastCreated = created
			no := fmt.Sprintf("bench%027d", s.n)
			cur, minor := "USD", int64(100+s.rng.IntN(100000))
			if s.n%3 == 0 {
				cur, minor = "KHR", int64(1000*(1+s.rng.IntN(400)))
			}
			status := []string{"PAID", "PAID", "PAID", "CLOSED", "FAILED", "PENDING", "REFUNDED"}[s.rng.IntN(7)]
			var paid, refunded any
			if status == "PAID" || status == "REFUNDED" {
				paid = created.Add(time.Minute)
			}
			if status == "REFUNDED" {
				refunded = created.Add(24 * time.Hour)
			}
			version := 2
			if status != "PENDING" {
				version = 3
			}
			res, err := insOrder.ExecContext(ctx, no, "n", fmt.Sprintf("payer%d", s.n%5000), "pp"+no, minor, cur, status, version,
				created.Add(30*time.Minute), created, created, paid, refunded)
			if err != nil {
				b.Fatal(err)
			}
			id, _ := res.LastInsertId()
			mustExec(b, insTr, id, 1, "", "CREATED", created)
			mustExec(b, insTr, id, 2, "CREATED", "PENDING", created)
			if version == 3 {
				mustExec(b, insTr, id, 3, "PENDING", status, created.Add(time.Minute))
			}
			if s.n%200 == 0 {
				mustExec(b, insFlag, id, created.Add(time.Minute))
				mustExec(b, insQuery, id, created.Add(time.Minute))
				s.flagged = append(s.flagged, no)
			}
			if s.rng.IntN(max(1, total/2000)) == 0 {
				s.some = append(s.some, no)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func prepare(b testing.TB, tx *sql.Tx, q string) *sql.Stmt {
	b.Helper()
	st, err := tx.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func mustExec(b testing.TB, st *sql.Stmt, args ...any) {
	b.Helper()
	if _, err := st.Exec(args...); err != nil {
		b.Fatal(err)
	}
}

// measureFinance starts mospay on url and returns the p99 of each read, over 1,000 requests each
// after 100 to warm up, with the garbage of the fill collected first.
func measureFinance(b *testing.B, url string, s *scaleSeed, label string) map[string]time.Duration {
	b.Helper()
	h := apptest.Start(b, apptest.Options{DBURL: url})
	defer h.App.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	reads := map[string]func() string{
		"list first page":     func() string { return "/admin/orders" },
		"list PAID USD":       func() string { return "/admin/orders?status=PAID&currency=USD" },
		"review queue":        func() string { return "/admin/review" },
		"story of an order":   func() string { return "/admin/orders/" + s.some[rng.IntN(len(s.some))] },
		"report of last day":  func() string { return "/admin/reports/reconciliation?from=" + lastDay(s) },
		"list flagged orders": func() string { return "/admin/orders?flag=any" },
	}
	out := map[string]time.Duration{}
	client := &http.Client{Timeout: time.Minute}
	runtime.GC()
	for name, path := range reads {
		var lat []time.Duration
		for i := range 1100 {
			req, _ := http.NewRequest(http.MethodGet, h.URL+path(), nil)
			req.Header.Set("Authorization", "Bearer "+apptest.FinanceToken)
			start := time.Now()
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("%s %s: HTTP %d", label, name, res.StatusCode)
			}
			if i >= 100 {
				lat = append(lat, time.Since(start))
			}
		}
		slices.Sort(lat)
		out[name] = lat[len(lat)*99/100]
	}
	return out
}

func lastDay(s *scaleSeed) string {
	return s.lastCreated.AddDate(0, 0, -1).Format(time.RFC3339)
}

// reportPlan prints SQLite's plan for a month's report: it must read the month's rows through
// the creation index, not the table.
func reportPlan(b *testing.B, url string, s *scaleSeed) {
	b.Helper()
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	from := s.lastCreated.AddDate(0, -1, 0)
	rows, err := db.SQL().Query(`EXPLAIN QUERY PLAN SELECT currency, status, COUNT(*) AS count, COALESCE(SUM(amount_minor), 0) AS minor
		FROM orders WHERE created_at >= ? AND created_at < ? GROUP BY currency, status ORDER BY currency, status`, from, s.lastCreated)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, detail)
	}
	b.Logf("query plan of a month's report:\n  %s", strings.Join(plan, "\n  "))
	if !strings.Contains(strings.Join(plan, " "), "USING INDEX orders_created") {
		b.Errorf("a month's report does not read through the creation index: %v", plan)
	}
	var inMonth int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM orders WHERE created_at >= ? AND created_at < ?`, from, s.lastCreated).Scan(&inMonth); err != nil {
		b.Fatal(err)
	}
	b.Logf("the month holds %d of the %d orders", inMonth, s.n)
}

// csvGrowth streams the CSV of every order and reports how far the Go heap grew above where it
// was before (sampled every 5 ms), and how long the download took.
func csvGrowth(b *testing.B, url string, total int) {
	b.Helper()
	h := apptest.Start(b, apptest.Options{DBURL: url})
	defer h.App.Close()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	before := heap()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := heap(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/admin/orders.csv", nil)
	req.Header.Set("Authorization", "Bearer "+apptest.FinanceToken)
	start := time.Now()
	res, err := (&http.Client{Timeout: 30 * time.Minute}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	close(stop)
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("csv: HTTP %d, %v", res.StatusCode, err)
	}
	growth := float64(int64(peak.Load())-int64(before)) / (1 << 20)
	b.Logf("CSV of %d orders: %.1f MB in %s; Go heap grew by at most %.1f MB while it streamed", total, float64(n)/1e6,
		time.Since(start).Round(100*time.Millisecond), growth)
	b.ReportMetric(growth, "csv-heap-growth-MB")
	if growth >= 50 {
		b.Errorf("the heap grew %.1f MB streaming the CSV; the goal is under 50", growth)
	}
}
