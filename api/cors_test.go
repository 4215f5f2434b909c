package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/time/rate"
)

// TestRefusedPreflightLogged: a preflight from an origin not allowed is logged once, with its
// origin (clipped to refusedOriginMax bytes); an allowed one, a plain OPTIONS and a request that
// is no preflight are not. With no origin configured every preflight is refused, and logged; so
// is one outside /mp, where no origin is allowed.
func TestRefusedPreflightLogged(t *testing.T) {
	long := "https://" + strings.Repeat("a", 300) + ".example"
	tests := []struct {
		name    string
		allowed []string
		method  string
		path    string // "" is /mp/orders
		hdr     map[string]string
		want    string // the origin logged; "" for no line
	}{
		{"refused", []string{"https://miniapp.example"}, http.MethodOptions, "",
			map[string]string{"Origin": "http://localhost:8081", "Access-Control-Request-Method": "POST"}, "http://localhost:8081"},
		{"refused, none configured", nil, http.MethodOptions, "",
			map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}, "https://app.example"},
		{"refused, long origin clipped", []string{"https://miniapp.example"}, http.MethodOptions, "",
			map[string]string{"Origin": long, "Access-Control-Request-Method": "POST"}, long[:refusedOriginMax] + "…"},
		{"allowed", []string{"https://miniapp.example"}, http.MethodOptions, "",
			map[string]string{"Origin": "https://miniapp.example", "Access-Control-Request-Method": "POST"}, ""},
		{"allowed by *", []string{"*"}, http.MethodOptions, "",
			map[string]string{"Origin": "https://any.example", "Access-Control-Request-Method": "POST"}, ""},
		{"no Access-Control-Request-Method", []string{"https://miniapp.example"}, http.MethodOptions, "",
			map[string]string{"Origin": "https://evil.example"}, ""},
		{"refused, outside /mp", []string{"https://miniapp.example"}, http.MethodOptions, "/admin/orders",
			map[string]string{"Origin": "https://miniapp.example", "Access-Control-Request-Method": "GET"}, "https://miniapp.example"},
		{"not a preflight", []string{"https://miniapp.example"}, http.MethodGet, "",
			map[string]string{"Origin": "https://evil.example"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			s := New(Config{MaxBody: 1024, CORSOrigins: tt.allowed}, Deps{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
			path := tt.path
			if path == "" {
				path = "/mp/orders"
			}
			do(t, s.Handler(), tt.method, path, "", tt.hdr)
			lines := refusalLines(t, &buf)
			if tt.want == "" {
				if len(lines) != 0 {
					t.Fatalf("logged %v, want no refusal", lines)
				}
				return
			}
			if len(lines) != 1 || lines[0]["origin"] != tt.want || lines[0]["level"] != "WARN" {
				t.Fatalf("logged %v, want one warning with origin %q", lines, tt.want)
			}
		})
	}
}

// TestRefusedPreflightLogBounded: a flood of refused preflights writes refusedLogBurst lines, then
// none until the limiter refills; the next line counts those left out.
func TestRefusedPreflightLogBounded(t *testing.T) {
	var buf bytes.Buffer
	s := New(Config{MaxBody: 1024, CORSOrigins: []string{"https://miniapp.example"}}, Deps{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	const sent = 3 * refusedLogBurst
	for range sent {
		do(t, s.Handler(), http.MethodOptions, "/mp/login/miniAppLogin", "",
			map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
	}
	if lines := refusalLines(t, &buf); len(lines) != refusedLogBurst {
		t.Fatalf("%d refusals logged %d lines, want %d", sent, len(lines), refusedLogBurst)
	}
	// The limiter refilled: the next line says how many were left out.
	s.refused.limit = rate.NewLimiter(rate.Inf, 1)
	buf.Reset()
	do(t, s.Handler(), http.MethodOptions, "/mp/orders", "",
		map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
	lines := refusalLines(t, &buf)
	if len(lines) != 1 || lines[0]["refusals_not_logged"] != float64(sent-refusedLogBurst) {
		t.Fatalf("after the flood: %v, want one line counting %d left out", lines, sent-refusedLogBurst)
	}
}

// refusalLines are the refused-preflight lines of a JSON log.
func refusalLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "CORS preflight refused") {
			out = append(out, m)
		}
	}
	return out
}
