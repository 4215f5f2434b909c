package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// machine is what a table was measured on; figures mean little without it.
type machine struct {
	NProc  int
	CPU    string
	Go     string
	Mospay string
}

// row is one timed scenario.
type row struct {
	name  string
	stats stats
	note  string
}

// memoryRow is mospay's memory once its database holds orders orders.
type memoryRow struct {
	orders   int64
	database string
	serve    memory
}

// report is the run's outcome, printed as one markdown table.
type report struct {
	opts    options
	machine machine
	when    time.Time
	rows    []row
	memory  *memoryRow
	notes   []string // printed under the table
}

func (r *report) add(name string, st stats, note string) {
	if r.when.IsZero() {
		r.when = time.Now().UTC()
	}
	r.rows = append(r.rows, row{name: name, stats: st, note: note})
}

func (r *report) throughput(name string) float64 {
	for _, x := range r.rows {
		if x.name == name {
			return x.stats.Throughput()
		}
	}
	return 0
}

// Markdown is the table, then the machine and settings it was measured with.
func (r *report) Markdown() string {
	trivial, bare := r.throughput(rowTrivial), r.throughput(rowBare)
	var b strings.Builder
	b.WriteString("| scenario | req/s | × echo trivial | × bare durable | p50 | p99 | requests | errors | notes |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, x := range r.rows {
		st := x.stats
		tp := st.Throughput()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.name,
			thousands(int64(tp+0.5)), ratio(tp, trivial), ratio(tp, bare), ms(st.P50), ms(st.P99),
			thousands(int64(st.Requests)), thousands(int64(st.Errors)), x.note)
	}
	if m := r.memory; m != nil {
		fmt.Fprintf(&b, "| %s after %s orders (%s) | | | | | | | | VmRSS %.1f MiB, peak VmHWM %.1f MiB |\n",
			rowMemory, thousands(m.orders), m.database, mib(m.serve.RSS), mib(m.serve.Peak))
	}
	fmt.Fprintf(&b, "\n%d concurrent clients (vegeta, closed loop, no rate limit), %s per scenario; throughput counts 2xx answers; errors are non-2xx or transport failures.\n",
		r.opts.concurrency, r.opts.duration)
	for _, n := range r.notes {
		fmt.Fprintln(&b, n)
	}
	fmt.Fprintf(&b, "Machine: nproc %d, %s, %s; %s; measured %s.\n",
		r.machine.NProc, r.machine.CPU, r.machine.Go, r.machine.Mospay, r.when.Format("2006-01-02 15:04 UTC"))
	return b.String()
}

func ratio(v, base float64) string {
	if base <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v/base)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// thousands writes n with a comma between each group of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
