package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
)

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
