// Package ui is the finance desk's web pages: server-rendered html/template pages with a
// session cookie of their own, mounted beside the JSON API on the same server. The JSON API
// stays in package api, as miniflux separates its ui from its api; the pages read a question,
// name an admin token and answer an error through the API (implemented by *api.Server), so that
// they do exactly what the JSON API does.
package ui

import (
	"context"
	"embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// Finance's pages are built the way miniflux builds its UI: every view is a URL, its filters are
// query parameters, links and plain HTML forms do the work, and the server renders html/template
// pages. There is no JavaScript at all, so the Content-Security-Policy can refuse every script
// and inline style: a page that somehow carried injected markup could still run nothing.
//
//	GET  /finance                                       303 to the orders (or to sign-in)
//	GET  /finance/login, POST /finance/login            sign in with an admin token
//	POST /finance/logout                                sign out
//	GET  /finance/orders                                the list, its counts and sums
//	GET  /finance/orders.csv                            the list as CSV (API.OrdersCSV)
//	GET  /finance/orders/{outTradeNo}                   an order's story
//	POST /finance/orders/{outTradeNo}/reconcile         ask MOS now
//	POST /finance/orders/{outTradeNo}/flags/{f}/resolve resolve a flag with an outcome and a note
//	POST /finance/orders/{outTradeNo}/close             close a stuck order as not paid, with a note
//	GET  /finance/review                                orders with active flags
//	GET  /finance/report                                the reconciliation report
//	GET  /finance/audit                                 the admin actions
//	GET  /finance/products, POST /finance/products      the product list; add a product
//	POST /finance/products/{id}                         change a product
//	GET  /finance/sessions                              the admin's open sessions
//	POST /finance/sessions/{id}/end                     end one of them everywhere
//	GET  /finance/static/{name}                         the style sheet and the icon (no session)
//
// One file per page (login.go, orders.go, story.go, review.go, report.go, audit.go,
// products.go, sessions.go); sessions and CSRF are in session.go, the layout and rendering in
// render.go, the style sheet and icon in static.go, what several pages show in view.go and
// filter.go. docs/finance.md is the guide for finance.

// MinSecret is the shortest secret the session key is derived from: as for mini-app tokens
// (api.MinTokenSecret). With a shorter one nobody can sign in (fail closed).
const MinSecret = 32

// Config is what the pages need from mospay's configuration.
type Config struct {
	// Secret is the JWT secret (MOSPAY_JWT_SECRET): the session cookie's and the forms' key is
	// derived from it (financeKey), never the secret itself.
	Secret []byte
	// AdminTokens are the configured admin tokens: a session is valid only while the token it
	// was made with is one of them.
	AdminTokens []AdminToken
	// SecureCookies marks the cookies Secure (the public URL is https).
	SecureCookies bool
}

// AdminToken is a configured admin token and its name (api.AdminToken).
type AdminToken struct {
	Name, Token string
}

// API is what the pages share with the JSON API (*api.Server implements it), so that a page
// reads its URL, recognises an admin token and answers an error exactly as the API does.
type API interface {
	// RequestID is mospay's own id of the request.
	RequestID(c echo.Context) string
	// ErrorStatus is the HTTP status and the message the API answers err with; a 5xx is logged
	// with the request id.
	ErrorStatus(c echo.Context, err error) (int, string)
	// ListFilter reads the orders' filter (status, currency, flag, q, basis, from, to, tz, limit,
	// cursor); ReportTZ the zone (tz, else DefaultZone); KnownZone whether a zone name is one
	// ReportTZ takes.
	ListFilter(c echo.Context) (order.ListFilter, error)
	ReportTZ(c echo.Context) (*time.Location, error)
	DefaultZone() *time.Location
	KnownZone(name string) bool
	// PageParams reads limit and cursor; ReviewFlag the review queue's flag; AuditFilter the
	// audit trail's filter with action.
	PageParams(c echo.Context) (limit int, cursor string, err error)
	ReviewFlag(c echo.Context) (order.Flag, error)
	AuditFilter(c echo.Context, action string) (order.AuditFilter, error)
	// OrdersCSV streams the orders of the list's filter as CSV (audited under the admin the
	// context names, see requireFinance).
	OrdersCSV(c echo.Context) error
	// AdminByToken is the name of the admin token equal to token, compared in constant time; ""
	// when none is.
	AdminByToken(token string) string
	// AdminAuthFailed counts a failed admin authentication from the request's address: over the
	// limit (the one the admin API's bearer tokens count too) it is the 429 to answer, with msg.
	AdminAuthFailed(c echo.Context, msg string) error
}

// Orders is the order service as the pages use it (order.Service implements it).
type Orders interface {
	List(ctx context.Context, f order.ListFilter) (order.Page, error)
	Story(ctx context.Context, outTradeNo string) (*order.Story, error)
	Report(ctx context.Context, f order.ListFilter) (*order.Report, error)
	Review(ctx context.Context, f order.ReviewFilter) (order.ReviewPage, error)
	ReviewCount(ctx context.Context) (int64, error)
	ReconcileNow(ctx context.Context, outTradeNo, admin, requestID string) (*order.Order, error)
	ResolveFlag(ctx context.Context, outTradeNo string, flag order.Flag, outcome order.Outcome, note, admin, requestID string) (*order.Order, error)
	CloseStuck(ctx context.Context, outTradeNo, note, admin, requestID string) (*order.Order, error)
	Choices(ctx context.Context, o *order.Order) (map[order.Flag][]order.Outcome, bool, error)
	Record(ctx context.Context, a order.AdminAction) error
	Audit(ctx context.Context, f order.AuditFilter) (order.AuditPage, error)
}

// Sessions are the finance sessions as the pages use them (order.Service implements it).
type Sessions interface {
	StartSession(ctx context.Context, fs order.FinanceSession, requestID string) error
	FinanceSession(ctx context.Context, id string) (*order.FinanceSession, error)
	OpenSessions(ctx context.Context, admin string) ([]order.FinanceSession, error)
	EndSession(ctx context.Context, id, admin, requestID string) error
	EndSessionsExcept(ctx context.Context, configured []order.SessionToken) (int64, error)
}

// Products is the product list as the pages use it (order.Service implements it).
type Products interface {
	Products(ctx context.Context, activeOnly bool) ([]*order.Product, error)
	CreateProduct(ctx context.Context, r order.ProductRequest, admin, requestID string) (*order.Product, error)
	UpdateProduct(ctx context.Context, r order.ProductRequest, admin, requestID string) (*order.Product, error)
}

// Deps are what the pages call, passed in explicitly by the composition root (app.New).
type Deps struct {
	Logger   *slog.Logger
	API      API
	Orders   Orders
	Sessions Sessions
	Products Products
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Handler is the finance pages, ready to be mounted on the API's server (Routes).
type Handler struct {
	cfg  Config
	deps Deps
}

// New builds the pages; Routes mounts them.
func New(cfg Config, deps Deps) *Handler {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Handler{cfg: cfg, deps: deps}
}

// requestID is mospay's own id of the request (API.RequestID).
func (h *Handler) requestID(c echo.Context) string { return h.deps.API.RequestID(c) }

// financeCSP is every finance page's Content-Security-Policy: styles and images from mospay
// only, no script of any kind, forms posting only to mospay, never framed, no <base>.
const financeCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// webFS holds the templates and the static files, embedded so that the binary serves the pages
// with no build step and no files beside it.
//
//go:embed web
var webFS embed.FS

// Routes declares the finance pages on e (see the list above); every middleware of e runs
// around them too. The admin JSON API keeps its bearer tokens; the pages have a session cookie
// of their own instead, so that no token has to live in the browser's script-reachable storage.
func (h *Handler) Routes(e *echo.Echo) {
	e.GET("/finance", h.financeHome, pageHeaders)
	g := e.Group("/finance")
	g.GET("/", h.financeHome, pageHeaders)
	g.GET("/static/:name", serveFinanceStatic, pageHeaders)
	g.GET("/login", h.loginPage, pageHeaders)
	g.POST("/login", h.loginSubmit, pageHeaders)

	signedIn := []echo.MiddlewareFunc{pageHeaders, h.requireFinance}
	posted := []echo.MiddlewareFunc{pageHeaders, h.requireFinance, h.requireCSRF}
	g.POST("/logout", h.logout, posted...)
	g.GET("/orders", h.ordersPage, signedIn...)
	g.GET("/orders.csv", h.deps.API.OrdersCSV, signedIn...)
	g.GET("/orders/:outTradeNo", h.storyPage, signedIn...)
	g.POST("/orders/:outTradeNo/reconcile", h.reconcileAction, posted...)
	g.POST("/orders/:outTradeNo/flags/:flag/resolve", h.resolveAction, posted...)
	g.POST("/orders/:outTradeNo/close", h.closeAction, posted...)
	g.GET("/review", h.reviewPage, signedIn...)
	g.GET("/report", h.reportPage, signedIn...)
	g.GET("/audit", h.auditPage, signedIn...)
	g.GET("/products", h.productsPage, signedIn...)
	g.POST("/products", h.createProductAction, posted...)
	g.POST("/products/:id", h.updateProductAction, posted...)
	g.GET("/sessions", h.sessionsPage, signedIn...)
	g.POST("/sessions/:id/end", h.endSessionAction, posted...)
	g.RouteNotFound("/*", h.pageNotFound, signedIn...) // says nothing of which pages exist before sign-in
}

// pageHeaders sets what every finance answer carries: the strict CSP, no framing, and no
// caching (the pages hold payers' data; the static files override it).
func pageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", financeCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// financeHome is GET /finance: the orders for a session, else sign-in (requireFinance is not in
// front of it, so that the redirect to sign-in carries no next).
func (h *Handler) financeHome(c echo.Context) error {
	if _, ok := h.financeSession(c); ok {
		return c.Redirect(http.StatusSeeOther, "/finance/orders")
	}
	return c.Redirect(http.StatusSeeOther, "/finance/login")
}
