package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mospay/mospay/mos/sandbox"
)

// FinanceClient is a browser without a browser, for the finance pages: it keeps cookies as a
// browser does, posts forms, and never follows a redirect, so that a test sees each 303 and
// where it leads.
type FinanceClient struct {
	URL  string // mospay's API, e.g. http://127.0.0.1:41234
	HTTP *http.Client
}

// Page is one answer of the finance pages, read whole.
type Page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string // the redirect's target, if any
}

// FinanceClient returns a fresh client (no cookies) for the stack's finance pages.
func (h *Stack) FinanceClient(t testing.TB) *FinanceClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &FinanceClient{URL: h.URL, HTTP: &http.Client{Jar: jar, Timeout: WaitFor,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Get fetches path (with its query).
func (f *FinanceClient) Get(t testing.TB, path string) Page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.do(t, req)
}

// Post posts form to path as a browser posts an HTML form.
func (f *FinanceClient) Post(t testing.TB, path string, form url.Values) Page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.do(t, req)
}

func (f *FinanceClient) do(t testing.TB, req *http.Request) Page {
	t.Helper()
	res, err := f.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Page{Status: res.StatusCode, Header: res.Header, Body: string(b), Location: res.Header.Get("Location")}
}

// SignIn signs in through the form with token and returns the answer to the posted form (a 303
// with the session cookie when the token is good).
func (f *FinanceClient) SignIn(t testing.TB, token string) Page {
	t.Helper()
	form := f.Get(t, "/finance/login")
	if form.Status != http.StatusOK {
		t.Fatalf("GET /finance/login: HTTP %d %s", form.Status, form.Body)
	}
	return f.Post(t, "/finance/login", url.Values{"token": {token}, "csrf": {form.CSRF(t)}})
}

// MustSignIn signs in and fails the test unless it worked.
func (f *FinanceClient) MustSignIn(t testing.TB, token string) {
	t.Helper()
	if p := f.SignIn(t, token); p.Status != http.StatusSeeOther || p.Location != "/finance/orders" {
		t.Fatalf("sign in: HTTP %d to %q, want 303 to /finance/orders\n%s", p.Status, p.Location, p.Body)
	}
}

// Cookie is the client's cookie name as it would send it to path, or nil.
func (f *FinanceClient) Cookie(t testing.TB, path, name string) *http.Cookie {
	t.Helper()
	u, err := url.Parse(f.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.HTTP.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// PutCookie puts the cookie name=value in the client's jar for the finance pages, as if mospay
// had set it: a copy of another browser's cookie.
func (f *FinanceClient) PutCookie(t testing.TB, name, value string) {
	t.Helper()
	u, err := url.Parse(f.URL + "/finance/")
	if err != nil {
		t.Fatal(err)
	}
	f.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/finance"}})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF is the form token of the page's first form that carries one.
func (p Page) CSRF(t testing.TB) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", p.Body)
	}
	return m[1]
}

// SetCookie is the Set-Cookie header that sets name, parsed, or nil.
func (p Page) SetCookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// FlaggedOrder creates an order for token's user, has MOS report mosAmount for it instead and
// pays it: mospay keeps it PENDING with the flag amount_mismatch.
func (h *Stack) FlaggedOrder(t testing.TB, token string, body CreateBody, mosAmount string) Order {
	t.Helper()
	o := h.CreateOrder(t, token, body, "")
	h.SandboxPost(t, http.MethodPatch, "/sandbox/orders/"+o.OutTradeNo, map[string]any{"totalAmount": mosAmount})
	h.Pay(t, o.OutTradeNo)
	h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
	_, o = h.GetOrder(t, token, o.OutTradeNo)
	if !o.HasFlag("amount_mismatch") {
		t.Fatalf("order %s: flags %v, want amount_mismatch", o.OutTradeNo, o.Flags)
	}
	return o
}

// PaidOrder creates an order for token's user and pays it.
func (h *Stack) PaidOrder(t testing.TB, token string, body CreateBody) Order {
	t.Helper()
	o := h.CreateOrder(t, token, body, "")
	h.Pay(t, o.OutTradeNo)
	return h.WaitStatus(t, token, o.OutTradeNo, "PAID")
}

// WaitURL waits until the open page's address contains part and the page has loaded: after a
// click that navigates (a link, a form).
func (b *Browser) WaitURL(t testing.TB, part string) {
	t.Helper()
	b.waitJS(t, "the address", part, `location.href.includes(SEL) && document.readyState === "complete"`)
	href := Eval[string](t, b, "location.href")
	b.mu.Lock()
	b.page = href
	b.mu.Unlock()
}

// TabTo presses Tab until the element with the focus matches the CSS selector, at most presses
// times, as a keyboard user reaches it; it fails the test if the focus never gets there.
func (b *Browser) TabTo(t testing.TB, selector string, presses int) {
	t.Helper()
	sel, _ := json.Marshal(selector)
	for range presses {
		if ok, err := eval[bool](b, `!!document.activeElement?.matches(`+string(sel)+`)`); err == nil && ok {
			return
		}
		b.Press(t, kb.Tab)
	}
	b.WaitFocus(t, selector)
}

// Download clicks the link matching the CSS selector as a person downloading a file would, and
// returns the file the browser saved (with the page's cookies, in the page's session).
func (b *Browser) Download(t testing.TB, selector string) (name string, body []byte) {
	t.Helper()
	dir := t.TempDir()
	b.Run(t, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	b.Click(t, selector)
	var entries []os.DirEntry
	if !Within(WaitFor, func() bool {
		var err error
		if entries, err = os.ReadDir(dir); err != nil {
			t.Fatal(err)
		}
		// Chromium reserves the file's name (an empty file) while it writes the .crdownload
		// beside it, and renames that over it when done: a file is done once no .crdownload is left.
		return len(entries) > 0 && !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasSuffix(e.Name(), ".crdownload") })
	}) {
		t.Fatalf("browser: clicking %s on %s downloaded nothing", selector, b.currentPage())
	}
	body, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	return entries[0].Name(), body
}

// Answered checks the open page for Problems (as NoProblems does), but takes the one line
// Chromium logs for a page answered with an error status (a form refused with 400, say) as
// expected when it names status: the test caused that answer on purpose, and the page is
// checked for everything else.
func (b *Browser) Answered(t testing.TB, status int) {
	t.Helper()
	_ = b.run(chromedp.Evaluate[chromedp.Void]("0")) // a round trip: what the page reported is in
	want := fmt.Sprintf("the server responded with a status of %d", status)
	seen := false
	for _, p := range b.takeProblems() {
		if p.Kind == "log.network" && strings.Contains(p.Text, want) && !seen {
			seen = true
			continue
		}
		t.Errorf("browser: %s", p)
	}
	if !seen {
		t.Errorf("browser: %s was not answered %d", b.currentPage(), status)
	}
}
