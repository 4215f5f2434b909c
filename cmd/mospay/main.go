// Command mospay is the payment order orchestrator: `serve` runs the API, the MOS notification
// receiver and the reconciler in one process; `sandbox` runs the MOS sandbox alone (`sandbox
// reset` forgets its orders); `migrate` applies the schema; `reconcile` runs one reconciliation
// pass; `backup` copies the SQLite database; `version` prints build info.
//
// This package owns the command line: configuration is read and validated here (config.go, one
// table of environment variables and flags) and handed to package app, the composition root,
// which builds, starts and stops every part.
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
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	// The time zone database, so that MOSPAY_REPORT_TZ and the finance pages' zones work on a
	// machine without /usr/share/zoneinfo (a scratch container).
	_ "time/tzdata"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/mos/sandbox"
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
  mospay sandbox reset [flags]       forget the sandbox's orders (kept in the data folder)
  mospay migrate [flags]             apply pending migrations and exit
  mospay reconcile [flags]           one reconciliation pass over due orders, then exit
  mospay backup [flags] PATH         a consistent copy of the SQLite database, while serve runs
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
	case "serve", "sandbox", "migrate", "reconcile", "backup":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}

	fs := flag.NewFlagSet("mospay "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	withSandbox := fs.Bool("sandbox", false, "serve with the embedded MOS sandbox and generated development secrets")
	vals := registerFlags(fs)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	var dest string
	switch {
	case cmd == "backup" && fs.NArg() != 1:
		return errors.New("backup: give the path of the copy to write, e.g. mospay backup /backups/mospay-2026-11-30.db")
	case cmd == "backup":
		dest = fs.Arg(0)
	case cmd == "sandbox" && fs.NArg() == 1 && fs.Arg(0) == "reset":
		dest = "reset"
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// `migrate` and `backup` need only the database. `mospay sandbox` is MOS itself: it takes its
	// credentials from the same variables as serve, or from data/sandbox.env like `serve --sandbox`.
	relaxed := *withSandbox || cmd == "sandbox" || cmd == "migrate" || cmd == "backup"
	var dev func(map[string]string) error
	if *withSandbox || cmd == "sandbox" {
		dev = func(raw map[string]string) error { return sandboxDefaults(raw, stdout) }
	}
	cfg, err := loadConfig(getenv, vals, relaxed, dev)
	if err != nil {
		return err
	}
	if cmd == "serve" {
		if err := checkServe(cfg); err != nil {
			return err
		}
	}
	if *withSandbox || cmd == "sandbox" { // the sandbox's orders outlive a restart (sandbox.Open)
		cfg.SandboxStateFile = filepath.Join(dataDir(map[string]string{"MOSPAY_DATABASE_URL": cfg.DatabaseURL}), sandboxStateFile)
	}
	if cmd == "sandbox" && dest == "reset" {
		if err := sandbox.RemoveState(cfg.SandboxStateFile); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sandbox state removed (%s): the next start begins with no orders\n", cfg.SandboxStateFile)
		return nil
	}
	log := newLogger(stderr, cfg.LogLevel)
	for _, k := range unknownVars(environ) {
		log.Warn("unknown configuration variable ignored", "var", k)
	}
	a := app.New(cfg.Config, app.Options{Logger: log})
	defer a.Close()
	switch cmd {
	case "serve":
		if err := a.Start(ctx); err != nil {
			return err
		}
		if cfg.Sandbox {
			printQuickStart(stdout, a, cfg)
		}
		return a.Wait(ctx)
	case "sandbox":
		if err := a.StartSandbox(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "MOS sandbox on %s (appKey %s)\n", a.SandboxURL(), cfg.MOSAppKey)
		<-ctx.Done()
		return nil
	case "migrate":
		n, err := a.Migrate(ctx)
		if err == nil {
			fmt.Fprintf(stdout, "migrations applied: %d\n", n)
		}
		return err
	case "reconcile":
		sum, err := a.ReconcileOnce(ctx)
		fmt.Fprintln(stdout, sum.String())
		return err
	case "backup":
		if err := a.Backup(ctx, dest); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "backup written to %s\n", dest)
		return nil
	}
	return nil
}

// printQuickStart shows a newcomer the curl lines of a whole checkout against the sandbox.
func printQuickStart(w io.Writer, a *app.App, cfg *config) {
	api, sbx := a.URL(), a.SandboxURL()
	env := dataDir(map[string]string{"MOSPAY_DATABASE_URL": cfg.DatabaseURL}) + "/" + sandboxEnvFile
	q := `
Demo mini-app in your browser: ` + sbx + `/sandbox/demo
  Browser origins allowed to call the API: ` + strings.Join(a.CORSOrigins(), " ") + `
  (another, a dev server's say: MOSPAY_CORS_ORIGINS=http://localhost:5173)
Quick start (another terminal; the sandbox plays MOS and the user):
  . ` + env + `       # the development credentials, for the admin token
  CODE=$(curl -s -X POST ` + sbx + `/sandbox/login-codes -d '{"openid":"user-1"}' | sed 's/.*"code":"\([^"]*\)".*/\1/')
  TOKEN=$(curl -s -X POST ` + api + `/mp/login/miniAppLogin -H 'Content-Type: application/json' -d "{\"code\":\"$CODE\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s ` + api + `/mp/user -H "Authorization: Bearer $TOKEN" -H 'Lang: km'
  ORDER=$(curl -s -X POST ` + api + `/mp/orders -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \
      -d '{"totalAmount":"16.99","currency":"USD","desc":"Coffee"}' | sed 's/.*"outTradeNo":"\([^"]*\)".*/\1/')
  curl -s -X POST ` + sbx + `/sandbox/orders/$ORDER/pay        # the user pays; the sandbox notifies us
  curl -s ` + api + `/mp/orders/$ORDER -H "Authorization: Bearer $TOKEN"      # status PAID
  curl -s ` + api + `/admin/orders/$ORDER -H "Authorization: Bearer ${MOSPAY_ADMIN_TOKENS#*:}"   # its whole story
  Finance pages: ` + api + `/finance (sign in with the admin token ` + adminToken(cfg) + `)
  API description: ` + api + `/openapi.json
  A backend that sets its own prices: docs/merchant.md (its key is MOSPAY_MERCHANT_KEYS in ` + env + `)
`
	fmt.Fprint(w, strings.TrimLeft(q, "\n"))
}

// adminToken is the first admin token, shown in the sandbox's quick start (a development
// credential, already printed when it was generated; never a production one: the quick start is
// printed with --sandbox only).
func adminToken(cfg *config) string {
	if len(cfg.AdminTokens) == 0 {
		return "(none configured)"
	}
	return cfg.AdminTokens[0].Token
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
