package ui_test

// The finance pages through real HTTP against the whole of mospay (app/apptest: SQLite, the MOS
// sandbox): sign-in, sessions, CSRF, the pages and their actions. An external test package,
// because apptest imports api. The browser walk is e2e/finance_test.go.

import (
	"encoding/csv"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
)

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// wantPage asserts a finance page: its status, its security headers, HTML, and (unescaped) text.
func wantPage(t *testing.T, p apptest.Page, status int, texts ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("HTTP %d, want %d\n%s", p.Status, status, p.Body)
	}
	h := p.Header
	if h.Get("Content-Security-Policy") != wantCSP || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: CSP %q, X-Frame-Options %q, Cache-Control %q", h.Get("Content-Security-Policy"),
			h.Get("X-Frame-Options"), h.Get("Cache-Control"))
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.HasPrefix(p.Body, "<!doctype html>") {
		t.Errorf("not an HTML page: %s %.200s", h.Get("Content-Type"), p.Body)
	}
	body := html.UnescapeString(p.Body)
	for _, s := range texts {
		if !strings.Contains(body, s) {
			t.Errorf("the page lacks %q:\n%s", s, body)
		}
	}
}

// wantRedirect asserts a 303 to exactly to.
func wantRedirect(t *testing.T, p apptest.Page, to string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Location != to {
		t.Fatalf("HTTP %d to %q, want 303 to %q\n%s", p.Status, p.Location, to, p.Body)
	}
}

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

// TestFinanceOrdersPage: the list's filters are the URL's, read as the JSON API reads them;
// the default period is today in the zone, said on the page; a bad filter is a 400 page with
// the reason; paging, search, the CSV link and the empty state.
//
// It runs at instants on both sides of the day boundaries (apptest.DayBoundaries), with mospay's
// clock stopped there.
func TestFinanceOrdersPage(t *testing.T) {
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) { financeOrdersPage(t, at) })
	}
}

func financeOrdersPage(t *testing.T, at time.Time) {
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
	alice := h.Login(t, "alice")
	paid := h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Coffee"})
	khr := h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Noodles"})
	pending := h.CreateOrder(t, alice, apptest.CreateBody{TotalAmount: "5", Currency: "USD", Desc: "<script>alert(1)</script>"}, "")
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)

	today := at.Format(time.DateOnly)
	tomorrow := at.AddDate(0, 0, 1).Format(time.DateOnly)
	all := f.Get(t, "/finance/orders")
	wantPage(t, all, http.StatusOK, `name="from" value="`+today+`"`, `name="to" value="`+tomorrow+`"`,
		"Orders created from "+today+" 00:00:00 +00:00 until "+tomorrow+" 00:00:00 +00:00 (UTC)",
		paid.OutTradeNo, khr.OutTradeNo, pending.OutTradeNo, "16.99 USD", "4,000 KHR", "3 orders · KHR 4,000 · USD 21.99", `href="/finance/orders/`+paid.OutTradeNo+`?tz=UTC&back=%2Ffinance%2Forders%3F`)
	if strings.Contains(all.Body, "<script>") {
		t.Fatal("an order's description reached the page unescaped")
	}
	wantPage(t, f.Get(t, "/finance/orders?tz=Asia/Phnom_Penh"), http.StatusOK, "+07:00 (Asia/Phnom_Penh)",
		`<option value="Asia/Phnom_Penh" selected>`)

	paidOnly := f.Get(t, "/finance/orders?status=PAID&currency=USD")
	wantPage(t, paidOnly, http.StatusOK, paid.OutTradeNo)
	if strings.Contains(paidOnly.Body, khr.OutTradeNo) || strings.Contains(paidOnly.Body, pending.OutTradeNo) {
		t.Fatal("status=PAID&currency=USD shows other orders")
	}
	wantPage(t, f.Get(t, "/finance/orders?q="+khr.PrepayID), http.StatusOK, khr.OutTradeNo)
	wantPage(t, f.Get(t, "/finance/orders?from=&to="), http.StatusOK, "Orders created at any time (UTC)", paid.OutTradeNo)
	wantPage(t, f.Get(t, "/finance/orders?q=nothing-like-this"), http.StatusOK, "No orders match; widen the period")

	// Bad filters: the page, the form and the reason, never a blank page.
	for q, msg := range map[string]string{
		"status=NOPE":                   `unknown order status "NOPE"`,
		"currency=EUR":                  "currency: ",
		"flag=nope":                     `unknown flag "nope"`,
		"basis=someday":                 "basis: created or paid",
		"tz=Mars/Olympus":               `tz: unknown time zone "Mars/Olympus"`,
		"from=2026-13-01":               "from: a date such as",
		"from=2026-02-02&to=2026-02-01": "from must be before to",
		"limit=0":                       "limit: a whole number",
	} {
		wantPage(t, f.Get(t, "/finance/orders?"+q), http.StatusBadRequest, msg, `<form method="get" action="/finance/orders"`)
	}

	// Paging: two at a time, every order once.
	first := f.Get(t, "/finance/orders?limit=2&from=&to=")
	wantPage(t, first, http.StatusOK, "Next page")
	next := html.UnescapeString(between(t, first.Body, `<a href="`, `" rel="next">`, "Next page"))
	second := f.Get(t, next)
	wantPage(t, second, http.StatusOK, paid.OutTradeNo, "First page")
	if strings.Contains(second.Body, "Next page") || strings.Contains(first.Body, paid.OutTradeNo) {
		t.Fatalf("paging: the oldest order is not alone on the second page")
	}

	// The CSV link carries the filter, and the session gets the file.
	paidOnly = f.Get(t, "/finance/orders?status=PAID&tz=Asia/Phnom_Penh")
	link := html.UnescapeString(between(t, paidOnly.Body, `<a class="button" href="`, `"`, ""))
	lu, err := url.Parse(link)
	if err != nil || lu.Path != "/finance/orders.csv" || lu.Query().Get("status") != "PAID" || lu.Query().Get("tz") != "Asia/Phnom_Penh" ||
		lu.Query().Get("from") == "" || lu.Query().Get("to") == "" {
		t.Fatalf("CSV link %q does not carry the page's filter", link)
	}
	file := f.Get(t, link)
	if file.Status != http.StatusOK || !strings.HasPrefix(file.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: HTTP %d %s", file.Status, file.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(file.Body, "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV of the PAID orders: %v\n%s", err, file.Body)
	}
	if !strings.Contains(file.Body, paid.OutTradeNo) || !strings.Contains(file.Body, khr.OutTradeNo) {
		t.Fatalf("CSV lacks the paid orders:\n%s", file.Body)
	}
	wantRedirect(t, h.FinanceClient(t).Get(t, link), "/finance/login?next="+url.QueryEscape(link))
}

// TestFinanceStoryPage: an order's story, resolving its flag with a note (an empty note is
// refused and changes nothing), reconciling, CSRF on both, and the audit trail.
func TestFinanceStoryPage(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "bob")
	o := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "Tea"}, "0.10")
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	path := "/finance/orders/" + o.OutTradeNo

	story := f.Get(t, path+"?tz=Asia/Bangkok")
	wantPage(t, story, http.StatusOK, "1.00 USD", "PENDING", "Tea", "bob", o.PrepayID, "amount_mismatch",
		"Created as CREATED (api)", "CREATED → PENDING (api)", "Notification from MOS: SUCCESS", "<details>",
		"Flag amount_mismatch raised", "Resolve amount_mismatch", "Reconcile now", "+07:00")
	resolveURL := path + "/flags/amount_mismatch/resolve?tz=Asia%2FBangkok"
	if !strings.Contains(story.Body, `action="`+html.EscapeString(resolveURL)+`"`) {
		t.Fatalf("no resolve form posting to %s", resolveURL)
	}
	csrf := story.CSRF(t)

	wantPage(t, f.Post(t, resolveURL, url.Values{"note": {"fine"}}), http.StatusForbidden)
	refused := f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {"   "}})
	wantPage(t, refused, http.StatusBadRequest, "The flag was not resolved: note: say why", "Resolve amount_mismatch")
	long := strings.Repeat("é", 501)
	wantPage(t, f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {long}}), http.StatusBadRequest, "at most 500 characters", long)
	var check struct{ Order apptest.Order }
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &check)
	if !check.Order.HasFlag("amount_mismatch") {
		t.Fatal("a refused note resolved the flag")
	}

	done := f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {"Customer paid 0.10 by mistake; refunded by hand"}})
	wantRedirect(t, done, path+"?tz=Asia%2FBangkok&done=resolved")
	wantPage(t, f.Get(t, done.Location), http.StatusOK,
		"Flag amount_mismatch resolved (keep watching): Customer paid 0.10 by mistake; refunded by hand",
		"Flag amount_mismatch resolved by finance", "outcome: keep watching", "Next to review")
	if again := f.Get(t, done.Location); strings.Contains(again.Body, "resolved (keep watching)") || strings.Contains(again.Body, "Next to review") {
		t.Fatal("reloading the story says the resolution again")
	}
	wantPage(t, f.Post(t, resolveURL, url.Values{"csrf": {csrf}, "note": {"again"}}), http.StatusConflict, "is not active")

	wantPage(t, f.Post(t, path+"/reconcile", url.Values{}), http.StatusForbidden)
	rec := f.Post(t, path+"/reconcile?tz=UTC", url.Values{"csrf": {csrf}})
	wantRedirect(t, rec, path+"?tz=UTC&done=reconciled")
	wantPage(t, f.Get(t, rec.Location), http.StatusOK, "MOS answered SUCCESS 0.10 USD; nothing changed.",
		"finance asked MOS now (reconcile)", "orderQuery (admin)")

	audit := f.Get(t, "/finance/audit?actor=finance")
	wantPage(t, audit, http.StatusOK, ">resolve<", ">reconcile<", ">login<",
		"amount_mismatch · keep watching · MOS answered: SUCCESS 0.10 USD · Customer paid 0.10 by mistake")
	wantPage(t, f.Get(t, "/finance/audit?actor=nobody"), http.StatusOK, "No admin action matches")
	wantPage(t, f.Get(t, "/finance/audit?from=yesterday"), http.StatusBadRequest, "from: a date such as")

	wantPage(t, f.Get(t, "/finance/orders/0"+strings.Repeat("a", 31)), http.StatusNotFound, "Back to the orders")
	wantPage(t, f.Get(t, "/finance/nowhere"), http.StatusNotFound, "There is no page at /finance/nowhere.")
}

// TestFinanceReviewAndReport: the review queue and the report show flagged orders with MOS's
// amounts beside theirs; the report's sums are the list's.
//
// It runs at instants on both sides of the day boundaries (apptest.DayBoundaries).
func TestFinanceReviewAndReport(t *testing.T) {
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) { financeReviewAndReport(t, at) })
	}
}

func financeReviewAndReport(t *testing.T, at time.Time) {
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
	token := h.Login(t, "carol")
	flagged := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Rice"}, "40")
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "2.50", Currency: "USD", Desc: "Coffee"})
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "7.50", Currency: "USD", Desc: "Cake"})
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)

	wantPage(t, f.Get(t, "/finance/review"), http.StatusOK, flagged.OutTradeNo, "4,000 KHR", "SUCCESS 40 KHR", "(differs)", "amount_mismatch")
	wantPage(t, f.Get(t, "/finance/report"), http.StatusOK, "Orders by status", "10.00", "4000", flagged.OutTradeNo, "(differs)")
	wantPage(t, f.Get(t, "/finance/orders"), http.StatusOK, "Orders by status", "10.00")
	wantPage(t, f.Get(t, "/finance/report?status=PAID&currency=KHR"), http.StatusOK, "No orders in this selection.")
	wantPage(t, f.Get(t, "/finance/report?tz=Nowhere/Else"), http.StatusBadRequest, `tz: unknown time zone "Nowhere/Else"`)

	// Resolved, the order leaves the queue.
	story := f.Get(t, "/finance/orders/"+flagged.OutTradeNo)
	f.Post(t, "/finance/orders/"+flagged.OutTradeNo+"/flags/amount_mismatch/resolve", url.Values{"csrf": {story.CSRF(t)}, "note": {"ok"}})
	wantPage(t, f.Get(t, "/finance/review"), http.StatusOK, "Nothing to review")
}

// TestFinanceDefaultPeriod: with no dates in the URL, the list and the report show today in
// their zone; the form marks dates it chose itself, and when they come back unchanged with
// another zone they become today in that zone; dates finance typed stay as typed. Each instant
// of apptest.DayBoundaries, with mospay's clock stopped there.
func TestFinanceDefaultPeriod(t *testing.T) {
	pp, err := time.LoadLocation("Asia/Phnom_Penh")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
			paid := h.PaidOrder(t, h.Login(t, "dara"), apptest.CreateBody{TotalAmount: "2.50", Currency: "USD", Desc: "Coffee"})
			f := h.FinanceClient(t)
			f.MustSignIn(t, apptest.FinanceToken)
			day := func(t time.Time) string { return t.Format(time.DateOnly) }
			utcFrom, utcTo := day(at), day(at.AddDate(0, 0, 1))
			ppFrom, ppTo := day(at.In(pp)), day(at.In(pp).AddDate(0, 0, 1))
			mark := url.QueryEscape(utcFrom + "/" + utcTo)
			for _, tc := range []struct {
				name, path       string
				from, to, offset string
				listed           bool // the order made now is in the period
				marked           bool // the form says the dates are today's
			}{
				{"UTC by default", "/finance/orders", utcFrom, utcTo, "+00:00", true, true},
				{"the zone's today", "/finance/orders?tz=Asia/Phnom_Penh", ppFrom, ppTo, "+07:00", true, true},
				{"unchanged dates follow the zone", "/finance/orders?tz=Asia/Phnom_Penh&from=" + utcFrom + "&to=" + utcTo + "&today=" + mark,
					ppFrom, ppTo, "+07:00", true, true},
				{"typed dates stay", "/finance/orders?tz=Asia/Phnom_Penh&from=" + utcFrom + "&to=" + utcTo,
					utcFrom, utcTo, "+07:00", utcFrom == ppFrom, false},
				{"changed dates stay", "/finance/orders?tz=Asia/Phnom_Penh&from=2026-03-01&to=2026-03-02&today=" + mark,
					"2026-03-01", "2026-03-02", "+07:00", false, false},
				{"the report's today", "/finance/report?tz=Asia/Phnom_Penh&from=" + utcFrom + "&to=" + utcTo + "&today=" + mark,
					ppFrom, ppTo, "+07:00", true, true},
			} {
				p := f.Get(t, tc.path)
				wantPage(t, p, http.StatusOK, `name="from" value="`+tc.from+`"`, `name="to" value="`+tc.to+`"`,
					"created from "+tc.from+" 00:00:00 "+tc.offset+" until "+tc.to+" 00:00:00 "+tc.offset)
				if got := strings.Contains(p.Body, `name="today"`); got != tc.marked {
					t.Errorf("%s: the form marks its dates as today's: %v, want %v", tc.name, got, tc.marked)
				}
				if strings.HasPrefix(tc.path, "/finance/orders") && strings.Contains(p.Body, paid.OutTradeNo) != tc.listed {
					t.Errorf("%s (%s): the order made at %s listed: %v, want %v", tc.name, tc.path, at, !tc.listed, tc.listed)
				}
			}
		})
	}
}

// TestFinanceStatic: the style sheet and the icon need no session and may be cached.
func TestFinanceStatic(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	f := h.FinanceClient(t)
	for path, typ := range map[string]string{"/finance/static/favicon.svg": "image/svg+xml", "/finance/static/finance.css": "text/css"} {
		p := f.Get(t, path)
		if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), typ) ||
			!strings.HasPrefix(p.Header.Get("Cache-Control"), "public") || p.Header.Get("ETag") == "" {
			t.Errorf("GET %s: HTTP %d %s %q", path, p.Status, p.Header.Get("Content-Type"), p.Header.Get("Cache-Control"))
		}
	}
	if p := f.Get(t, "/finance/static/nope.js"); p.Status != http.StatusNotFound {
		t.Errorf("GET /finance/static/nope.js: HTTP %d", p.Status)
	}
}

// between is the text of s between from and the next to, in the last such stretch before near
// ("" for the first one): a link's href, say.
func between(t *testing.T, s, from, to, near string) string {
	t.Helper()
	if near != "" {
		i := strings.Index(s, near)
		if i < 0 {
			t.Fatalf("no %q in the page", near)
		}
		s = s[:i]
		if j := strings.LastIndex(s, from); j >= 0 {
			s = s[j:]
		}
	}
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		t.Fatalf("no %q in the page", from)
	}
	v, _, ok := strings.Cut(rest, to)
	if !ok {
		t.Fatalf("no %q after %q in the page", to, from)
	}
	return v
}
