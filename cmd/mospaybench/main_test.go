package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSuiteSmoke runs the whole suite end to end with tiny settings: it builds mospay, starts
// the sandbox and serve, and must print a table with every row, each timed scenario having
// answered at least one request successfully; -json must hold the same rows, and -profile a CPU
// profile of each of mospay's scenarios.
func TestSuiteSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	out, jsonOut, profiles := filepath.Join(tmp, "table.md"), filepath.Join(tmp, "rows.json"), filepath.Join(tmp, "prof")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-quick", "-duration", "1s", "-orders", "300", "-out", out, "-json", jsonOut, "-profile", profiles}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, stdout.Bytes()) {
		t.Errorf("-out file differs from what was printed")
	}
	rows := map[string][]string{}
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[0]] = cells
	}
	names := []string{rowTrivial, rowBare, rowBareNonDurable}
	dbs := []database{{name: "SQLite"}, {name: "PostgreSQL"}}
	if strings.Contains(stdout.String(), "PostgreSQL rows left out") {
		if os.Getenv("CI") != "" || os.Getenv("MOSPAY_REQUIRE_POSTGRES") != "" {
			t.Errorf("PostgreSQL is required here, but the bench left it out:\n%s", stdout.String())
		}
		dbs = dbs[:1]
	}
	for _, db := range dbs {
		names = append(names, db.row(rowCreate), db.row(rowNotify), db.row(rowGet))
	}
	ev := database{name: "SQLite, 2 event endpoints"}
	names = append(names, ev.row(rowCreate), ev.row(rowNotify), ev.row(rowEvents))
	for _, name := range names {
		cells, ok := rows[name]
		if !ok {
			t.Errorf("no row %q in\n%s", name, stdout.String())
			continue
		}
		requests, errs := number(t, cells[7]), number(t, cells[8])
		if requests == 0 || errs >= requests {
			t.Errorf("%s: %d requests, %d errors", name, requests, errs)
		}
		if number(t, cells[1]) == 0 {
			t.Errorf("%s: zero throughput", name)
		}
		// Each timed scenario says what it cost the machine per answer, and mospay's what it
		// cost mospay; the order events' row times no load of its own.
		want := "CPU per answer "
		if name != ev.row(rowEvents) && !strings.Contains(cells[9], want) {
			t.Errorf("%s: the note does not say the CPU per answer: %q", name, cells[9])
		}
		mospays := !slices.Contains([]string{rowTrivial, rowBare, rowBareNonDurable, ev.row(rowEvents)}, name)
		if shown := strings.Contains(cells[9], "(mospay's "); shown != mospays {
			t.Errorf("%s: mospay's own CPU shown %v, want %v: %q", name, shown, mospays, cells[9])
		}
	}
	// The scenarios alone may create more than 300 orders; the row names how many there were.
	var mem []string
	for name, cells := range rows {
		if strings.HasPrefix(name, rowMemory+" after ") {
			mem = cells
			n := number(t, strings.TrimSuffix(strings.TrimPrefix(name, rowMemory+" after "), " orders (SQLite)"))
			if n < 300 {
				t.Errorf("memory read after %d orders, want at least 300", n)
			}
		}
	}
	if mem == nil {
		t.Errorf("no memory row in\n%s", stdout.String())
	} else if !strings.Contains(mem[9], "VmRSS") {
		t.Errorf("memory row without VmRSS: %q", mem[9])
	}
	if !strings.Contains(stdout.String(), "Machine: nproc") {
		t.Errorf("no machine line in\n%s", stdout.String())
	}
	if cells := rows[ev.row(rowEvents)]; cells != nil && !strings.Contains(cells[9], "s after the load") {
		t.Errorf("order events row does not say when the last event came: %q", cells[9])
	}

	// -json: the same rows, in the same order, with the same figures.
	got := readRows(t, jsonOut)
	if len(got) != len(rows)-1 { // the table's rows include its header
		t.Errorf("-json has %d rows, the table %d", len(got), len(rows)-1)
	}
	for _, j := range got {
		cells, ok := rows[j.Scenario]
		if !ok {
			t.Errorf("-json row %q is not in the table", j.Scenario)
			continue
		}
		if j.Notes != cells[9] {
			t.Errorf("%s: -json notes %q, table %q", j.Scenario, j.Notes, cells[9])
		}
		if strings.HasPrefix(j.Scenario, rowMemory) {
			if j.VmRSSMiB == nil || *j.VmRSSMiB <= 0 || j.ReqPerSec != nil {
				t.Errorf("memory row in -json: %+v", j)
			}
			continue
		}
		if j.ReqPerSec == nil || j.Requests == nil || j.Errors == nil {
			t.Fatalf("%s: -json row without figures: %+v", j.Scenario, j)
		}
		if math.Abs(*j.ReqPerSec-float64(number(t, cells[1]))) > 0.55 || int64(*j.Requests) != number(t, cells[7]) || int64(*j.Errors) != number(t, cells[8]) {
			t.Errorf("%s: -json %v req/s, %d requests, %d errors; table %v", j.Scenario, *j.ReqPerSec, *j.Requests, *j.Errors, cells)
		}
		for i, c := range ratioColumns {
			// The table rounds to two places, the JSON to four.
			cell, err := strconv.ParseFloat(cells[2+i], 64)
			if q, ok := j.Ratios[c.name]; !ok || err != nil || math.Abs(q-cell) > 0.0051 {
				t.Errorf("%s: -json ratio %q %v (%v), table %q", j.Scenario, c.name, q, ok, cells[2+i])
			}
		}
		if j.Scenario != rowTrivial && (j.P50Ms == nil) != (j.Scenario == ev.row(rowEvents)) {
			t.Errorf("%s: p50 %v", j.Scenario, j.P50Ms)
		}
	}

	// -profile: one profile of each of mospay's timed scenarios, none of the baselines, and no
	// turn's file left behind.
	files, err := filepath.Glob(filepath.Join(profiles, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range names[3:] {
		if name != ev.row(rowEvents) {
			want = append(want, filepath.Join(profiles, slug(name)+".prof"))
		}
	}
	slices.Sort(files)
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("profiles %q, want %q", files, want)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s empty or unreadable (%v)", f, err)
		}
	}
}

// readRows reads a -json file back.
func readRows(t *testing.T, path string) []jsonRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []jsonRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return rows
}

// TestReportJSON builds a report of three turns by hand, writes it with -json as run does and
// reads it back: each row is its median turn (by throughput, with that turn's latencies), with
// its ratio to each baseline and, with event endpoints, to the same scenario without them.
func TestReportJSON(t *testing.T) {
	st := func(ok int, p50, p99 time.Duration) stats {
		return stats{Requests: ok + 1, OK: ok, Errors: 1, Elapsed: time.Second, P50: p50, P99: p99}
	}
	rep := &report{opts: options{concurrency: 64, duration: time.Second, turns: 3}}
	for _, r := range []struct {
		name string
		ok   [3]int
	}{
		{rowTrivial, [3]int{40000, 30000, 50000}},
		{rowBare, [3]int{2000, 2500, 1000}},
		{rowBareNonDurable, [3]int{4000, 5000, 3000}},
		{"create order with prepay (SQLite)", [3]int{6000, 4000, 5000}},
		{"create order with prepay (SQLite, 2 event endpoints)", [3]int{4500, 4500, 4500}},
	} {
		for i, ok := range r.ok {
			ms := time.Duration(i+1) * time.Millisecond
			x := st(ok, ms, 10*ms)
			if strings.HasPrefix(r.name, "create") {
				// 2 s of the machine's CPU, 1 s of it mospay's, whatever the turn's throughput.
				x.CPU = cpuUse{Machine: 2 * time.Second, Serve: time.Second}
			}
			rep.add(r.name, turn{stats: x, note: fmt.Sprintf("turn %d", i+1)})
		}
	}
	rep.compare("create order with prepay (SQLite, 2 event endpoints)", "create order with prepay (SQLite)")
	after := 1300 * time.Millisecond
	rep.add("order event delivery (SQLite, 2 event endpoints)", turn{stats: stats{Requests: 9000, OK: 9000, Elapsed: 2 * time.Second}, lastEvent: &after})
	rep.memory = &memoryRow{orders: 100000, database: "SQLite", serve: memory{RSS: 100 << 20, Peak: 120 << 20}}

	path := filepath.Join(t.TempDir(), "rows.json")
	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got := readRows(t, path)
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	want := []jsonRow{
		{Scenario: rowTrivial, ReqPerSec: f(40000), P50Ms: f(1), P99Ms: f(10), Requests: n(40001), Errors: n(1), Notes: "turn 1",
			Ratios: map[string]float64{"echo trivial": 1, "bare durable": 20, "bare non-durable": 10}, TurnsReqPerSec: []float64{40000, 30000, 50000}},
		{Scenario: rowBare, ReqPerSec: f(2000), P50Ms: f(1), P99Ms: f(10), Requests: n(2001), Errors: n(1), Notes: "turn 1",
			Ratios: map[string]float64{"echo trivial": 0.05, "bare durable": 1, "bare non-durable": 0.5}, TurnsReqPerSec: []float64{2000, 2500, 1000}},
		{Scenario: rowBareNonDurable, ReqPerSec: f(4000), P50Ms: f(1), P99Ms: f(10), Requests: n(4001), Errors: n(1), Notes: "turn 1",
			Ratios: map[string]float64{"echo trivial": 0.1, "bare durable": 2, "bare non-durable": 1}, TurnsReqPerSec: []float64{4000, 5000, 3000}},
		{Scenario: "create order with prepay (SQLite)", ReqPerSec: f(5000), P50Ms: f(3), P99Ms: f(30), Requests: n(5001), Errors: n(1),
			Notes:  "turn 3; CPU per answer 400 µs (mospay's 200, 50%)",
			Ratios: map[string]float64{"echo trivial": 0.125, "bare durable": 2.5, "bare non-durable": 1.25}, TurnsReqPerSec: []float64{6000, 4000, 5000},
			CPUUsPerAnswer: f(400), ServeCPUUsPerAnswer: f(200)},
		{Scenario: "create order with prepay (SQLite, 2 event endpoints)", ReqPerSec: f(4500), P50Ms: f(2), P99Ms: f(20), Requests: n(4501), Errors: n(1),
			Notes:  "turn 2; 0.90× the same without endpoints; CPU per answer 444 µs (mospay's 222, 50%)",
			Ratios: map[string]float64{"echo trivial": 0.1125, "bare durable": 2.25, "bare non-durable": 1.125, plainRatio: 0.9}, TurnsReqPerSec: []float64{4500, 4500, 4500},
			CPUUsPerAnswer: f(444.4), ServeCPUUsPerAnswer: f(222.2)},
		{Scenario: "order event delivery (SQLite, 2 event endpoints)", ReqPerSec: f(4500), Requests: n(9000), Errors: n(0),
			Ratios: map[string]float64{"echo trivial": 0.1125, "bare durable": 2.25, "bare non-durable": 1.125}, TurnsReqPerSec: []float64{4500}, LastEventAfterLoadS: f(1.3)},
		{Scenario: "mospay resident memory after 100,000 orders (SQLite)", Notes: "VmRSS 100.0 MiB, peak VmHWM 120.0 MiB",
			Ratios: map[string]float64{}, Orders: func(v int64) *int64 { return &v }(100000), VmRSSMiB: f(100), VmHWMMiB: f(120)},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("-json read back:\n%s\nwant:\n%s", g, w)
	}
	// The table shows the same medians and says how they were taken.
	md := rep.Markdown()
	for _, s := range []string{
		"| create order with prepay (SQLite) | 5,000 | 0.12 | 2.50 | 1.25 | 3.0 ms | 30.0 ms | 5,001 | 1 | turn 3; CPU per answer 400 µs (mospay's 200, 50%) |",
		"| order event delivery (SQLite, 2 event endpoints) | 4,500 | 0.11 | 2.25 | 1.12 |  |  | 9,000 | 0 |  |",
		"| mospay resident memory after 100,000 orders (SQLite) | | | | | | | | | VmRSS 100.0 MiB, peak VmHWM 120.0 MiB |",
		"median of 3 turns",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("table lacks %q:\n%s", s, md)
		}
	}
}

func TestMedianTurn(t *testing.T) {
	tests := []struct {
		ok   []int
		want int // OK of the turn chosen
	}{
		{[]int{7}, 7},
		{[]int{3, 1}, 1}, // of two, the lower
		{[]int{3, 9, 1}, 3},
		{[]int{5, 2, 8, 4}, 4},
		{[]int{2, 2, 9, 1, 5}, 2},
	}
	for _, tt := range tests {
		x := &row{}
		for _, ok := range tt.ok {
			x.turns = append(x.turns, turn{stats: stats{OK: ok, Elapsed: time.Second}})
		}
		if got := x.median().stats.OK; got != tt.want {
			t.Errorf("median of %v = %d, want %d", tt.ok, got, tt.want)
		}
	}
}

func TestSelected(t *testing.T) {
	tests := []struct {
		run                 string
		db                  database
		create, notify, get bool
	}{
		{"", database{name: "SQLite"}, true, true, true},
		{`^create order with prepay \(SQLite\)$`, database{name: "SQLite"}, true, false, false},
		{`^create order with prepay \(SQLite\)$`, database{name: "PostgreSQL"}, false, false, false},
		{"PostgreSQL", database{name: "PostgreSQL"}, true, true, true},
		{"GET", database{name: "SQLite, 2 event endpoints", events: &baselines{}}, false, false, false},
		// The order events come from the notification scenario with endpoints: it runs for them.
		{"order event", database{name: "SQLite, 2 event endpoints", events: &baselines{}}, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.run+" "+tt.db.name, func(t *testing.T) {
			var args []string
			if tt.run != "" {
				args = []string{"-run", tt.run}
			}
			o, err := parseOptions(args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			s := &suite{opts: o}
			create, notify, get := s.scenarios(tt.db)
			if create != tt.create || notify != tt.notify || get != tt.get {
				t.Errorf("create %v notify %v get %v, want %v %v %v", create, notify, get, tt.create, tt.notify, tt.get)
			}
			if s.wants(tt.db, false) != (tt.create || tt.notify || tt.get) {
				t.Errorf("wants %v", s.wants(tt.db, false))
			}
		})
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"GET /mp/orders/{outTradeNo} (SQLite)":              "get-mp-orders-outtradeno-sqlite",
		"notification handling (SQLite, 2 event endpoints)": "notification-handling-sqlite-2-event-endpoints",
		"create order with prepay (PostgreSQL)":             "create-order-with-prepay-postgresql",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func number(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		t.Fatalf("cell %q: %v", s, err)
	}
	return n
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    memory
		wantErr bool
	}{
		{"both", "Name:\tmospay\nVmHWM:\t  150000 kB\nVmRSS:\t   90000 kB\nThreads:\t9\n", memory{RSS: 90000 << 10, Peak: 150000 << 10}, false},
		{"rss missing", "VmHWM:\t 1 kB\n", memory{}, true},
		{"odd unit", "VmHWM:\t 1 kB\nVmRSS:\t 1 MB\n", memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		// user 100, nice 2, system 30, idle 900 (left out), iowait 50 (left out), irq 3, softirq 5,
		// steal 7 (left out): 140 ticks busy.
		{"busy", "cpu  100 2 30 900 50 3 5 7 0 0\ncpu0 50 1 15 450 25 1 2 3 0 0\n", 1400 * time.Millisecond, false},
		{"per-cpu line only", "cpu0 1 2 3 4 5 6 7\n", 0, true},
		{"short", "cpu  1 2 3\n", 0, true},
		{"not a number", "cpu  1 2 x 4 5 6 7 8\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePidStat(t *testing.T) {
	// Fields 14 and 15 (utime 250, stime 40) after a command name with a space and a ')'.
	in := "4242 (mos pay) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 40 0 0 20 0 9 0 100 0 0\n"
	got, err := parsePidStat([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2900 * time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"4242 mospay S 1", "4242 (mospay) S 1 2 3", "4242 (mospay) S 1 4242 4242 0 -1 0 0 0 0 0 x 40 0"} {
		if _, err := parsePidStat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// This process's own figures read, and its CPU never runs backwards.
	a := readCPU(os.Getpid())
	for i := 0; i < 3e7; i++ {
		_ = i * i
	}
	b := readCPU(os.Getpid())
	if !a.ok || !b.ok {
		t.Skip("no /proc here")
	}
	if u := b.since(a); u.Serve < 0 || u.Machine < u.Serve-clockTick {
		t.Errorf("since = %+v: the process's CPU must be at most the machine's", u)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args     []string
		duration time.Duration
		orders   int
		turns    int
		wantErr  bool
	}{
		{nil, 8 * time.Second, 100000, 3, false},
		{[]string{"-quick"}, 2 * time.Second, 5000, 1, false},
		{[]string{"-quick", "-duration", "1s", "-orders", "300"}, time.Second, 300, 1, false},
		{[]string{"-orders", "300", "-quick"}, 2 * time.Second, 300, 1, false},
		{[]string{"-turns", "5", "-quick"}, 2 * time.Second, 5000, 5, false},
		{[]string{"-turns", "0"}, 0, 0, 0, true},
		{[]string{"-run", "("}, 0, 0, 0, true},
		{[]string{"-duration", "0s"}, 0, 0, 0, true},
		{[]string{"-concurrency", "0"}, 0, 0, 0, true},
		{[]string{"extra"}, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseOptions(tt.args, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (o.duration != tt.duration || o.orders != tt.orders || o.turns != tt.turns || o.concurrency != 64) {
				t.Errorf("got duration %v orders %d turns %d concurrency %d", o.duration, o.orders, o.turns, o.concurrency)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
}
