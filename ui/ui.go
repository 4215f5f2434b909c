// Package ui is the finance desk's web pages: server-rendered html/template pages with a
// session cookie of their own, mounted beside the JSON API on the same server. The JSON API
// stays in package api, as miniflux separates its ui from its api; the pages read a question,
// name an admin token and answer an error through the API (implemented by *api.Server), so that
// they do exactly what the JSON API does.
package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
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
// products.go, sessions.go); sessions and CSRF are in session.go, the layout and rendering here,
// what several pages show in view.go and filter.go. docs/finance.md is the guide for finance.

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

// pages are the parsed templates, one set per page: the layout, the shared parts, and the page's
// own "content". Parsed once at start; a broken template stops the program at once (and every
// test), never a request.
var pages = parsePages("login", "orders", "story", "review", "report", "audit", "products", "sessions", "error")

func parsePages(names ...string) map[string]*template.Template {
	out := make(map[string]*template.Template, len(names))
	for _, n := range names {
		out[n] = template.Must(template.New(n).ParseFS(webFS,
			"web/templates/layout.html", "web/templates/parts.html", "web/templates/"+n+".html"))
	}
	return out
}

// render writes the page name with data (whose chrome the layout reads) and status. The page is
// rendered to a buffer first, so that a template error is an error, not half a page.
func (h *Handler) render(c echo.Context, status int, name string, data any) error {
	t, ok := pages[name]
	if !ok {
		return order.Errorf(order.EINTERNAL, "no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return order.Wrap(order.EINTERNAL, err, "rendering the %s page", name)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// errorStatus is the HTTP status and the message to show for err, as the JSON API would answer
// it (API.ErrorStatus: the one table in api's error.go). A 5xx is logged by the API with the request id, which the message names
// so that finance can quote it.
func (h *Handler) errorStatus(c echo.Context, err error) (int, string) {
	status, msg := h.deps.API.ErrorStatus(c, err)
	if status >= 500 {
		msg += " (request id " + h.requestID(c) + ")"
	}
	return status, msg
}

// errorView is a page that has nothing to show but what went wrong.
type errorView struct {
	chrome
}

// errorPage answers err as a page of its own: for what has no page to show the error on (an
// order that does not exist, a form that expired).
func (h *Handler) errorPage(c echo.Context, err error) error {
	status, msg := h.errorStatus(c, err)
	v := errorView{chrome: h.chrome(c, "", http.StatusText(status))}
	v.Error = msg
	return h.render(c, status, "error", v)
}

// pageNotFound is any other /finance path.
func (h *Handler) pageNotFound(c echo.Context) error {
	return h.errorPage(c, order.Errorf(order.ENOTFOUND, "There is no page at %s.", c.Request().URL.Path))
}

// chrome is what the layout shows around every page: who is signed in, the navigation, the form
// token for Sign out, and the page's messages.
type chrome struct {
	Title  string
	Admin  string // the signed-in admin's name; "" shows no navigation
	CSRF   string // the session's form token
	Nav    []navLink
	Notice string // a confirmation ("Flag resolved.")
	Error  string // what went wrong, from the error's message
	CSSURL string
}

// navLink is one entry of the navigation bar.
type navLink struct {
	Label, URL string
	Current    bool
}

// chrome builds the layout's data for the page of section ("orders", "review", ...; "" for
// none). The navigation keeps the time zone the URL chose, so that moving between pages keeps
// it.
func (h *Handler) chrome(c echo.Context, section, title string) chrome {
	ch := chrome{Title: title, CSSURL: financeCSSURL}
	sess, ok := c.Get(sessionKey).(session)
	if !ok {
		return ch
	}
	ch.Admin, ch.CSRF = sess.Admin, h.csrfToken(sess)
	tz := ""
	if v := c.QueryParam("tz"); v != "" && h.deps.API.KnownZone(v) {
		tz = v
	}
	review := "Review"
	if n, err := h.deps.Orders.ReviewCount(c.Request().Context()); err == nil && n > 0 {
		review = fmt.Sprintf("Review (%d)", n)
	}
	for _, l := range []struct{ section, label string }{
		{"orders", "Orders"}, {"review", review}, {"report", "Report"}, {"audit", "Audit"}, {"products", "Products"},
		{"sessions", "Sessions"},
	} {
		u := "/finance/" + l.section
		if tz != "" {
			u += "?tz=" + queryEscape(tz)
		}
		ch.Nav = append(ch.Nav, navLink{Label: l.label, URL: u, Current: l.section == section})
	}
	return ch
}

// staticFile is one embedded file under web/static, ready to serve.
type staticFile struct {
	body        []byte
	contentType string
	etag        string
}

// financeStatic are the static files by name, read once.
var financeStatic = loadFinanceStatic()

// financeCSSURL is the style sheet's URL, versioned by its content so that a new build's style
// sheet is fetched at once although browsers may cache the file for a day.
var financeCSSURL = "/finance/static/finance.css?v=" + strings.Trim(financeStatic["finance.css"].etag, `"`)

func loadFinanceStatic() map[string]staticFile {
	types := map[string]string{".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	out := map[string]staticFile{}
	entries, err := fs.ReadDir(webFS, "web/static")
	if err != nil {
		panic("api: embedded web/static missing: " + err.Error()) // a broken build
	}
	for _, e := range entries {
		b, err := fs.ReadFile(webFS, "web/static/"+e.Name())
		if err != nil {
			panic("api: " + err.Error())
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = staticFile{body: b, contentType: types[path.Ext(e.Name())], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// serveFinanceStatic serves web/static/{name} without a session: the style sheet and the icon
// hold nothing private, and the sign-in page needs them. They may be cached for a day and then
// revalidated by their ETag.
func serveFinanceStatic(c echo.Context) error {
	f, ok := financeStatic[c.Param("name")]
	if !ok {
		return order.Errorf(order.ENOTFOUND, "no such file")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.contentType)
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("ETag", f.etag)
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(f.body))
	return nil
}
