// Command mospaybench is `make bench`: it measures mospay's hot paths on loopback and prints one
// markdown table (and, with -json, the same rows for a script).
//
// Absolute figures drift on shared machines, so every throughput is also printed as a ratio to
// three baselines served by this process and measured in the same invocation with the same load
// generator and concurrency: "echo trivial" (an Echo endpoint answering a small JSON: the HTTP
// ceiling), "bare durable" (the least work an order needs: insert a row into SQLite with
// synchronous=FULL, one prepay call to the sandbox, update the row, each its own commit) and
// "bare non-durable" (the same through GORM, with a versioned update, on SQLite with
// synchronous=NORMAL: what a prototype that does not wait for the disk achieves). Ratios measured
// in one run hold where the absolute numbers do not.
//
// The suite starts `mospay sandbox` and `mospay serve` as separate processes on free loopback
// ports in a temporary directory (./data is never touched), so that the resident memory read
// from /proc belongs to mospay alone. mospay's scenarios run on SQLite, then on a PostgreSQL the
// suite starts (durable, as in production) beside it, in the same run. The baselines and mospay's
// scenarios take turns (-turns, each turn on fresh databases), and each row shows its median
// turn. Load comes from vegeta used as a library: a fixed number of workers sending as fast as
// answers come back (closed loop, no pacing).
//
// -run limits mospay's scenarios to those whose row name matches, to iterate on one path;
// -profile takes a CPU profile of mospay in the middle of each of its scenarios.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mospaybench:", err)
		}
		os.Exit(1)
	}
}

// options are the suite's settings, from flags.
type options struct {
	duration    time.Duration  // of each timed scenario
	concurrency int            // workers, each one request in flight
	orders      int            // orders in the database before memory is read
	bin         string         // mospay binary; built into the temp dir when empty
	out         string         // file the table is also written to
	cpuProfile  string         // CPU profile of this process (load generator and baselines)
	postgres    bool           // also run mospay's scenarios on PostgreSQL
	turns       int            // times the baselines and mospay's scenarios take turns
	json        string         // file the rows are also written to, as JSON
	run         *regexp.Regexp // when set, only mospay's scenarios whose row name matches run
	profile     string         // directory for CPU profiles of mospay, one per scenario
}

// selected reports whether mospay's scenario row name is to run.
func (o options) selected(name string) bool { return o.run == nil || o.run.MatchString(name) }

// parseOptions reads the flags; -quick sets short defaults that explicit flags still override.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mospaybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "length of each timed scenario")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients (vegeta workers)")
	fs.IntVar(&o.orders, "orders", 100000, "orders in mospay's database when its memory is read")
	fs.StringVar(&o.bin, "bin", "", "path to the mospay binary (default: go build ./cmd/mospay into a temp dir)")
	fs.StringVar(&o.out, "out", "", "also write the table to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process (load generator and baselines)")
	fs.BoolVar(&o.postgres, "postgres", true, "also run mospay's scenarios on a durable PostgreSQL (left out, with a note, where its binaries are missing)")
	fs.IntVar(&o.turns, "turns", 3, "times the baselines and mospay's scenarios take turns; each row shows its median turn")
	fs.StringVar(&o.json, "json", "", "also write every row of the table to this file as JSON")
	runExpr := fs.String("run", "", "only mospay's scenarios whose row name matches this regular expression (the baselines always run)")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of mospay, taken in the middle of each of its scenarios, to DIR/<scenario>.prof")
	quick := fs.Bool("quick", false, "smoke run: -duration 2s -orders 5000 -turns 1 unless given")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["orders"] {
			o.orders = 5000
		}
		if !set["turns"] {
			o.turns = 1
		}
	}
	if *runExpr != "" {
		re, err := regexp.Compile(*runExpr)
		if err != nil {
			return o, fmt.Errorf("-run: %w", err)
		}
		o.run = re
	}
	switch {
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.concurrency < 1:
		return o, errors.New("-concurrency must be at least 1")
	case o.orders < 0:
		return o, errors.New("-orders must not be negative")
	case o.turns < 1:
		return o, errors.New("-turns must be at least 1")
	}
	return o, nil
}

// run is main without the process: it parses args, runs the suite and prints the table to stdout;
// progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if opts.profile != "" {
		if err := os.MkdirAll(opts.profile, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep, err := runSuite(ctx, opts, log)
	if err != nil {
		return err
	}
	text := rep.Markdown()
	fmt.Fprint(stdout, text)
	if opts.out != "" {
		if err := os.WriteFile(opts.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("writing -out: %w", err)
		}
	}
	if opts.json != "" {
		b, err := rep.JSON()
		if err != nil {
			return fmt.Errorf("-json: %w", err)
		}
		if err := os.WriteFile(opts.json, b, 0o644); err != nil {
			return fmt.Errorf("writing -json: %w", err)
		}
	}
	return nil
}
