package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/scheduler"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/webhook"
)

// Main holds what a command built, so Close can tear it down in order.
type Main struct {
	Config *Config
	Log    *slog.Logger
	Stdout io.Writer

	db      *store.DB
	closers []func() // run in reverse order by Close
}

// openDB opens the configured database and applies pending migrations.
func (m *Main) openDB(ctx context.Context) (*store.DB, error) {
	db, err := store.Open(ctx, m.Config.DatabaseURL, store.Options{Logger: m.Log})
	if err != nil {
		return nil, err
	}
	m.db = db
	applied, err := db.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 {
		m.Log.Info("migrations applied", "versions", applied)
	}
	if n, err := db.RecoverLeases(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		m.Log.Warn("released leases left by a previous process", "orders", n)
	}
	return db, nil
}

// Migrate applies pending migrations and exits.
func (m *Main) Migrate(ctx context.Context) error {
	db, err := store.Open(ctx, m.Config.DatabaseURL, store.Options{Logger: m.Log})
	if err != nil {
		return err
	}
	m.db = db
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "migrations applied: %d\n", len(applied))
	return nil
}

// instanceName identifies this process in leases: host and pid.
func instanceName() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// mosClient builds the MOS client from the configuration.
func (m *Main) mosClient() *mos.Client {
	return mos.NewClient(mos.Config{
		BaseURL: m.Config.MOSBaseURL, AppKey: m.Config.MOSAppKey, AppSecret: m.Config.MOSAppSecret,
		MchID: m.Config.MOSMchID, Timeout: m.Config.MOSTimeout, Logger: m.Log,
	})
}

// service builds the order service over db and MOS.
func (m *Main) service(db *store.DB, client *mos.Client) *order.Service {
	c := m.Config
	// A prepay may be in flight for the MOS timeout; the margin covers the write after it.
	inFlight := c.MOSTimeout + 5*time.Second
	sched := order.DefaultSchedule()
	sched.First, sched.InFlight = c.ReconcileFirst, inFlight
	return order.NewService(db, mos.Provider{Client: client}, order.SystemClock{}, m.Log, order.Config{
		AppKey: c.MOSAppKey, NotifyURL: c.PublicURL + "/mos/notify", OrderTTL: c.OrderTTL,
		MaxAmount: c.MaxAmount, Sandbox: c.Sandbox, PrepayLease: inFlight, UnknownAfter: c.PrepayGiveUp,
		Schedule: sched, Instance: instanceName(),
	})
}

// startSandbox serves the embedded MOS sandbox on the configured address.
func (m *Main) startSandbox() (*sandbox.Server, error) {
	c := m.Config
	sb := sandbox.New(sandbox.Config{
		AppKey: c.MOSAppKey, AppSecret: c.MOSAppSecret, MchID: c.MOSMchID, AppName: "mospay sandbox",
		NotifyURL: c.PublicURL + "/mos/notify", RetryScale: 1, Logger: m.Log.With("component", "sandbox"),
	})
	l, err := net.Listen("tcp", c.SandboxAddr)
	if err != nil {
		sb.Close()
		return nil, fmt.Errorf("sandbox: listen %s: %w", c.SandboxAddr, err)
	}
	hs := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("sandbox stopped", "err", err)
		}
	}()
	m.closers = append(m.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		sb.Close()
	})
	m.Log.Info("MOS sandbox serving", "addr", l.Addr().String())
	return sb, nil
}

// checkApplication asks MOS for our application once at start: a refusal (bad credentials) is
// fatal, an unreachable MOS only a warning (notifications and the reconciler catch up later).
func (m *Main) checkApplication(ctx context.Context, client *mos.Client) error {
	ctx, cancel := context.WithTimeout(ctx, m.Config.MOSTimeout)
	defer cancel()
	app, err := client.GetApplication(ctx)
	switch {
	case mos.IsRejected(err):
		return fmt.Errorf("MOS refused getApplication (check MOSPAY_MOS_APP_KEY and MOSPAY_MOS_APP_SECRET): %w", err)
	case err != nil:
		m.Log.Warn("MOS unreachable at start; continuing", "err", err)
		return nil
	}
	ours := m.Config.PublicURL + "/mos/notify"
	if app.NotifyURL != "" && app.NotifyURL != ours {
		m.Log.Warn("MOS's notifyUrl for this app differs from ours", "mos_notify_url", app.NotifyURL, "our_notify_url", ours)
	}
	m.Log.Info("MOS application", "app_name", app.AppName, "app_key", app.AppKey, "status", app.Status)
	return nil
}

// Serve runs the API, notify receiver and reconciler until ctx is cancelled (SIGINT/SIGTERM),
// then shuts down: HTTP first, then background work, then the database.
func (m *Main) Serve(ctx context.Context) error {
	c := m.Config
	if c.Sandbox {
		if _, err := m.startSandbox(); err != nil {
			return err
		}
	}
	if c.DebugAddr != "" {
		if err := m.startDebug(); err != nil {
			return err
		}
	}
	db, err := m.openDB(ctx)
	if err != nil {
		return err
	}
	client := m.mosClient()
	if err := m.checkApplication(ctx, client); err != nil {
		return err
	}
	svc := m.service(db, client)
	admins := make([]api.AdminToken, len(c.AdminTokens))
	for i, t := range c.AdminTokens {
		admins[i] = api.AdminToken{Name: t.Name, Token: t.Token}
	}
	metrics := api.NewMetrics()
	srv := api.New(api.Config{
		MaxBody: c.MaxBody, CORSOrigins: c.CORSOrigins, TrustedProxies: c.TrustedProxies,
		JWTSecret: []byte(c.JWTSecret), JWTTTL: c.JWTTTL, AppKey: c.MOSAppKey,
		AdminTokens: admins, ReportTZ: c.ReportTZ,
	}, api.Deps{
		Logger: m.Log, Metrics: metrics, Ready: db.Ready,
		Sessions: mos.Provider{Client: client}, Orders: svc,
		Notify: &webhook.Receiver{AppKey: c.MOSAppKey, Secret: c.MOSAppSecret, Service: svc, Log: m.Log, MaxBody: c.MaxBody,
			Count: metrics.CountNotification},
	})
	stopBackground, err := m.startBackground(ctx, db, svc)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		stopBackground()
		return fmt.Errorf("listen %s: %w", c.HTTPAddr, err)
	}
	m.Log.Info("mospay serving", "addr", l.Addr().String(), "database", string(db.Dialect), "sandbox", c.Sandbox)
	if c.Sandbox {
		m.printQuickStart()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		stopBackground()
		return err
	case <-ctx.Done():
	}
	m.Log.Info("shutting down: HTTP first, then background work, then the database")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		m.Log.Warn("http shutdown", "err", err)
	}
	stopBackground()
	return <-errc
}

// printQuickStart shows a newcomer the curl lines of a whole checkout against the sandbox.
func (m *Main) printQuickStart() {
	c := m.Config
	api, sbx := "http://"+c.HTTPAddr, "http://"+c.SandboxAddr
	env := dataDir(map[string]string{"MOSPAY_DATABASE_URL": c.DatabaseURL}) + "/" + sandboxEnvFile
	q := `
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
  Finance page: ` + api + `/finance
`
	fmt.Fprint(m.Stdout, strings.TrimLeft(q, "\n"))
}

// reconciler builds the scheduler over db and the service.
func (m *Main) reconciler(db *store.DB, svc *order.Service) (*scheduler.Scheduler, error) {
	c := m.Config
	return scheduler.New(db, svc, scheduler.Config{
		Every: c.ReconcileEvery, Concurrency: c.ReconcileConc, Rate: c.ReconcileRate,
		Owner: instanceName(), Clock: order.SystemClock{}, Logger: m.Log.With("component", "reconciler"),
	})
}

// startBackground starts the reconciler, with one pass right away so that orders left behind by
// a crash are brought to MOS's truth without waiting for the first tick. The returned func stops
// it and waits for a running pass.
func (m *Main) startBackground(ctx context.Context, db *store.DB, svc *order.Service) (func(), error) {
	sch, err := m.reconciler(db, svc)
	if err != nil {
		return nil, fmt.Errorf("config: MOSPAY_RECONCILE_EVERY: %w", err)
	}
	passCtx, cancelPass := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if sum, err := sch.Pass(passCtx); err != nil {
			m.Log.Warn("start-up reconciliation pass", "err", err)
		} else if sum.Checked > 0 {
			m.Log.Info("start-up reconciliation pass", "summary", sum.String())
		}
	}()
	sch.Start()
	return func() {
		cancelPass()
		<-done
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sch.Stop(sctx); err != nil {
			m.Log.Warn("reconciler stop", "err", err)
		}
	}, nil
}

// startDebug serves Go's pprof handlers on their own listener, never on the API's address, so
// profiling can be switched on in production without exposing it to clients.
func (m *Main) startDebug() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	l, err := net.Listen("tcp", m.Config.DebugAddr)
	if err != nil {
		return fmt.Errorf("debug: listen %s: %w", m.Config.DebugAddr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	m.closers = append(m.closers, func() { _ = hs.Close() })
	m.Log.Info("pprof serving", "addr", l.Addr().String())
	return nil
}

// RunSandbox runs the MOS sandbox alone until ctx is cancelled.
func (m *Main) RunSandbox(ctx context.Context) error {
	if _, err := m.startSandbox(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "MOS sandbox on http://%s (appKey %s)\n", m.Config.SandboxAddr, m.Config.MOSAppKey)
	<-ctx.Done()
	return nil
}

// Reconcile runs one reconciliation pass over due orders and prints what changed. On SQLite it
// refuses while a serve holds the database file (store.Open's lock).
func (m *Main) Reconcile(ctx context.Context) error {
	db, err := m.openDB(ctx)
	if err != nil {
		return err
	}
	sch, err := m.reconciler(db, m.service(db, m.mosClient()))
	if err != nil {
		return err
	}
	sum, err := sch.Pass(ctx)
	fmt.Fprintln(m.Stdout, sum.String())
	return err
}

// Close releases what the command opened: background work first, then the database.
func (m *Main) Close() {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			m.Log.Warn("closing database", "err", err)
		}
		m.db = nil
	}
}
