package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSuiteSmoke runs the whole suite end to end with tiny settings: it builds mospay, starts
// the sandbox and serve, and must print a table with every row, each timed scenario having
// answered at least one request successfully.
func TestSuiteSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "table.md")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-quick", "-duration", "1s", "-orders", "300", "-out", out}, &stdout, &stderr)
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
	names := []string{rowTrivial, rowBare}
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
		requests, errs := number(t, cells[6]), number(t, cells[7])
		if requests == 0 || errs >= requests {
			t.Errorf("%s: %d requests, %d errors", name, requests, errs)
		}
		if number(t, cells[1]) == 0 {
			t.Errorf("%s: zero throughput", name)
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
	} else if !strings.Contains(mem[8], "VmRSS") {
		t.Errorf("memory row without VmRSS: %q", mem[8])
	}
	if !strings.Contains(stdout.String(), "Machine: nproc") {
		t.Errorf("no machine line in\n%s", stdout.String())
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

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args     []string
		duration time.Duration
		orders   int
		wantErr  bool
	}{
		{nil, 10 * time.Second, 100000, false},
		{[]string{"-quick"}, 2 * time.Second, 5000, false},
		{[]string{"-quick", "-duration", "1s", "-orders", "300"}, time.Second, 300, false},
		{[]string{"-orders", "300", "-quick"}, 2 * time.Second, 300, false},
		{[]string{"-duration", "0s"}, 0, 0, true},
		{[]string{"-concurrency", "0"}, 0, 0, true},
		{[]string{"extra"}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseOptions(tt.args, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (o.duration != tt.duration || o.orders != tt.orders || o.concurrency != 64) {
				t.Errorf("got duration %v orders %d concurrency %d", o.duration, o.orders, o.concurrency)
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
