// Command mospay is the payment order orchestrator: `serve` runs the API, the MOS notification
// receiver and the reconciler in one process; `sandbox` runs the MOS sandbox alone; `migrate`
// applies the schema; `reconcile` runs one reconciliation pass; `version` prints build info.
//
// This file owns start-up and shutdown: configuration is read and validated here, every
// dependency is built here and passed down explicitly, and shutdown runs in the reverse order
// (HTTP first, then background work, then the database).
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
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mospay:", err)
		}
		os.Exit(1)
	}
}

const usage = `mospay: payment orders through MOS

Usage:
  mospay serve [--sandbox] [flags]   API, notify receiver and reconciler in one process
  mospay sandbox [flags]             the MOS sandbox alone
  mospay migrate [flags]             apply pending migrations and exit
  mospay reconcile [flags]           one reconciliation pass over due orders, then exit
  mospay version                     version and build info

Run "mospay COMMAND --help" for the flags; each mirrors a MOSPAY_ environment variable.
`

// run dispatches a command; it is main without the process (tests call it directly).
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve", "sandbox", "migrate", "reconcile":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}

	fs := flag.NewFlagSet("mospay "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sandbox := fs.Bool("sandbox", false, "serve with the embedded MOS sandbox and generated development secrets")
	vals := registerFlags(fs)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// `mospay sandbox` takes its credentials from the same variables as serve; it is the sandbox,
	// so it needs none of serve's other secrets.
	// `migrate` needs only the database. `mospay sandbox` is MOS itself: it takes its credentials
	// from the same variables as serve, or from data/sandbox.env like `serve --sandbox`.
	relaxed := *sandbox || cmd == "sandbox" || cmd == "migrate"
	var dev func(*Config, map[string]string) error
	if *sandbox || cmd == "sandbox" {
		dev = func(c *Config, raw map[string]string) error { return sandboxDefaults(c, raw, stdout) }
	}
	cfg, err := loadConfig(getenv, vals, relaxed, dev)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	for _, k := range unknownVars(environ) {
		log.Warn("unknown configuration variable ignored", "var", k)
	}
	m := &Main{Config: cfg, Log: log, Stdout: stdout}
	defer m.Close()
	switch cmd {
	case "serve":
		return m.Serve(ctx)
	case "sandbox":
		return m.RunSandbox(ctx)
	case "migrate":
		return m.Migrate(ctx)
	case "reconcile":
		return m.Reconcile(ctx)
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func versionString() string {
	s := "mospay " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		s += " (" + bi.GoVersion
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" || kv.Key == "vcs.time" {
				s += " " + kv.Value
			}
		}
		s += ")"
	}
	return s
}
