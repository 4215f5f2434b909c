package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

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
// it (API.ErrorStatus, from the API's one table of error codes). A 5xx is logged with the
// request id, which the message names so that finance can quote it.
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
