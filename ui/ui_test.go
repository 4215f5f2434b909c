package ui_test

// The finance pages through real HTTP against the whole of mospay (app/apptest: SQLite, the MOS
// sandbox): sign-in, sessions, CSRF, the pages and their actions, one test file per page. An
// external test package, because apptest imports app, which imports ui. The browser walk is
// e2e/finance_test.go.

import (
	"html"
	"net/http"
	"strings"
	"testing"

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
