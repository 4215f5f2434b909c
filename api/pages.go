package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
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
//	GET  /finance/orders.csv                            the list as CSV (adminCSV)
//	GET  /finance/orders/{outTradeNo}                   an order's story
//	POST /finance/orders/{outTradeNo}/reconcile         ask MOS now
//	POST /finance/orders/{outTradeNo}/flags/{f}/resolve resolve a flag with an outcome and a note
//	POST /finance/orders/{outTradeNo}/close             close a stuck order as not paid, with a note
//	GET  /finance/review                                orders with active flags
//	GET  /finance/report                                the reconciliation report
//	GET  /finance/audit                                 the admin actions
//	GET  /finance/sessions                              the admin's open sessions
//	POST /finance/sessions/{id}/end                     end one of them everywhere
//	GET  /finance/static/{name}                         the style sheet and the icon (no session)
//
// Sessions and CSRF are in pages_session.go, the views in pages_views.go, the order's timeline
// in pages_story.go. docs/finance.md is the guide for finance.

// financeCSP is every finance page's Content-Security-Policy: styles and images from mospay
// only, no script of any kind, forms posting only to mospay, never framed, no <base>.
const financeCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// webFS holds the templates and the static files, embedded so that the binary serves the pages
// with no build step and no files beside it.
//
//go:embed web
var webFS embed.FS

// financeRoutes declares the finance pages (see the list above). The admin JSON API keeps its
// bearer tokens; the pages have a session cookie of their own instead, so that no token has to
// live in the browser's script-reachable storage.
func (s *Server) financeRoutes() {
	e := s.echo
	e.GET("/finance", s.financeHome, pageHeaders)
	g := e.Group("/finance")
	g.GET("/", s.financeHome, pageHeaders)
	g.GET("/static/:name", serveFinanceStatic, pageHeaders)
	g.GET("/login", s.loginPage, pageHeaders)
	g.POST("/login", s.loginSubmit, pageHeaders)

	signedIn := []echo.MiddlewareFunc{pageHeaders, s.requireFinance}
	posted := []echo.MiddlewareFunc{pageHeaders, s.requireFinance, s.requireCSRF}
	g.POST("/logout", s.logout, posted...)
	g.GET("/orders", s.ordersPage, signedIn...)
	g.GET("/orders.csv", s.adminCSV, signedIn...)
	g.GET("/orders/:outTradeNo", s.storyPage, signedIn...)
	g.POST("/orders/:outTradeNo/reconcile", s.reconcileAction, posted...)
	g.POST("/orders/:outTradeNo/flags/:flag/resolve", s.resolveAction, posted...)
	g.POST("/orders/:outTradeNo/close", s.closeAction, posted...)
	g.GET("/review", s.reviewPage, signedIn...)
	g.GET("/report", s.reportPage, signedIn...)
	g.GET("/audit", s.auditPage, signedIn...)
	g.GET("/products", s.productsPage, signedIn...)
	g.POST("/products", s.createProductAction, posted...)
	g.POST("/products/:id", s.updateProductAction, posted...)
	g.GET("/sessions", s.sessionsPage, signedIn...)
	g.POST("/sessions/:id/end", s.endSessionAction, posted...)
	g.RouteNotFound("/*", s.pageNotFound, signedIn...) // says nothing of which pages exist before sign-in
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
func (s *Server) financeHome(c echo.Context) error {
	if _, ok := s.financeSession(c); ok {
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
func (s *Server) render(c echo.Context, status int, name string, data any) error {
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
// it (the one table in error.go). A 5xx is logged with the request id, which the message names
// so that finance can quote it.
func (s *Server) errorStatus(c echo.Context, err error) (int, string) {
	code, msg := classify(err)
	status := statusOf[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		s.deps.Logger.ErrorContext(c.Request().Context(), "finance page failed", "request_id", requestID(c),
			"method", methodLabel(c.Request().Method), "route", routeLabel(c), "code", code, "err", err)
		msg += " (request id " + requestID(c) + ")"
	}
	return status, msg
}

// errorView is a page that has nothing to show but what went wrong.
type errorView struct {
	chrome
}

// errorPage answers err as a page of its own: for what has no page to show the error on (an
// order that does not exist, a form that expired).
func (s *Server) errorPage(c echo.Context, err error) error {
	status, msg := s.errorStatus(c, err)
	v := errorView{chrome: s.chrome(c, "", http.StatusText(status))}
	v.Error = msg
	return s.render(c, status, "error", v)
}

// pageNotFound is any other /finance path.
func (s *Server) pageNotFound(c echo.Context) error {
	return s.errorPage(c, order.Errorf(order.ENOTFOUND, "There is no page at %s.", c.Request().URL.Path))
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
func (s *Server) chrome(c echo.Context, section, title string) chrome {
	ch := chrome{Title: title, CSSURL: financeCSSURL}
	sess, ok := c.Get(sessionKey).(session)
	if !ok {
		return ch
	}
	ch.Admin, ch.CSRF = sess.Admin, s.csrfToken(sess)
	tz := ""
	if v := c.QueryParam("tz"); v != "" && knownZone(v) {
		tz = v
	}
	review := "Review"
	if n, err := s.deps.Orders.ReviewCount(c.Request().Context()); err == nil && n > 0 {
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
