package ui

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// The sign-in page and signing out; the session they start and end is session.go's.

// loginView is the sign-in page.
type loginView struct {
	chrome
	Next      string // where to go after signing in
	LoginCSRF string
}

// localNext is next if it is a finance page of this site to return to after signing in, else "".
// Anything else (another site, a scheme, "//host", a path out of /finance, the sign-in itself) is
// ignored, so that the sign-in page cannot be made to send anyone elsewhere.
func localNext(next string) string {
	if next == "" || len(next) > 2048 || strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Fragment != "" {
		return ""
	}
	p := u.Path
	if !strings.HasPrefix(p, "/finance/") || path.Clean(p) != p || p == "/finance/login" || p == "/finance/logout" ||
		strings.HasPrefix(p, "/finance/static/") {
		return ""
	}
	if u.RawQuery != "" {
		return u.EscapedPath() + "?" + u.RawQuery
	}
	return u.EscapedPath()
}

// loginPage is GET /finance/login: the sign-in form, or straight on for a signed-in admin.
func (h *Handler) loginPage(c echo.Context) error {
	next := localNext(c.QueryParam("next"))
	if _, ok := h.financeSession(c); ok {
		return c.Redirect(http.StatusSeeOther, orDefault(next, "/finance/orders"))
	}
	return h.loginForm(c, http.StatusOK, next, "")
}

// loginForm renders the sign-in form with status and message, binding its token to the
// pre-session cookie (kept if the browser has one, so that two open sign-in tabs both work).
func (h *Handler) loginForm(c echo.Context, status int, next, msg string) error {
	if h.financeKey() == nil {
		status, msg = http.StatusServiceUnavailable, "Signing in to the finance pages needs MOSPAY_JWT_SECRET (at least 32 bytes)."
	}
	pre := ""
	if ck, err := c.Cookie(preLoginCookie); err == nil && validPreLogin(ck.Value) {
		pre = ck.Value
	} else {
		pre = rand.Text()
	}
	c.SetCookie(h.cookie(preLoginCookie, pre, preLoginTTL))
	v := loginView{chrome: h.chrome(c, "", "Sign in"), Next: next}
	v.Error = msg
	if h.financeKey() != nil {
		v.LoginCSRF = h.preLoginToken(pre)
	}
	return h.render(c, status, "login", v)
}

// validPreLogin reports whether v looks like a value loginForm made (rand.Text: 26 base32
// characters), so that a browser's stale or foreign cookie is replaced, not trusted.
func validPreLogin(v string) bool {
	if len(v) != 26 {
		return false
	}
	for _, r := range v {
		if (r < 'A' || r > 'Z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

// loginSubmit is POST /finance/login (token, csrf, next): 303 on to next with a session cookie;
// the form again with 403 for a missing or wrong CSRF token, 401 for a wrong admin token, 429
// once the address has failed too often (API.AdminAuthFailed: the limit the admin API's bearer tokens count too). A
// successful sign-in is audited.
func (h *Handler) loginSubmit(c echo.Context) error {
	next := localNext(postedValue(c, "next"))
	ck, err := c.Cookie(preLoginCookie)
	if err != nil || h.financeKey() == nil || !validPreLogin(ck.Value) ||
		!sameToken(postedValue(c, "csrf"), h.preLoginToken(ck.Value)) {
		return h.loginForm(c, http.StatusForbidden, next,
			"This sign-in form has expired or was not sent from this site. Please sign in again.")
	}
	token := postedValue(c, "token")
	name := ""
	if len(token) <= maxTokenLen {
		name = h.deps.API.AdminByToken(token)
	}
	ctx := c.Request().Context()
	if name == "" {
		h.deps.Logger.Warn("finance sign-in refused", "request_id", h.requestID(c), "remote_ip", c.RealIP())
		if err := h.deps.API.AdminAuthFailed(c, "Too many failed sign-ins from this address; wait a minute and try again."); err != nil {
			return h.loginForm(c, http.StatusTooManyRequests, next, order.ErrorMessage(err))
		}
		// Audited only below the failure limit, so that a guesser adds at most AdminAuthFailures
		// rows a minute per address (and one every few seconds after).
		if err := h.deps.Orders.Record(ctx, order.AdminAction{Action: order.ActionLoginFailed,
			Detail: "from " + c.RealIP(), RequestID: h.requestID(c)}); err != nil {
			h.deps.Logger.Error("refused sign-in not audited", "request_id", h.requestID(c), "err", err)
		}
		return h.loginForm(c, http.StatusUnauthorized, next, "That is not a valid admin token.")
	}
	now := h.deps.Now()
	key := h.financeKey()
	sess := session{Admin: name, ID: rand.Text(), Expires: now.Add(SessionTTL).Truncate(time.Second)}
	fp := tokenFingerprint(key, token)
	if err := h.deps.Sessions.StartSession(ctx, order.FinanceSession{ID: sess.key(), Admin: name,
		TokenFingerprint: fp, RemoteIP: c.RealIP(), UserAgent: c.Request().UserAgent(), CreatedAt: now,
		ExpiresAt: sess.Expires}, h.requestID(c)); err != nil {
		status, msg := h.errorStatus(c, err)
		return h.loginForm(c, status, next, "Signing in could not be recorded: "+msg)
	}
	value := sealSession(key, sessionClaims{Admin: name, Fingerprint: fp, Expires: sess.Expires.Unix(), ID: sess.ID})
	c.SetCookie(h.cookie(sessionCookie, value, SessionTTL))
	c.SetCookie(h.cookie(preLoginCookie, "", -1))
	return c.Redirect(http.StatusSeeOther, orDefault(next, "/finance/orders"))
}

// logout is POST /finance/logout: the session ends in the database, so that a copy of its
// cookie stops working everywhere too, and the cookie is expired in this browser (audited:
// logout).
func (h *Handler) logout(c echo.Context) error {
	sess, _ := c.Get(sessionKey).(session)
	if err := h.deps.Sessions.EndSession(c.Request().Context(), sess.key(), sess.Admin, h.requestID(c)); err != nil &&
		order.ErrorCode(err) != order.ENOTFOUND {
		return h.errorPage(c, err)
	}
	c.SetCookie(h.cookie(sessionCookie, "", -1))
	return c.Redirect(http.StatusSeeOther, "/finance/login")
}
