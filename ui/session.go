package ui

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// Finance's sign-in. An admin signs in once with an admin token (the same tokens as the JSON
// API's bearer tokens) and gets a session cookie; the token itself is never stored in the
// browser. The cookie is signed with a key derived from the JWT secret and names a session kept
// in the database (finance_sessions, keyed by the SHA-256 of the cookie's session id), so that it
// holds across restarts and on every instance, and ends everywhere when it is signed out. It
// carries a fingerprint of the token it was made with, so that removing or rotating that token
// ends every session made with it; at start, sessions of tokens no longer configured are ended
// in the database, so that a token put back does not revive them.
//
//	mospay_finance = "v1." base64url(JSON{admin name, token fingerprint, expiry, session id}) "." base64url(MAC)
//
// Every form that changes something carries a CSRF token bound to the session id; the sign-in
// form, before any session, one bound to a random pre-session cookie. Both cookies are HttpOnly
// and SameSite=Strict, so that another site can neither read nor send them.

const (
	sessionCookie  = "mospay_finance"       // the session
	preLoginCookie = "mospay_finance_login" // the sign-in form's CSRF binding, before a session
	cookiePath     = "/finance"
	// SessionTTL is how long a finance session lasts; then finance signs in again.
	SessionTTL  = 12 * time.Hour
	preLoginTTL = time.Hour
	// maxTokenLen bounds a sign-in's token: no admin token is longer, and a longer one is
	// refused before it is compared.
	maxTokenLen = 1024
	// sessionKey keys the request's session in the Echo context.
	sessionKey = "finance.session"
)

// session is a verified finance session.
type session struct {
	Admin   string    // the admin token's name, for the audit trail
	ID      string    // random, per sign-in; binds the CSRF token; only the cookie holds it
	Expires time.Time // absolute: a session is not extended by use
	// fingerprint names the admin token signed in with (tokenFingerprint).
	fingerprint string
}

// key is the session's id in the database: the SHA-256 of its secret id, in hex.
func (sess session) key() string { return sessionKeyOf(sess.ID) }

// sessionKeyOf is the database id of the session whose cookie holds the secret id.
func sessionKeyOf(id string) string {
	sum := sha256.Sum256([]byte("mospay finance session\x00" + id))
	return hex.EncodeToString(sum[:])
}

// sessionClaims is the cookie's signed payload.
type sessionClaims struct {
	Admin       string `json:"n"`
	Fingerprint string `json:"f"` // tokenFingerprint of the admin token signed in with
	Expires     int64  `json:"e"` // Unix seconds
	ID          string `json:"s"`
}

// financeKey is the key of the session cookie and the CSRF tokens: HMAC-SHA256 of a fixed label
// under the JWT secret, so that it is the same on every instance and after a restart, and is
// never the JWT key itself. It is nil when the JWT secret is too short to sign anything with:
// then nobody can sign in (fail closed).
func (h *Handler) financeKey() []byte {
	if len(h.cfg.Secret) < MinSecret {
		return nil
	}
	return macOf(h.cfg.Secret, "mospay finance session v1")
}

// macOf is HMAC-SHA256(key, msg).
func macOf(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// b64 encodes the cookie's parts; Strict, so that no two texts decode to the same bytes (a changed
// last character is never the same MAC).
var b64 = base64.RawURLEncoding.Strict()

// tokenFingerprint names an admin token without revealing it: the first 16 bytes of its MAC.
func tokenFingerprint(key []byte, token string) string {
	return b64.EncodeToString(macOf(key, "token\x00"+token)[:16])
}

// sealSession makes the session cookie's value.
func sealSession(key []byte, c sessionClaims) string {
	payload, _ := json.Marshal(c) // strings and a number: cannot fail
	body := "v1." + b64.EncodeToString(payload)
	return body + "." + b64.EncodeToString(macOf(key, body))
}

// openSession checks a session cookie's value: its MAC (in constant time), its expiry at now,
// and that a configured admin token still has its name and fingerprint. financeSession checks
// the database too.
func (h *Handler) openSession(value string, now time.Time) (session, bool) {
	key := h.financeKey()
	if key == nil || len(value) > 4096 {
		return session{}, false
	}
	body, mac, ok := strings.Cut(strings.TrimPrefix(value, "v1."), ".")
	if !ok || !strings.HasPrefix(value, "v1.") {
		return session{}, false
	}
	got, err := b64.DecodeString(mac)
	if err != nil || !hmac.Equal(got, macOf(key, "v1."+body)) {
		return session{}, false
	}
	payload, err := b64.DecodeString(body)
	if err != nil {
		return session{}, false
	}
	var c sessionClaims
	if json.Unmarshal(payload, &c) != nil || c.Admin == "" || c.ID == "" || !now.Before(time.Unix(c.Expires, 0)) {
		return session{}, false
	}
	valid := false
	for _, a := range h.cfg.AdminTokens {
		if a.Name == c.Admin && hmac.Equal([]byte(tokenFingerprint(key, a.Token)), []byte(c.Fingerprint)) {
			valid = true
		}
	}
	if !valid {
		return session{}, false
	}
	return session{Admin: c.Admin, ID: c.ID, Expires: time.Unix(c.Expires, 0), fingerprint: c.Fingerprint}, true
}

// financeSession is the request's valid session, if it has one: a cookie that opens
// (openSession) naming a session the database holds open, for the same admin and token. A
// database that cannot answer is no session (fail closed; the error is logged).
func (h *Handler) financeSession(c echo.Context) (session, bool) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	now := h.deps.Now()
	sess, ok := h.openSession(ck.Value, now)
	if !ok || h.deps.Sessions == nil {
		return session{}, false
	}
	stored, err := h.deps.Sessions.FinanceSession(c.Request().Context(), sess.key())
	if err != nil {
		if order.ErrorCode(err) != order.ENOTFOUND {
			h.deps.Logger.Error("finance session lookup failed", "request_id", h.requestID(c), "err", err)
		}
		return session{}, false
	}
	if !stored.Open(now) || stored.Admin != sess.Admin ||
		!hmac.Equal([]byte(stored.TokenFingerprint), []byte(sess.fingerprint)) {
		return session{}, false
	}
	return sess, true
}

// EndRemovedTokenSessions ends, in the database, every open finance session not made with one
// of the configured admin tokens (app runs it at start), so that a token removed and later put
// back does not bring its old sessions back. It returns how many it ended.
func (h *Handler) EndRemovedTokenSessions(ctx context.Context) (int64, error) {
	key := h.financeKey()
	if key == nil || h.deps.Sessions == nil {
		return 0, nil
	}
	keep := make([]order.SessionToken, len(h.cfg.AdminTokens))
	for i, a := range h.cfg.AdminTokens {
		keep[i] = order.SessionToken{Admin: a.Name, Fingerprint: tokenFingerprint(key, a.Token)}
	}
	return h.deps.Sessions.EndSessionsExcept(ctx, keep)
}

// cookie is one of the finance cookies: HttpOnly, SameSite=Strict, under /finance, Secure when
// the public URL is https. A maxAge below zero deletes it.
func (h *Handler) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: cookiePath, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: h.cfg.SecureCookies}
	if maxAge < 0 {
		ck.MaxAge, ck.Expires = -1, time.Unix(0, 0)
	} else {
		ck.MaxAge, ck.Expires = int(maxAge/time.Second), h.deps.Now().Add(maxAge)
	}
	return ck
}

// requireFinance lets a request through only with a valid session, and sets the admin's name for
// adminOf (and the audit trail). Without one, it sends the browser to sign in, and back here
// afterwards (for a GET; a form posted without a session cannot be replayed).
func (h *Handler) requireFinance(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, ok := h.financeSession(c)
		if !ok {
			if _, err := c.Cookie(sessionCookie); err == nil {
				c.SetCookie(h.cookie(sessionCookie, "", -1)) // expired, tampered or its token gone
			}
			to := "/finance/login"
			if r := c.Request(); r.Method == http.MethodGet {
				to += "?next=" + queryEscape(r.URL.RequestURI())
			}
			return c.Redirect(http.StatusSeeOther, to)
		}
		c.Set("admin", sess.Admin) // the name the API's OrdersCSV audits the export under
		c.Set(sessionKey, sess)
		return next(c)
	}
}

// csrfToken is the form token of a session: a MAC of its id, so that only a page of this
// session can post its forms.
func (h *Handler) csrfToken(sess session) string {
	return b64.EncodeToString(macOf(h.financeKey(), "csrf\x00"+sess.ID))
}

// preLoginToken is the sign-in form's token, bound to the pre-session cookie's random value.
func (h *Handler) preLoginToken(value string) string {
	return b64.EncodeToString(macOf(h.financeKey(), "login-csrf\x00"+value))
}

// postedValue is the field name of a posted form's body, never of the URL's query: a token
// in a URL would be kept in histories and logs, and a link could carry one.
func postedValue(c echo.Context, name string) string {
	return c.Request().PostFormValue(name)
}

// adminOf is the signed-in admin's name (requireFinance), for the audit trail.
func adminOf(c echo.Context) string {
	sess, _ := c.Get(sessionKey).(session)
	return sess.Admin
}

// sameToken compares a posted form token with the expected one in constant time.
func sameToken(posted, want string) bool {
	return posted != "" && hmac.Equal([]byte(posted), []byte(want))
}

// requireCSRF refuses a posted form (403, on a page saying why) whose csrf field is not the
// session's token. It sits behind requireFinance.
func (h *Handler) requireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, _ := c.Get(sessionKey).(session)
		if !sameToken(postedValue(c, "csrf"), h.csrfToken(sess)) {
			return h.errorPage(c, order.Errorf(order.EFORBIDDEN,
				"This form has expired or was not sent from this site. Go back, reload the page and try again."))
		}
		return next(c)
	}
}
