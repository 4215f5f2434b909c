// Package api is mospay's HTTP face: the mini-app REST API (/mp), MOS's notifications
// (/mos/notify), the admin API (/admin), the merchant API (/merchant) and operations (/healthz,
// /readyz, /metrics, /openapi.json). Handlers are thin: bind, call one service method, map the
// error, render. Every route is declared in routes(), so a newcomer finds any endpoint in one
// place, and every JSON route is described in docs/openapi.yaml (a test holds the two together).
// The finance pages (/finance) are package ui's, mounted on this server by app.New (Mount).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/mospay/mospay/docs"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

// Config is what the HTTP layer needs from mospay's configuration.
type Config struct {
	MaxBody        int64        // bytes; larger bodies get 413
	CORSOrigins    []string     // origins allowed to call /mp from a browser
	TrustedProxies []*net.IPNet // peers whose X-Forwarded-For is believed

	JWTSecret  []byte        // HS256 key of mini-app tokens, at least MinTokenSecret bytes
	JWTTTL     time.Duration // mini-app token lifetime; DefaultTokenTTL when zero
	AppKey     string        // the mini-app's MOS appKey, bound into every token
	LoginRate  rate.Limit    // logins per second per client address; DefaultLoginRate when zero
	LoginBurst int           // logins at once per client address; DefaultLoginBurst when zero
	UserRate   rate.Limit    // /mp requests per second per user after login; 0 turns the limit off
	UserBurst  int           // /mp requests at once per user

	AdminTokens []AdminToken   // bearer tokens for /admin
	ReportTZ    *time.Location // time zone of report dates (UTC when nil)

	// OpsSeparate: /metrics is served by OpsHandler on a listener of its own, not here.
	OpsSeparate bool

	// MerchantKeys are the merchant backends' keys for /merchant (none: every /merchant request is
	// 401); MerchantRate and MerchantBurst limit each key (DefaultMerchantRate, DefaultMerchantBurst
	// when zero).
	MerchantKeys  []MerchantKey
	MerchantRate  rate.Limit
	MerchantBurst int
}

// Deps are the services the handlers call, passed in explicitly by the composition root (app.New).
type Deps struct {
	Logger  *slog.Logger
	Metrics *Metrics
	// Ready reports whether the database is reachable and migrated (for /readyz).
	Ready func(ctx context.Context) error
	// Orders is the order service.
	Orders Orders
	// Users are mospay's mini-app users (order.Service too).
	Users Users
	// Events are the order events and their deliveries (order.Service too).
	Events Events
	// Merchant is the order service as the merchant API uses it; Products, the product list
	// (order.Service too).
	Merchant MerchantOrders
	Products Products
	// FinanceSessions are the finance pages' sessions, as GET /admin/sessions shows and ends them
	// (order.Service too).
	FinanceSessions FinanceSessions
	// Notify receives MOS's notifications (mos.Receiver, at mos.NotifyPath); it answers in MOS's envelope.
	Notify http.Handler
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Server is the configured Echo instance.
type Server struct {
	echo   *echo.Echo
	cfg    Config
	deps   Deps
	tokens *Tokens
	http   *http.Server
	// openAPI is the OpenAPI document as JSON, served at /openapi.json.
	openAPI []byte
	// adminFailures counts failed admin authentications per address.
	adminFailures *middleware.RateLimiterMemoryStore
	// refused logs the CORS preflights cors refuses.
	refused *refusedPreflights
}

// New builds the server and its routes; it does not listen.
func New(cfg Config, deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics()
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(deps.Logger)
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	if deps.Now == nil {
		deps.Now = time.Now
	}
	doc, err := docs.OpenAPIJSON()
	if err != nil {
		panic(err) // the document is embedded: a test catches this before any build ships
	}
	s := &Server{echo: e, cfg: cfg, deps: deps, tokens: NewTokens(cfg.JWTSecret, cfg.JWTTTL, cfg.AppKey, deps.Now), openAPI: doc,
		adminFailures: newAdminAuthFailures(), refused: newRefusedPreflights(deps.Logger)}
	// Built here, not in Serve, so that a Shutdown that comes first still stops a later Serve.
	s.http = NewHTTPServer(e, deps.Logger)
	s.routes()
	return s
}

// NewHTTPServer is an http.Server with the timeouts every listener of mospay has (the API, the
// operators', pprof's, the embedded sandbox's), so that a slow or idle client cannot hold a
// connection; docs/security.md lists them. It is the one constructor of mospay's servers.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Handler exposes the router (for tests and for mounting).
func (s *Server) Handler() http.Handler { return s.echo }

// routes declares every endpoint and the middleware around them.
func (s *Server) routes() {
	e := s.echo
	e.Use(requestIDs)
	e.Use(securityHeaders)
	e.Use(s.deps.Metrics.middleware)
	e.Use(s.accessLog)
	e.Use(s.refused.middleware)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.deps.Logger.Error("panic", "request_id", requestID(c), "err", err, "stack", string(stack))
			return err
		},
	}))
	// MOS's notifications limit their own body, to answer in MOS's envelope.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit:   fmt.Sprintf("%dB", s.cfg.MaxBody),
		Skipper: func(c echo.Context) bool { return c.Path() == mos.NotifyPath },
	}))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if !s.cfg.OpsSeparate {
		e.GET("/metrics", s.metrics)
	}
	e.GET("/openapi.json", s.openapi)

	mp := e.Group("/mp", s.cors()...)
	mp.POST("/login/miniAppLogin", s.login, s.loginLimit())
	// Every other /mp route needs a mini-app token, and is limited per user: add it to user, read
	// the caller with userOf.
	user := mp.Group("", s.requireUser, s.userLimit())
	user.GET("/user", s.user)
	user.GET("/products", s.mpProducts)
	user.POST("/orders", s.createOrder)
	user.GET("/orders", s.listOrders)
	user.GET("/orders/:outTradeNo", s.getOrder)
	user.POST("/orders/:outTradeNo/query", s.queryOrder)

	if s.deps.Notify != nil {
		// Every method reaches the receiver, so that even a wrong one is answered in MOS's
		// envelope (405), never in mospay's error format.
		e.Any(mos.NotifyPath, echo.WrapHandler(s.deps.Notify))
	}

	admin := e.Group("/admin", s.requireAdmin)
	admin.GET("/orders", s.adminList)
	admin.GET("/orders.csv", s.adminCSV)
	admin.GET("/orders/:outTradeNo", s.adminStory)
	admin.POST("/orders/:outTradeNo/reconcile", s.adminReconcile)
	admin.POST("/orders/:outTradeNo/flags/:flag/resolve", s.adminResolve)
	admin.POST("/orders/:outTradeNo/close", s.adminClose)
	admin.GET("/review", s.adminReview)
	admin.GET("/reports/reconciliation", s.adminReport)
	admin.GET("/users", s.adminUsers)
	admin.POST("/users/:id/revoke", s.adminRevoke)
	admin.GET("/audit", s.adminAudit)
	admin.GET("/sessions", s.adminSessions)
	admin.POST("/sessions/:id/end", s.adminEndSession)
	admin.GET("/webhooks", s.adminWebhooks)
	admin.GET("/events", s.adminEvents)
	admin.POST("/events/redeliver", s.adminRedeliverFailed)
	admin.GET("/events/:id", s.adminEvent)
	admin.POST("/events/:id/redeliver", s.adminRedeliver)
	admin.GET("/products", s.adminProducts)
	admin.POST("/products", s.adminCreateProduct)
	admin.PUT("/products/:id", s.adminUpdateProduct)

	// The merchant API: a merchant's backend, server to server, with a merchant key.
	merchant := e.Group("/merchant", s.requireMerchant, s.merchantLimit())
	merchant.POST("/users/verify", s.merchantVerify)
	merchant.POST("/orders", s.merchantCreate)
	merchant.GET("/orders", s.merchantList)
	merchant.GET("/orders/:outTradeNo", s.merchantGet)
}

// Mount declares routes of another package on the server, behind the same middleware: the
// finance pages (ui.Handler.Routes), which app.New builds with this server as their ui.API.
func (s *Server) Mount(routes func(e *echo.Echo)) {
	routes(s.echo)
}

// OpsHandler serves what an operator's listener (MOSPAY_OPS_ADDR) needs: /metrics, /healthz and
// /readyz, away from the listener MOS and the mini-app reach.
func (s *Server) OpsHandler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(s.deps.Logger)
	e.Use(requestIDs, securityHeaders)
	e.GET("/metrics", s.metrics)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	return e
}

func (s *Server) metrics(c echo.Context) error {
	promhttp.HandlerFor(s.deps.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

// cors lets the mini-app's web view call /mp from the configured origins. A preflight (OPTIONS)
// is answered here, before any authentication, so it never needs a token. With no origin
// configured there is no CORS at all: no header is sent, and a browser on another origin is
// refused by its own rules. Either way a refused preflight is logged with its origin
// (refusedPreflights, around every route).
func (s *Server) cors() []echo.MiddlewareFunc {
	if len(s.cfg.CORSOrigins) == 0 {
		return nil
	}
	return []echo.MiddlewareFunc{middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  s.cfg.CORSOrigins,
		AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "Idempotency-Key", "Lang", echo.HeaderXRequestID},
		ExposeHeaders: []string{echo.HeaderXRequestID},
		MaxAge:        600,
	})}
}

// openapi serves the OpenAPI 3.1 description of every route above except the HTML pages
// (docs/openapi.yaml, converted to JSON once at start).
func (s *Server) openapi(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, s.openAPI)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if s.deps.Ready != nil {
		if err := s.deps.Ready(ctx); err != nil {
			s.deps.Logger.Warn("not ready", "err", err)
			return c.JSON(http.StatusServiceUnavailable, ErrorBody{Error: ErrorDetail{
				Code: order.EUNAVAILABLE, Message: "not ready: database unreachable or migrations pending"}})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// accessLog writes one line per request with its id; never headers or bodies (they may carry
// tokens or signatures), and the method and route only as methodLabel and routeLabel name them
// (a client chooses the raw ones, at any length).
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if !s.deps.Logger.Enabled(c.Request().Context(), slog.LevelInfo) {
			return nil // its fields cost an eighth of a GET's allocations: not made when not written
		}
		s.deps.Logger.Info("http", "request_id", requestID(c), "method", methodLabel(c.Request().Method),
			"route", routeLabel(c), "status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds(),
			"remote_ip", c.RealIP(), "client_request_id", clientRequestID(c))
		return nil
	}
}

// requestID is mospay's own id of the request (requestIDs), never the client's.
func requestID(c echo.Context) string {
	if id, ok := c.Get(requestIDKey).(string); ok {
		return id
	}
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// ipExtractor believes X-Forwarded-For only from configured proxies; otherwise the socket's peer.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Serve answers on l until Shutdown. Timeouts bound slow clients.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests, up to ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}
