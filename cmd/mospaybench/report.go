package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
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

// turn is one turn's outcome of a timed scenario.
type turn struct {
	stats stats
	note  string
	// profile is the CPU profile of mospay taken during this turn (with -profile), if any.
	profile string
	// lastEvent is, for the order events, how long after the load the last one arrived.
	lastEvent *time.Duration
}

// row is one timed scenario, with each turn's outcome.
type row struct {
	name  string
	turns []turn
	// plain, for the scenarios with event endpoints, is the same scenario's row without them: its
	// ratio ends the note.
	plain string
}

// median is the turn with the median throughput (of an even number, the lower of the middle
// two); its latencies come with it.
func (x *row) median() turn {
	idx := make([]int, len(x.turns))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(x.turns[a].stats.Throughput(), x.turns[b].stats.Throughput())
	})
	return x.turns[idx[(len(idx)-1)/2]]
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
	rows    []*row
	memory  *memoryRow
	notes   []string // printed under the table
}

// add records a turn of scenario name; a row's first turn puts it in the table.
func (r *report) add(name string, t turn) {
	if r.when.IsZero() {
		r.when = time.Now().UTC()
	}
	if x := r.row(name); x != nil {
		x.turns = append(x.turns, t)
		return
	}
	r.rows = append(r.rows, &row{name: name, turns: []turn{t}})
}

// compare ends row name's note with its ratio to row plain (the same scenario without endpoints).
func (r *report) compare(name, plain string) {
	if x := r.row(name); x != nil {
		x.plain = plain
	}
}

func (r *report) row(name string) *row {
	for _, x := range r.rows {
		if x.name == name {
			return x
		}
	}
	return nil
}

// throughput is the median throughput of row name; 0 when it did not run.
func (r *report) throughput(name string) float64 {
	if x := r.row(name); x != nil {
		return x.median().stats.Throughput()
	}
	return 0
}

// ratioColumns are the baselines every row is a ratio to, as named in the table and the JSON.
var ratioColumns = []struct{ name, row string }{
	{"echo trivial", rowTrivial},
	{"bare durable", rowBare},
	{"bare non-durable", rowBareNonDurable},
}

// plainRatio is the name, in the JSON, of a row's ratio to the same scenario without endpoints.
const plainRatio = "same without endpoints"

// line is one row as printed: the median turn, the ratios and the whole note.
type line struct {
	name    string
	turn    turn
	tput    float64
	ratios  []float64 // per ratioColumns; -1 where the baseline did not run
	plain   float64   // ratio to the same scenario without endpoints; -1 if none
	note    string
	allTput []float64 // every turn's throughput, in the order run
	// cpu and serveCPU are the machine's and mospay's CPU per 2xx answer in µs; -1 unmeasured.
	cpu, serveCPU float64
}

func (r *report) lines() []line {
	bases := make([]float64, len(ratioColumns))
	for i, c := range ratioColumns {
		bases[i] = r.throughput(c.row)
	}
	out := make([]line, 0, len(r.rows))
	for _, x := range r.rows {
		t := x.median()
		l := line{name: x.name, turn: t, tput: t.stats.Throughput(), note: t.note, plain: -1}
		for _, b := range bases {
			l.ratios = append(l.ratios, quotient(l.tput, b))
		}
		if x.plain != "" {
			if l.plain = quotient(l.tput, r.throughput(x.plain)); l.plain >= 0 {
				l.note += fmt.Sprintf("; %.2f× the same without endpoints", l.plain)
			}
		}
		l.cpu, l.serveCPU = perAnswer(t.stats.CPU.Machine, t.stats.OK), perAnswer(t.stats.CPU.Serve, t.stats.OK)
		if l.cpu >= 0 {
			l.note += fmt.Sprintf("; CPU per answer %s µs", thousands(int64(l.cpu+0.5)))
			if l.serveCPU >= 0 {
				l.note += fmt.Sprintf(" (mospay's %s, %.0f%%)", thousands(int64(l.serveCPU+0.5)), 100*l.serveCPU/l.cpu)
			}
		}
		for _, t := range x.turns {
			l.allTput = append(l.allTput, t.stats.Throughput())
		}
		out = append(out, l)
	}
	return out
}

// Markdown is the table, then the machine and settings it was measured with.
func (r *report) Markdown() string {
	var b strings.Builder
	b.WriteString("| scenario | req/s |")
	for _, c := range ratioColumns {
		b.WriteString(" × " + c.name + " |")
	}
	b.WriteString(" p50 | p99 | requests | errors | notes |\n|---|--:|")
	b.WriteString(strings.Repeat("--:|", len(ratioColumns)))
	b.WriteString("--:|--:|--:|--:|---|\n")
	for _, l := range r.lines() {
		st := l.turn.stats
		fmt.Fprintf(&b, "| %s | %s |", l.name, thousands(int64(l.tput+0.5)))
		for _, q := range l.ratios {
			fmt.Fprintf(&b, " %s |", ratioText(q))
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s | %s |\n", ms(st.P50), ms(st.P99),
			thousands(int64(st.Requests)), thousands(int64(st.Errors)), l.note)
	}
	if m := r.memory; m != nil {
		fmt.Fprintf(&b, "| %s |%s | | | | VmRSS %.1f MiB, peak VmHWM %.1f MiB |\n",
			r.memoryName(), strings.Repeat(" |", 1+len(ratioColumns)), mib(m.serve.RSS), mib(m.serve.Peak))
	}
	fmt.Fprintf(&b, "\n%d concurrent clients (vegeta, closed loop, no rate limit), %s per scenario, %s; throughput counts 2xx answers; errors are non-2xx or transport failures.\n",
		r.opts.concurrency, r.opts.duration, turnsText(r.opts.turns))
	if r.opts.run != nil {
		fmt.Fprintf(&b, "Only mospay's scenarios matching `-run '%s'` ran (the baselines always run).\n", r.opts.run.String())
	}
	for _, n := range r.notes {
		fmt.Fprintln(&b, n)
	}
	fmt.Fprintf(&b, "Machine: nproc %d, %s, %s; %s; measured %s.\n",
		r.machine.NProc, r.machine.CPU, r.machine.Go, r.machine.Mospay, r.when.Format("2006-01-02 15:04 UTC"))
	return b.String()
}

func turnsText(n int) string {
	if n == 1 {
		return "one turn"
	}
	return fmt.Sprintf("median of %d turns (by req/s; each row's p50 and p99 are from that same turn; the baselines and mospay's scenarios take turns)", n)
}

func (r *report) memoryName() string {
	m := r.memory
	return fmt.Sprintf("%s after %s orders (%s)", rowMemory, thousands(m.orders), m.database)
}

// jsonRow is one row of the table for a script: null where the table's cell is empty.
type jsonRow struct {
	Scenario  string   `json:"scenario"`
	ReqPerSec *float64 `json:"reqPerSec"`
	P50Ms     *float64 `json:"p50Ms"`
	P99Ms     *float64 `json:"p99Ms"`
	Requests  *int     `json:"requests"`
	Errors    *int     `json:"errors"`
	Notes     string   `json:"notes"`
	// Ratios are this row's throughput over each baseline's ("echo trivial", "bare durable",
	// "bare non-durable"), and, with event endpoints, over the same scenario's without them
	// ("same without endpoints"); a baseline that did not run has no entry.
	Ratios map[string]float64 `json:"ratios"`
	// TurnsReqPerSec is every turn's throughput, in the order they ran.
	TurnsReqPerSec []float64 `json:"turnsReqPerSec,omitempty"`
	// LastEventAfterLoadS is, for the order events, how long after the load the last one arrived.
	LastEventAfterLoadS *float64 `json:"lastEventAfterLoadS,omitempty"`
	// CPUUsPerAnswer is the CPU time the whole machine was busy per 2xx answer, in µs, and
	// ServeCPUUsPerAnswer mospay's own share of it (mospay's scenarios).
	CPUUsPerAnswer      *float64 `json:"cpuUsPerAnswer,omitempty"`
	ServeCPUUsPerAnswer *float64 `json:"serveCpuUsPerAnswer,omitempty"`
	// The memory row's figures.
	Orders   *int64   `json:"orders,omitempty"`
	VmRSSMiB *float64 `json:"vmRSSMiB,omitempty"`
	VmHWMMiB *float64 `json:"vmHWMMiB,omitempty"`
}

// JSON is every row of the table, as an array of jsonRow.
func (r *report) JSON() ([]byte, error) {
	rows := []jsonRow{}
	for _, l := range r.lines() {
		st := l.turn.stats
		j := jsonRow{
			Scenario: l.name, ReqPerSec: ptr(round(l.tput, 1)), Requests: ptr(st.Requests), Errors: ptr(st.Errors),
			Notes: l.note, Ratios: map[string]float64{},
		}
		if st.P50 > 0 || st.P99 > 0 {
			j.P50Ms, j.P99Ms = ptr(round(millis(st.P50), 3)), ptr(round(millis(st.P99), 3))
		}
		for i, q := range l.ratios {
			if q >= 0 {
				j.Ratios[ratioColumns[i].name] = round(q, 4)
			}
		}
		if l.plain >= 0 {
			j.Ratios[plainRatio] = round(l.plain, 4)
		}
		for _, v := range l.allTput {
			j.TurnsReqPerSec = append(j.TurnsReqPerSec, round(v, 1))
		}
		if d := l.turn.lastEvent; d != nil {
			j.LastEventAfterLoadS = ptr(round(d.Seconds(), 3))
		}
		if l.cpu >= 0 {
			j.CPUUsPerAnswer = ptr(round(l.cpu, 1))
		}
		if l.serveCPU >= 0 {
			j.ServeCPUUsPerAnswer = ptr(round(l.serveCPU, 1))
		}
		rows = append(rows, j)
	}
	if m := r.memory; m != nil {
		rows = append(rows, jsonRow{
			Scenario: r.memoryName(), Notes: fmt.Sprintf("VmRSS %.1f MiB, peak VmHWM %.1f MiB", mib(m.serve.RSS), mib(m.serve.Peak)),
			Ratios: map[string]float64{}, Orders: ptr(m.orders),
			VmRSSMiB: ptr(round(mib(m.serve.RSS), 1)), VmHWMMiB: ptr(round(mib(m.serve.Peak), 1)),
		})
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func ptr[T any](v T) *T { return &v }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// quotient is v/base, or -1 when there is no base.
func quotient(v, base float64) float64 {
	if base <= 0 {
		return -1
	}
	return v / base
}

func ratioText(q float64) string {
	if q < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", q)
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ms is a latency for the table; empty for a row that measures none (the order events).
func ms(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f ms", millis(d))
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
