package sandbox_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
)

// fetch sends a request with headers and returns the answer with its body as text.
func (f *fixture) fetch(method, path string, hdr map[string]string) (apptest.Response, string) {
	f.t.Helper()
	r := f.http.Must(f.t, method, f.url+path, nil, hdr)
	return r, string(r.Body)
}

// wantHeaders fails unless every header in want has that value.
func wantHeaders(t *testing.T, what string, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// devOrigin is the dev server the fixture's sandbox lets call it (sandbox.Config.Origins).
const devOrigin = "http://localhost:5173"

// TestWebAssets: the stand-in and the demo's files are served with their types, the headers of
// every mospay answer, to the allowed origins, and cacheable: kept five minutes, then revalidated by ETag.
func TestWebAssets(t *testing.T) {
	f := setup(t)
	for path, ctype := range map[string]string{
		"/sandbox/mos.js":           "text/javascript; charset=utf-8",
		"/sandbox/mos.css":          "text/css; charset=utf-8",
		"/sandbox/demo/demo.js":     "text/javascript; charset=utf-8",
		"/sandbox/demo/demo.css":    "text/css; charset=utf-8",
		"/sandbox/demo/favicon.svg": "image/svg+xml",
	} {
		resp, body := f.fetch("GET", path, map[string]string{"Origin": "http://localhost:5173"})
		if resp.Status != 200 || body == "" {
			t.Fatalf("GET %s: %d, %d bytes", path, resp.Status, len(body))
		}
		wantHeaders(t, path, resp.Header, map[string]string{
			"Content-Type": ctype, "Cache-Control": "public, max-age=300",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
			"Access-Control-Allow-Origin": devOrigin,
		})
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", path)
		}
		if again, _ := f.fetch("GET", path, map[string]string{"If-None-Match": etag}); again.Status != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Status)
		}
		if head, _ := f.fetch("HEAD", path, nil); head.Status != 200 {
			t.Errorf("HEAD %s: %d", path, head.Status)
		}
	}
	_, js := f.fetch("GET", "/sandbox/mos.js", nil)
	for _, want := range []string{"login(appKey)", "pay({ amount, currency, appKey, prepayId }", "getLanguage()", "data: { code }"} {
		if !strings.Contains(js, want) {
			t.Errorf("mos.js lacks %q", want)
		}
	}
}

// TestDemoPage: the demo carries mospay's API and the appKey, under a strict CSP that lets it
// call mospay's API and nothing else, with no inline script, style or handler anywhere.
func TestDemoPage(t *testing.T) {
	f := setup(t) // NotifyURL http://example.invalid/mos/notify: mospay is http://example.invalid
	resp, page := f.fetch("GET", "/sandbox/demo", nil)
	if resp.Status != 200 {
		t.Fatalf("GET /sandbox/demo: %d %s", resp.Status, page)
	}
	wantHeaders(t, "demo", resp.Header, map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
			"connect-src 'self' http://example.invalid; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	})
	for _, want := range []string{
		`<meta name="mospay-api" content="http://example.invalid">`,
		`<meta name="mos-app-key" content="` + appKey + `">`,
		`<script src="/sandbox/mos.js" defer></script>`,
		`<link rel="icon" href="/sandbox/demo/favicon.svg"`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the demo page lacks %s", want)
		}
	}
	// Inline code the CSP would refuse (and the browser would report): none in any of the files.
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:|innerHTML|eval\(`)
	for _, path := range []string{"/sandbox/demo", "/sandbox/mos.js", "/sandbox/demo/demo.js"} {
		_, body := f.fetch("GET", path, nil)
		if m := inline.FindString(body); m != "" {
			t.Errorf("%s holds inline code or HTML injection: %q", path, m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("the demo page has an inline script: %s", tag)
		}
	}

	// A sandbox that does not know mospay's URL connects to itself only; the page says so.
	lone := sandbox.New(sandbox.Config{AppKey: appKey, AppSecret: appSecret, MchID: mchID})
	t.Cleanup(lone.Close)
	rec := httptest.NewRecorder()
	lone.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/sandbox/demo", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("without mospay's URL: CSP %q", csp)
	}
	if !strings.Contains(rec.Body.String(), `<meta name="mospay-api" content="">`) {
		t.Errorf("without mospay's URL the page names an API: %s", rec.Body)
	}
}

// TestControlAPICORS: the control API answers the allowed origins (the sandbox's own, and
// MOSPAY_CORS_ORIGINS: here a dev server), preflights and Private Network Access included, so
// that mos.js works from there. Any other origin gets no CORS header and no Private Network
// Access, and every request of it that could change something is refused (403) before it does:
// a simple POST needs no preflight. Requests without an Origin (scripts, tests) are served; MOS's
// endpoints, which browsers never call, answer no CORS.
func TestControlAPICORS(t *testing.T) {
	f := setup(t)
	preflight := func(origin, path string) apptest.Response {
		resp, _ := f.fetch("OPTIONS", path, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type", "Access-Control-Request-Private-Network": "true",
		})
		return resp
	}
	for _, path := range []string{"/sandbox/login-codes", "/sandbox/orders/X/pay", "/sandbox/prepays/X/pay", "/sandbox/faults"} {
		resp := preflight(devOrigin, path)
		if resp.Status != http.StatusNoContent {
			t.Fatalf("preflight %s: %d", path, resp.Status)
		}
		wantHeaders(t, "preflight "+path, resp.Header, map[string]string{
			"Access-Control-Allow-Origin": devOrigin, "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600",
			"Access-Control-Allow-Private-Network": "true",
		})
	}
	resp, body := f.fetch("POST", "/sandbox/login-codes", map[string]string{"Origin": devOrigin})
	if resp.Status != 200 || resp.Header.Get("Access-Control-Allow-Origin") != devOrigin {
		t.Fatalf("POST /sandbox/login-codes from the dev server: %d %v %s", resp.Status, resp.Header, body)
	}

	for _, foreign := range []string{"https://evil.example", "http://localhost:5174", "http://127.0.0.1.evil.example", "null"} {
		for _, path := range []string{"/sandbox/login-codes", "/sandbox/orders/X/pay", "/sandbox/prepays/X/pay", "/sandbox/faults"} {
			resp := preflight(foreign, path)
			for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Private-Network"} {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("preflight %s from %s: %s = %q", path, foreign, k, v)
				}
			}
			if resp.Status == http.StatusNoContent {
				t.Errorf("preflight %s from %s: 204", path, foreign)
			}
		}
		for _, m := range []struct{ method, path string }{
			{"POST", "/sandbox/login-codes"}, {"POST", "/sandbox/orders/X/pay"}, {"POST", "/sandbox/prepays/X/pay"},
			{"PUT", "/sandbox/faults"}, {"DELETE", "/sandbox/faults"}, {"PATCH", "/sandbox/orders/X"},
		} {
			resp, body := f.fetch(m.method, m.path, map[string]string{"Origin": foreign})
			if resp.Status != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
				!strings.Contains(body, "forbidden") {
				t.Errorf("%s %s from %s: %d %q %s", m.method, m.path, foreign, resp.Status,
					resp.Header.Get("Access-Control-Allow-Origin"), body)
			}
		}
		resp, _ := f.fetch("GET", "/sandbox/config", map[string]string{"Origin": foreign})
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET /sandbox/config from %s: CORS allows it", foreign)
		}
	}
	if codes := f.sb.LoginCodes(); codes != 1 {
		t.Errorf("refused requests made login codes: %d codes, want the dev server's 1", codes)
	}

	// Without an Origin: a script, served.
	if resp, _ := f.fetch("POST", "/sandbox/login-codes", nil); resp.Status != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST /sandbox/login-codes without an Origin: %d", resp.Status)
	}
	resp, _ = f.fetch("POST", mos.PathPrepay, map[string]string{"Origin": devOrigin})
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("MOS endpoint: allow-origin %q, nosniff %q", v, resp.Header.Get("X-Content-Type-Options"))
	}
	// An OPTIONS that is no preflight is routed as any request: 404.
	if resp, _ := f.fetch("OPTIONS", "/sandbox/faults", nil); resp.Status != 404 {
		t.Errorf("OPTIONS without a preflight: %d", resp.Status)
	}
}

// TestOwnOrigins: the sandbox's own origins are both spellings of a loopback address.
func TestOwnOrigins(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8081":   "http://127.0.0.1:8081 http://localhost:8081 http://[::1]:8081",
		"0.0.0.0:8081":     "http://127.0.0.1:8081 http://localhost:8081 http://[::1]:8081",
		"[::]:9000":        "http://127.0.0.1:9000 http://localhost:9000 http://[::1]:9000",
		"10.1.2.3:8081":    "http://10.1.2.3:8081",
		"sandbox.lan:8081": "http://sandbox.lan:8081",
		"nonsense":         "",
	} {
		if got := strings.Join(sandbox.OwnOrigins(addr), " "); got != want {
			t.Errorf("OwnOrigins(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestBrowserConfig(t *testing.T) {
	f := setup(t)
	var c sandbox.BrowserConfig
	if st := f.control("GET", "/sandbox/config", "", &c); st != 200 || c != (sandbox.BrowserConfig{AppKey: appKey, MerchantName: "Shop"}) {
		t.Fatalf("GET /sandbox/config: %d %+v", st, c)
	}
}

// TestPaymentSheet: the sheet finds the order by the prepayId mos.pay was given; Pay and Fail
// move it as the control API does and notify mospay, unless the notification is to be lost:
// then it is counted as dropped and never sent.
func TestPaymentSheet(t *testing.T) {
	f := setup(t)
	rc := newReceiver(t, nil)
	paid, lost, failed := f.prepay("S1", rc.url), f.prepay("S2", rc.url), f.prepay("S3", rc.url)

	var v sandbox.SheetView
	if st := f.control("GET", "/sandbox/prepays/"+paid, "", &v); st != 200 || v != (sandbox.SheetView{
		PrepayID: paid, OutTradeNo: "S1", MerchantName: "Shop", TotalAmount: "16.99", Currency: "USD", Desc: "Café ☕", Status: "PENDING",
	}) {
		t.Fatalf("GET /sandbox/prepays/%s: %d %+v", paid, st, v)
	}
	steps := []struct {
		method, path, body string
		status             int
		orderStatus        string
		notified, dropped  int // totals so far
	}{
		{"POST", "/sandbox/prepays/" + paid + "/pay", "", 200, "SUCCESS", 1, 0},
		{"POST", "/sandbox/prepays/" + paid + "/pay", "", 409, "", 1, 0},
		{"POST", "/sandbox/prepays/" + lost + "/pay", `{"loseNotification":true}`, 200, "SUCCESS", 1, 1},
		{"POST", "/sandbox/prepays/" + failed + "/fail", `{"loseNotification":false}`, 200, "FAILED", 2, 1},
		{"POST", "/sandbox/prepays/" + failed + "/fail", "", 409, "", 2, 1},
		{"POST", "/sandbox/prepays/" + failed + "/pay", `{"loseNotification":true}`, 200, "SUCCESS", 2, 2},
		{"POST", "/sandbox/prepays/NOPE/pay", "", 404, "", 2, 2},
		{"GET", "/sandbox/prepays/NOPE", "", 404, "", 2, 2},
		{"POST", "/sandbox/prepays/" + paid + "/pay", `{"lose":true}`, 400, "", 2, 2},
	}
	for _, s := range steps {
		var v sandbox.SheetView
		if st := f.control(s.method, s.path, s.body, &v); st != s.status || (s.orderStatus != "" && v.Status != s.orderStatus) {
			t.Fatalf("%s %s %s: %d %+v, want %d %s", s.method, s.path, s.body, st, v, s.status, s.orderStatus)
		}
		apptest.Eventually(t, "notifications", func() bool { return len(rc.received()) == s.notified })
		if d := f.sb.Stats().NotificationsDropped; d != s.dropped {
			t.Fatalf("after %s %s: %d dropped, want %d", s.path, s.body, d, s.dropped)
		}
	}
	got := rc.received()
	if got[0]["outTradeNo"] != "S1" || got[0]["status"] != "SUCCESS" || got[1]["outTradeNo"] != "S3" || got[1]["status"] != "FAILED" {
		t.Fatalf("notifications: %v", got)
	}
	if o, _ := f.sb.Order("S2"); o.Status != "SUCCESS" || o.Notifications != 1 || o.NotifyAttempts != 0 {
		t.Fatalf("the order paid with its notification lost: %+v", o)
	}
}
