package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
)

// TestFinanceSignIn: the pages need a session; signing in takes the form's CSRF token and an
// admin token, is audited, and sets a cookie nobody else can read or send; signing out ends it.
func TestFinanceSignIn(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	f := h.FinanceClient(t)

	wantRedirect(t, f.Get(t, "/finance"), "/finance/login")
	wantRedirect(t, f.Get(t, "/finance/orders?status=PAID&tz=Asia/Tokyo"),
		"/finance/login?next="+url.QueryEscape("/finance/orders?status=PAID&tz=Asia/Tokyo"))
	wantRedirect(t, f.Get(t, "/finance/review"), "/finance/login?next=%2Ffinance%2Freview")
	wantRedirect(t, f.Post(t, "/finance/orders/x/reconcile", url.Values{}), "/finance/login")
	wantRedirect(t, f.Get(t, "/finance/nowhere?x=1"), "/finance/login?next=%2Ffinance%2Fnowhere%3Fx%3D1")

	login := f.Get(t, "/finance/login?next="+url.QueryEscape("/finance/orders?status=PAID"))
	wantPage(t, login, http.StatusOK, `name="token"`, `type="password"`, `<link rel="icon" href="/finance/static/favicon.svg"`,
		`name="next" value="/finance/orders?status=PAID"`)
	pre := login.SetCookie("mospay_finance_login")
	if pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode || pre.Path != "/finance" {
		t.Fatalf("pre-session cookie %+v, want HttpOnly, SameSite=Strict, Path=/finance", pre)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/finance/x", "/admin/orders", "/finance/../admin",
		"/finance/login", `/finance/\evil`} {
		if p := f.Get(t, "/finance/login?next="+url.QueryEscape(next)); strings.Contains(p.Body, `name="next"`) {
			t.Errorf("next=%s is kept by the sign-in form", next)
		}
	}
	csrf := login.CSRF(t)

	// A form without its token, with another, or from a browser without the form's cookie: 403.
	wantPage(t, f.Post(t, "/finance/login", url.Values{"token": {apptest.FinanceToken}}), http.StatusForbidden,
		"This sign-in form has expired", `name="token"`)
	wantPage(t, f.Post(t, "/finance/login", url.Values{"token": {apptest.FinanceToken}, "csrf": {csrf + "x"}}),
		http.StatusForbidden, `name="token"`)
	stranger := h.FinanceClient(t)
	wantPage(t, stranger.Post(t, "/finance/login", url.Values{"token": {apptest.FinanceToken}, "csrf": {csrf}}),
		http.StatusForbidden, `name="token"`)
	if stranger.Cookie(t, "/finance/orders", "mospay_finance") != nil {
		t.Fatal("a refused sign-in set a session cookie")
	}

	// A wrong token: 401 and the form again, no session.
	wrong := f.Post(t, "/finance/login", url.Values{"token": {"not-a-token-0123456789"}, "csrf": {csrf}})
	wantPage(t, wrong, http.StatusUnauthorized, "That is not a valid admin token.", `name="token"`)
	if wrong.SetCookie("mospay_finance") != nil || strings.Contains(wrong.Body, "not-a-token-0123456789") {
		t.Fatal("a wrong token set a session, or was echoed back")
	}
	// A mini-app token is not an admin token.
	wantPage(t, f.Post(t, "/finance/login", url.Values{"token": {h.Login(t, "user-x")}, "csrf": {csrf}}), http.StatusUnauthorized)

	// The right one: 303 to next, and the cookie.
	ok := f.Post(t, "/finance/login", url.Values{"token": {apptest.FinanceToken}, "csrf": {csrf}, "next": {"/finance/orders?status=PAID"}})
	wantRedirect(t, ok, "/finance/orders?status=PAID")
	ck := ok.SetCookie("mospay_finance")
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/finance" || ck.Secure ||
		ck.MaxAge < 12*3600-5 || ck.MaxAge > 12*3600 {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/finance, Max-Age 12 h, not Secure over http", ck)
	}
	if strings.Contains(ck.Value, apptest.FinanceToken) || strings.Contains(h.Logs.String(), ck.Value) ||
		strings.Contains(h.Logs.String(), apptest.FinanceToken) {
		t.Fatal("the cookie holds the token, or the log holds the cookie or the token")
	}
	orders := f.Get(t, "/finance/orders")
	wantPage(t, orders, http.StatusOK, "Orders", "Sign out", "finance")
	wantRedirect(t, f.Get(t, "/finance"), "/finance/orders")
	wantRedirect(t, f.Get(t, "/finance/login?next=%2Ffinance%2Faudit"), "/finance/audit")

	// The audit trail names who signed in, and keeps the two refused sign-ins (no one's); the
	// finance page shows them only when asked.
	var audit struct {
		Actions []struct{ Actor, Action, Detail, RequestID string }
	}
	h.Admin(t, "/admin/audit").Decode(t, &audit)
	if len(audit.Actions) != 3 || audit.Actions[0].Actor != "finance" || audit.Actions[0].Action != "login" || audit.Actions[0].RequestID == "" ||
		audit.Actions[1].Action != "login_failed" || audit.Actions[1].Actor != "" || audit.Actions[1].Detail != "from 127.0.0.1" ||
		audit.Actions[2].Action != "login_failed" {
		t.Fatalf("audit after sign-in: %+v", audit.Actions)
	}
	const loginRow = `<span class="action">login</span>`
	if p := f.Get(t, "/finance/audit"); strings.Contains(p.Body, loginRow) || strings.Contains(p.Body, `<span class="action">login_failed</span>`) {
		t.Fatal("the audit page shows sign-ins by default")
	}
	wantPage(t, f.Get(t, "/finance/audit?action=all"), http.StatusOK, loginRow, `<span class="action">login_failed</span>`)
	wantPage(t, f.Get(t, "/finance/audit?action=login"), http.StatusOK, loginRow)
	wantPage(t, f.Get(t, "/finance/audit?action=nonsense"), http.StatusBadRequest, "action: one of")

	// A cookie changed by one character is no session: back to sign-in, and the cookie is cleared.
	forged := h.FinanceClient(t)
	u, _ := url.Parse(h.URL + "/finance")
	v := []byte(ck.Value)
	v[len(v)/2] ^= 1
	forged.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "mospay_finance", Value: string(v), Path: "/finance"}})
	p := forged.Get(t, "/finance/orders")
	wantRedirect(t, p, "/finance/login?next=%2Ffinance%2Forders")
	if c := p.SetCookie("mospay_finance"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("the forged cookie was not cleared: %+v", c)
	}

	// Signing out needs the session's form token, and ends the session in this browser.
	wantPage(t, f.Post(t, "/finance/logout", url.Values{}), http.StatusForbidden, "This form has expired")
	wantPage(t, f.Post(t, "/finance/logout", url.Values{"csrf": {csrf}}), http.StatusForbidden)
	out := f.Post(t, "/finance/logout", url.Values{"csrf": {orders.CSRF(t)}})
	wantRedirect(t, out, "/finance/login")
	if c := out.SetCookie("mospay_finance"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("sign-out did not expire the cookie: %+v", c)
	}
	wantRedirect(t, f.Get(t, "/finance/orders"), "/finance/login?next=%2Ffinance%2Forders")
}

// TestFinanceSessionAcrossInstances: a session holds after a restart, but not on an instance with
// another database or another JWT secret; a start without the admin token it was made with ends
// it in the database, so that putting the token back revives nothing. (Several instances on one
// PostgreSQL: e2e's TestFinanceSessionsEnd.) With an https public URL its cookie is Secure.
func TestFinanceSessionAcrossInstances(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	db, secret := a.App.Config().DatabaseURL, a.App.Config().JWTSecret
	f := a.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	wantPage(t, f.Get(t, "/finance/orders"), http.StatusOK)
	first := f.Cookie(t, "/finance/orders", "mospay_finance")

	// The cookie jar keeps cookies per host, not per port: the same browser reaches the others.
	on := func(s *apptest.Stack) *apptest.FinanceClient { return &apptest.FinanceClient{URL: s.URL, HTTP: f.HTTP} }
	elsewhere := apptest.Start(t, apptest.Options{MOS: a}) // the same keys, another database: no such session
	wantRedirect(t, on(elsewhere).Get(t, "/finance/orders"), "/finance/login?next=%2Ffinance%2Forders")
	otherKey := apptest.Start(t, apptest.Options{}) // another JWT secret
	wantRedirect(t, on(otherKey).Get(t, "/finance/orders"), "/finance/login?next=%2Ffinance%2Forders")
	elsewhere.App.Close()
	a.App.Close()

	// One instance at a time on the SQLite file: a restart keeps the session ...
	restart := func(change func(c *app.Config)) *apptest.Stack {
		return apptest.Start(t, apptest.Options{DBURL: db, Config: func(c *app.Config) {
			c.JWTSecret = secret
			if change != nil {
				change(c)
			}
		}})
	}
	same := restart(nil)
	copied := same.FinanceClient(t) // (the redirects above cleared the browser's cookie: a copy of it)
	copied.PutCookie(t, first.Name, first.Value)
	wantPage(t, copied.Get(t, "/finance/orders"), http.StatusOK, "Sign out")
	same.App.Close()
	// ... a start without its token ends it, and it stays ended when the token is back.
	for name, change := range map[string]func(c *app.Config){
		"rotated": func(c *app.Config) { c.AdminTokens[0].Token = "finance-token-rotated-0123456789" },
		"removed": func(c *app.Config) { c.AdminTokens = c.AdminTokens[1:] },
	} {
		with := restart(nil)
		on(with).MustSignIn(t, apptest.FinanceToken)
		wantPage(t, on(with).Get(t, "/finance/orders"), http.StatusOK, "Sign out")
		ck := on(with).Cookie(t, "/finance/orders", "mospay_finance")
		with.App.Close()
		without := restart(change)
		wantRedirect(t, on(without).Get(t, "/finance/orders"), "/finance/login?next=%2Ffinance%2Forders")
		without.App.Close()
		back := restart(nil)
		again := back.FinanceClient(t) // (the redirect above cleared the cookie; a copy of it)
		again.PutCookie(t, ck.Name, ck.Value)
		if p := again.Get(t, "/finance/orders"); p.Status != http.StatusSeeOther {
			t.Fatalf("%s: the session came back with its token: HTTP %d", name, p.Status)
		}
		back.App.Close()
	}

	secure := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.PublicURL = "https://pay.example.com" }})
	p := secure.FinanceClient(t).SignIn(t, apptest.FinanceToken)
	if c := p.SetCookie("mospay_finance"); p.Status != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly {
		t.Fatalf("sign-in with an https public URL: HTTP %d, cookie %+v, want Secure", p.Status, c)
	}
}

// TestFinanceSignInLimit: failed sign-ins count toward the admin-auth limit of the address;
// over it, 429 with Retry-After; the right token still gets in.
func TestFinanceSignInLimit(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	f := h.FinanceClient(t)
	csrf := f.Get(t, "/finance/login").CSRF(t)
	var p apptest.Page
	for i := 0; i < 11; i++ {
		p = f.Post(t, "/finance/login", url.Values{"token": {"wrong-token-0123456789"}, "csrf": {csrf}})
	}
	wantPage(t, p, http.StatusTooManyRequests, "Too many failed sign-ins", `name="token"`)
	if p.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// The JSON API shares the limit.
	h.Must(t, http.MethodGet, h.URL+"/admin/orders", nil, apptest.Bearer("wrong-token-0123456789")).WantError(t, 429, "rate_limited")
	wantRedirect(t, f.Post(t, "/finance/login", url.Values{"token": {apptest.FinanceToken}, "csrf": {csrf}}), "/finance/orders")
}
