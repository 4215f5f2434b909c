// Package app is mospay's one composition root: it builds every part from a Config (the
// database, the MOS client or the embedded sandbox, the order service, the notification
// receiver, the HTTP API, the reconciler and the order events' deliverer), wires them together explicitly, starts them, and
// stops them in order. `mospay serve` runs exactly this, and so does every end-to-end test
// (through app/apptest), on 127.0.0.1:0, so that what is tested is what is served.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/scheduler"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/ui"
	"github.com/mospay/mospay/webhook"
	"golang.org/x/time/rate"
)

// Options are the parts of an App that are not configuration: where it logs and what clock it
// reads. Tests pass a clock they move by hand.
type Options struct {
	Logger *slog.Logger // nil discards
	Clock  order.Clock  // nil: the system clock
	// Schedule replaces the reconciler's timetable (nil: order.DefaultSchedule with the
	// configured first check); tests use one without jitter, so that they know when a check is due.
	Schedule *order.Schedule
}

// App is one mospay process's parts. Build it with New, then Start it (serve) or use one of the
// commands' entry points (Migrate, ReconcileOnce); Close releases whatever was started.
type App struct {
	cfg      Config
	log      *slog.Logger
	clock    order.Clock
	schedule *order.Schedule
	// instance names this process in leases; one name for the order service and the reconciler.
	instance string

	db      *store.DB
	sandbox *sandbox.Server
	client  *mos.Client
	svc     *order.Service
	sched   *scheduler.Scheduler
	events  *webhook.Deliverer // with WebhookURLs
	api     *api.Server
	metrics *api.Metrics
	// mosCalls counts calls to MOS by call and outcome (opsMetrics); it exists from New, since the
	// MOS client may be built before the metrics registry.
	mosCalls *prometheus.CounterVec

	apiAddr     string        // the API's address once listening
	sandboxAddr string        // the embedded sandbox's, with Sandbox
	opsAddr     string        // the operators' listener's, with OpsAddr
	debugAddr   string        // pprof's, with DebugAddr
	served      chan struct{} // closed when the API's Serve returns; serveErr is then set
	startupPass chan struct{} // closed when the start-up reconciliation pass has ended
	serveErr    error
	stopBG      func()
	closers     []func() // run in reverse order by Close, after the database
}

// New builds an App from cfg; nothing is opened or started yet.
func New(cfg Config, opt Options) *App {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = order.SystemClock{}
	}
	return &App{cfg: cfg, log: opt.Logger, clock: opt.Clock, schedule: opt.Schedule, instance: instanceName(),
		mosCalls: newMOSCalls()}
}

// StartupPassDone is closed once the reconciliation pass that Start runs in the background has
// ended (tests that run passes of their own wait for it, so that the two do not share the work).
func (a *App) StartupPassDone() <-chan struct{} { return a.startupPass }

// instanceName identifies this process in leases: host and pid.
func instanceName() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "mospay"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// Start runs everything `serve` runs and returns once the API is listening: the embedded sandbox
// (with Sandbox), pprof (with DebugAddr), the database (migrated), the start-up check against
// MOS, the reconciler (with one pass right away), and the API. On error, what was started is
// stopped again.
func (a *App) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	c := &a.cfg
	// The API's listener first: with port 0 its address, and so the notifyUrl, is known only now.
	l, err := listen("API", c.HTTPAddr, "MOSPAY_HTTP_ADDR")
	if err != nil {
		return err
	}
	a.apiAddr = l.Addr().String()
	a.closers = append(a.closers, func() { l.Close() })
	if c.Sandbox {
		if err := a.startSandbox(); err != nil {
			return err
		}
	}
	if c.DebugAddr != "" {
		if err := a.startDebug(); err != nil {
			return err
		}
	}
	if _, err := a.OpenDB(ctx); err != nil {
		return err
	}
	if err := a.checkApplication(ctx); err != nil {
		return err
	}
	a.metrics = api.NewMetrics()
	a.registerOpsMetrics()
	if err := a.buildDeliverer(); err != nil {
		return err
	}
	cors := a.CORSOrigins()
	a.api = api.New(api.Config{
		MaxBody: c.MaxBody, CORSOrigins: cors, TrustedProxies: c.TrustedProxies,
		JWTSecret: []byte(c.JWTSecret), JWTTTL: c.JWTTTL, AppKey: c.MOSAppKey,
		UserRate: rate.Limit(c.UserRate), UserBurst: c.UserBurst,
		AdminTokens: c.AdminTokens, ReportTZ: c.ReportTZ, OpsSeparate: c.OpsAddr != "",
		MerchantKeys: c.MerchantKeys, MerchantRate: rate.Limit(c.MerchantRate), MerchantBurst: c.MerchantBurst,
	}, api.Deps{
		Logger: a.log, Metrics: a.metrics, Ready: a.db.Ready,
		Orders: a.service(), Users: a.service(), Events: a.service(),
		Merchant: a.service(), Products: a.service(), FinanceSessions: a.service(),
		Notify: &mos.Receiver{AppKey: c.MOSAppKey, Secret: c.MOSAppSecret, Service: a.service(), Log: a.log,
			MaxBody: c.MaxBody, Count: a.metrics.CountNotification},
		Now: a.clock.Now,
	})
	// The finance pages, on the API's server, with the API as what they share with it.
	admins := make([]ui.AdminToken, len(c.AdminTokens))
	for i, t := range c.AdminTokens {
		admins[i] = ui.AdminToken{Name: t.Name, Token: t.Token}
	}
	pages := ui.New(ui.Config{Secret: []byte(c.JWTSecret), AdminTokens: admins,
		SecureCookies: strings.HasPrefix(c.PublicURL, "https://")}, ui.Deps{
		Logger: a.log, API: a.api, Orders: a.service(), Sessions: a.service(), Products: a.service(), Now: a.clock.Now,
	})
	a.api.Mount(pages.Routes)
	if c.Sandbox {
		if err := a.seedProducts(ctx); err != nil {
			return err
		}
	}
	a.logPricing()
	// A session of an admin token no longer configured stays ended if the token comes back.
	if n, err := pages.EndRemovedTokenSessions(ctx); err != nil {
		return fmt.Errorf("ending the finance sessions of removed admin tokens: %w", err)
	} else if n > 0 {
		a.log.Info("finance sessions of removed admin tokens ended", "sessions", n)
	}
	if c.OpsAddr != "" {
		if err := a.startOps(); err != nil {
			return err
		}
	}
	if err := a.startBackground(); err != nil {
		return err
	}
	a.served = make(chan struct{})
	go func() {
		a.serveErr = a.api.Serve(l)
		close(a.served)
	}()
	a.log.Info("mospay serving", "addr", a.apiAddr, "database", string(a.db.Dialect), "sandbox", c.Sandbox)
	if len(cors) == 0 {
		a.log.Info("no browser origin may call /mp (CORS): MOSPAY_CORS_ORIGINS lists none")
	} else {
		a.log.Info("browser origins allowed to call /mp (CORS; MOSPAY_CORS_ORIGINS adds more)", "origins", strings.Join(cors, " "))
	}
	return nil
}

// Wait blocks until ctx ends (SIGINT or SIGTERM for serve) or the API stops by itself, and
// returns the API's error in the latter case.
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-a.served:
		return a.serveErr
	case <-ctx.Done():
		return nil
	}
}

// Config is the configuration the app was built with.
func (a *App) Config() Config { return a.cfg }

// URL is the API's base URL, e.g. http://127.0.0.1:41234 (after Start).
func (a *App) URL() string { return "http://" + a.apiAddr }

// CORSOrigins are the browser origins allowed to call /mp: MOSPAY_CORS_ORIGINS and, with the
// embedded sandbox, the sandbox's own in every spelling (sandbox.OwnOrigins), since its demo
// mini-app (GET /sandbox/demo) calls /mp from there, at 127.0.0.1 or at localhost.
func (a *App) CORSOrigins() []string {
	if !a.cfg.Sandbox || a.sandboxAddr == "" {
		return a.cfg.CORSOrigins
	}
	return append(append([]string(nil), a.cfg.CORSOrigins...), sandbox.OwnOrigins(a.sandboxAddr)...)
}

// SandboxURL is the embedded sandbox's base URL (after Start with Sandbox).
func (a *App) SandboxURL() string { return "http://" + a.sandboxAddr }

// NotifyURL is the notifyUrl this process sends with every prepay.
func (a *App) NotifyURL() string { return notifyURL(a.cfg.PublicURL, a.apiAddr) }

// DB is the database (after Start or OpenDB).
func (a *App) DB() *store.DB { return a.db }

// Sandbox is the embedded MOS sandbox (after Start with Sandbox), for tests and demos.
func (a *App) Sandbox() *sandbox.Server { return a.sandbox }

// Service is the order service (after Start or OpenDB).
func (a *App) Service() *order.Service { return a.service() }

// Reconciler is the reconciler (after Start, or ReconcileOnce).
func (a *App) Reconciler() *scheduler.Scheduler { return a.sched }

// Metrics are the Prometheus collectors the API serves (after Start).
func (a *App) Metrics() *api.Metrics { return a.metrics }

// Handler is the API's HTTP handler (after Start), for tests that walk its routes.
func (a *App) Handler() http.Handler { return a.api.Handler() }

// OpenDB opens the configured database and applies pending migrations; on SQLite it also
// releases the leases a crashed process left behind (holding the file's lock proves it is gone).
func (a *App) OpenDB(ctx context.Context) (*store.DB, error) {
	if a.db != nil {
		return a.db, nil
	}
	db, err := store.Open(ctx, a.cfg.DatabaseURL, store.Options{Logger: a.log, Now: a.clock.Now, Instance: a.instance})
	if err != nil {
		return nil, err
	}
	a.db = db
	applied, err := db.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 {
		a.log.Info("migrations applied", "versions", applied)
	}
	if n, err := db.RecoverLeases(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		a.log.Warn("released leases left by a previous process", "orders", n)
	}
	return db, nil
}

// Backup writes a consistent copy of the SQLite database to dest while mospay may be serving
// from it (`mospay backup`); see store.Backup.
func (a *App) Backup(ctx context.Context, dest string) error {
	return store.Backup(ctx, a.cfg.DatabaseURL, dest)
}

// Migrate opens the database, applies pending migrations and reports how many it applied.
func (a *App) Migrate(ctx context.Context) (int, error) {
	db, err := store.Open(ctx, a.cfg.DatabaseURL, store.Options{Logger: a.log})
	if err != nil {
		return 0, err
	}
	a.db = db
	applied, err := db.Migrate(ctx)
	return len(applied), err
}

// ReconcileOnce runs one reconciliation pass over due orders (`mospay reconcile`).
func (a *App) ReconcileOnce(ctx context.Context) (scheduler.Summary, error) {
	if _, err := a.OpenDB(ctx); err != nil {
		return scheduler.Summary{}, err
	}
	sch, err := a.reconciler()
	if err != nil {
		return scheduler.Summary{}, err
	}
	return sch.Pass(ctx)
}

// mosClient is the MOS client, built once.
func (a *App) mosClient() *mos.Client {
	if a.client == nil {
		c := a.cfg
		base := c.MOSBaseURL
		if base == "" && c.Sandbox {
			base = a.SandboxURL()
		}
		a.client = mos.NewClient(mos.Config{
			BaseURL: base, AppKey: c.MOSAppKey, AppSecret: c.MOSAppSecret,
			MchID: c.MOSMchID, Timeout: c.MOSTimeout, Logger: a.log, Observe: a.observeMOSCall,
		})
	}
	return a.client
}

// service is the order service, built once over the database and MOS.
func (a *App) service() *order.Service {
	if a.svc == nil {
		c := a.cfg
		// A prepay may be in flight for the MOS timeout; the margin covers the write after it.
		inFlight := c.MOSTimeout + 5*time.Second
		sched := order.DefaultSchedule()
		if c.ReconcileFirst > 0 {
			sched.First = c.ReconcileFirst
		}
		sched.InFlight = inFlight
		if c.PrepayGiveUp > 0 {
			sched.GiveUp = c.PrepayGiveUp
		}
		if c.RefundWindow > 0 {
			sched.RefundWindow = c.RefundWindow
		}
		if a.schedule != nil {
			sched = *a.schedule
		}
		a.svc = order.NewService(a.db, mos.Provider{Client: a.mosClient()}, a.clock, a.log, order.Config{
			AppKey: c.MOSAppKey, NotifyURL: a.NotifyURL(), OrderTTL: c.OrderTTL,
			MaxAmount: c.MaxAmount, Sandbox: c.Sandbox, ClientAmounts: c.ClientAmounts, PrepayLease: inFlight,
			Schedule: sched, Instance: a.instance,
			RenderEvent: api.RenderEvent, EventEndpoints: c.WebhookURLs, Wake: a.wakeDeliverer,
			Recheck: a.wakeReconciler,
		})
	}
	return a.svc
}

// buildDeliverer builds the order events' deliverer, when endpoints are configured. It is built
// before the order service is first used, so that wakeDeliverer sees it.
func (a *App) buildDeliverer() error {
	c := a.cfg
	if len(c.WebhookURLs) == 0 {
		return nil
	}
	d, err := webhook.NewDeliverer(a.db, webhook.DelivererConfig{
		Endpoints: c.WebhookURLs, Secrets: c.WebhookSecrets, Owner: a.instance, Retry: c.WebhookRetry,
		Retention: c.EventRetention, UserAgent: "mospay", Clock: a.clock,
		Logger: a.log.With("component", "events"), Registerer: a.metrics.Registry,
	})
	if err != nil {
		return err
	}
	a.events = d
	return nil
}

// wakeDeliverer tells the deliverer an event was just made (order.Config.Wake).
func (a *App) wakeDeliverer() {
	if a.events != nil {
		a.events.Wake()
	}
}

// wakeReconciler tells the reconciler a check is due soon (order.Config.Recheck).
func (a *App) wakeReconciler(at time.Time) {
	if a.sched != nil {
		a.sched.WakeAt(at)
	}
}

// Deliverer is the order events' deliverer (after Start with WebhookURLs; nil without).
func (a *App) Deliverer() *webhook.Deliverer { return a.events }

// reconciler builds the scheduler over the database and the service.
func (a *App) reconciler() (*scheduler.Scheduler, error) {
	if a.sched == nil {
		c := a.cfg
		s, err := scheduler.New(a.db, a.service(), scheduler.Config{
			Every: c.ReconcileEvery, Concurrency: c.ReconcileConc, Rate: c.ReconcileRate,
			Owner: a.instance, Clock: a.clock, Logger: a.log.With("component", "reconciler"),
		})
		if err != nil {
			return nil, fmt.Errorf("config: MOSPAY_RECONCILE_EVERY: %w", err)
		}
		a.sched = s
	}
	return a.sched, nil
}

// startSandbox serves the embedded MOS sandbox on the configured address.
func (a *App) startSandbox() error {
	c := a.cfg
	l, err := listen("sandbox", c.SandboxAddr, "MOSPAY_SANDBOX_ADDR")
	if err != nil {
		return err
	}
	a.sandboxAddr = l.Addr().String()
	sb, err := sandbox.Open(sandbox.Config{
		AppKey: c.MOSAppKey, AppSecret: c.MOSAppSecret, MchID: c.MOSMchID, AppName: "mospay sandbox",
		NotifyURL: a.NotifyURL(), RetryScale: c.SandboxRetryScale, Logger: a.log.With("component", "sandbox"),
		Now: a.clock.Now, StateFile: c.SandboxStateFile,
		Origins: append(sandbox.OwnOrigins(a.sandboxAddr), c.CORSOrigins...),
	})
	if err != nil {
		l.Close()
		return err
	}
	a.sandbox = sb
	hs := api.NewHTTPServer(sb.Handler(), a.log)
	hs.WriteTimeout = 45 * time.Second // past the longest injected timeout fault (30 s)
	go func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("sandbox stopped", "err", err)
		}
	}()
	a.closers = append(a.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		sb.Close()
	})
	a.log.Info("MOS sandbox serving", "addr", a.sandboxAddr)
	return nil
}

// StartSandbox serves the MOS sandbox alone (`mospay sandbox`), until Close.
func (a *App) StartSandbox() error {
	a.cfg.Sandbox = true
	return a.startSandbox()
}

// checkApplication asks MOS for our application once at start: a refusal (bad credentials) is
// fatal, an unreachable MOS only a warning (notifications and the reconciler catch up later).
func (a *App) checkApplication(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.MOSTimeout)
	defer cancel()
	app, err := a.mosClient().GetApplication(ctx)
	switch {
	case mos.IsRejected(err):
		return fmt.Errorf("MOS refused getApplication (check MOSPAY_MOS_APP_KEY and MOSPAY_MOS_APP_SECRET): %w", err)
	case err != nil:
		a.log.Warn("MOS unreachable at start; continuing", "err", err)
		return nil
	}
	if ours := a.NotifyURL(); app.NotifyURL != "" && app.NotifyURL != ours {
		a.log.Warn("MOS's notifyUrl for this app differs from ours", "mos_notify_url", app.NotifyURL, "our_notify_url", ours)
	}
	a.log.Info("MOS application", "app_name", app.AppName, "app_key", app.AppKey, "status", app.Status)
	return nil
}

// startBackground starts the reconciler, with one pass right away so that orders left behind by
// a crash are brought to MOS's truth without waiting for the first tick.
func (a *App) startBackground() error {
	sch, err := a.reconciler()
	if err != nil {
		return err
	}
	passCtx, cancelPass := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.startupPass = done
	go func() {
		defer close(done)
		if sum, err := sch.Pass(passCtx); err != nil {
			a.log.Warn("start-up reconciliation pass", "err", err)
		} else if sum.Checked > 0 {
			a.log.Info("start-up reconciliation pass", "summary", sum.String())
		}
	}()
	sch.Start()
	if a.events != nil {
		if err := a.events.Start(context.Background()); err != nil {
			cancelPass()
			<-done
			_ = sch.Stop(context.Background())
			return err
		}
	}
	a.stopBG = func() {
		cancelPass()
		<-done
		if a.events != nil {
			ectx, cancel := context.WithTimeout(context.Background(), webhook.DefaultTimeout+time.Second)
			a.events.Stop(ectx)
			cancel()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sch.Stop(sctx); err != nil {
			a.log.Warn("reconciler stop", "err", err)
		}
	}
	return nil
}

// startOps serves /metrics, /healthz and /readyz on the operators' listener (MOSPAY_OPS_ADDR),
// so that the listener MOS and the mini-app reach does not show metrics.
func (a *App) startOps() error {
	l, err := listen("ops", a.cfg.OpsAddr, "MOSPAY_OPS_ADDR")
	if err != nil {
		return err
	}
	a.opsAddr = l.Addr().String()
	hs := api.NewHTTPServer(a.api.OpsHandler(), a.log)
	go func() { _ = hs.Serve(l) }()
	a.closers = append(a.closers, func() { _ = hs.Close() })
	a.log.Info("operations listener serving", "addr", a.opsAddr)
	return nil
}

// DebugURL is pprof's listener's base URL (after Start with DebugAddr).
func (a *App) DebugURL() string { return "http://" + a.debugAddr }

// OpsURL is the operators' listener's base URL (after Start with OpsAddr).
func (a *App) OpsURL() string { return "http://" + a.opsAddr }

// startDebug serves Go's pprof handlers on their own loopback listener, never on the API's
// address, so profiling can be switched on in production without exposing it to clients. The
// command line is not served: it may hold secrets passed as flags.
func (a *App) startDebug() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	l, err := listen("debug", a.cfg.DebugAddr, "MOSPAY_DEBUG_ADDR")
	if err != nil {
		return err
	}
	a.debugAddr = l.Addr().String()
	hs := api.NewHTTPServer(mux, a.log)
	hs.WriteTimeout = 0 // a CPU profile or trace streams for as long as asked
	go func() { _ = hs.Serve(l) }()
	a.closers = append(a.closers, func() { _ = hs.Close() })
	a.log.Info("pprof serving", "addr", l.Addr().String())
	return nil
}

// Close shuts down in order: HTTP first (in-flight requests finish), then background work,
// then the database, then the sandbox and the debug listener. It is safe to call twice and
// after a failed Start.
func (a *App) Close() {
	if a.served != nil {
		a.log.Info("shutting down: HTTP first, then background work, then the database")
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := a.api.Shutdown(sctx); err != nil {
			a.log.Warn("http shutdown", "err", err)
		}
		cancel()
		<-a.served
		a.served = nil
	}
	if a.stopBG != nil {
		a.stopBG()
		a.stopBG = nil
	}
	if a.svc != nil {
		a.svc.StopChecks() // before the database: they use it
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Warn("closing database", "err", err)
		}
		a.db = nil
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// listen opens one of mospay's listeners. Its error names the variable that moves it: a bare
// "address already in use" leaves a newcomer guessing which listener, and which setting, it is.
func listen(what, addr, variable string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s: %s is already in use by another process: stop it, or set %s to a free address", what, addr, variable)
	}
	return nil, fmt.Errorf("%s: listen on %s (%s): %w", what, addr, variable, err)
}
