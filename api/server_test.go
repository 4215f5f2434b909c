package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

func newTestServer(t *testing.T, ready func(context.Context) error) *Server {
	t.Helper()
	s := New(Config{MaxBody: 1024, CORSOrigins: []string{"https://miniapp.example"}}, Deps{Ready: ready})
	// Routes that fail in each way a handler can, to check the one error format.
	s.echo.POST("/test/echo", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	})
	s.echo.GET("/test/invalid", func(echo.Context) error { return order.Errorf(order.EINVALID, "bad field %q", "x") })
	s.echo.GET("/test/unauthorized", func(echo.Context) error { return order.Errorf(order.EUNAUTHORIZED, "token expired") })
	s.echo.GET("/test/internal", func(echo.Context) error { return errors.New("pq: secret detail at 10.0.0.1") })
	s.echo.GET("/test/panic", func(echo.Context) error { panic("boom") })
	return s
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) ErrorDetail {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	return b.Error
}

func TestErrorFormat(t *testing.T) {
	s := newTestServer(t, nil)
	tests := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"400", http.MethodGet, "/test/invalid", "", 400, "invalid_request", `bad field "x"`},
		{"401", http.MethodGet, "/test/unauthorized", "", 401, "unauthorized", "token expired"},
		{"404", http.MethodGet, "/no/such/route", "", 404, "not_found", "Not Found"},
		{"405", http.MethodDelete, "/healthz", "", 405, "method_not_allowed", "Method Not Allowed"},
		{"413", http.MethodPost, "/test/echo", strings.Repeat("x", 2048), 413, "payload_too_large", "Request Entity Too Large"},
		{"500", http.MethodGet, "/test/internal", "", 500, "internal", "internal error"},
		{"500 panic", http.MethodGet, "/test/panic", "", 500, "internal", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, s.Handler(), tt.method, tt.path, tt.body, nil)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content type %q", ct)
			}
			e := decodeError(t, rec)
			if e.Code != tt.code || e.Message != tt.msg {
				t.Errorf("error = %+v, want %s %q", e, tt.code, tt.msg)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.1") || strings.Contains(rec.Body.String(), "boom") {
				t.Errorf("internal detail leaked: %s", rec.Body)
			}
			if rec.Header().Get(echo.HeaderXRequestID) == "" {
				t.Error("no request id")
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestServer(t, nil)
	if rec := do(t, s.Handler(), http.MethodPost, "/test/echo", strings.Repeat("x", 1024), nil); rec.Code != 200 {
		t.Fatalf("a body at the limit: %d", rec.Code)
	}
	// Without a Content-Length the limit still holds while reading.
	req := httptest.NewRequest(http.MethodPost, "/test/echo", io.NopCloser(strings.NewReader(strings.Repeat("y", 4096))))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || decodeError(t, rec).Code != "payload_too_large" {
		t.Fatalf("chunked body past the limit: %d %s", rec.Code, rec.Body)
	}
}

func TestCORSPreflight(t *testing.T) {
	s := newTestServer(t, nil)
	rec := do(t, s.Handler(), http.MethodOptions, "/mp/orders", "", map[string]string{
		"Origin":                         "https://miniapp.example",
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
	})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("preflight status %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://miniapp.example" {
		t.Errorf("allow origin = %q", got)
	}
	if got := rec.Header().Get("Access-Control-Allow-Headers"); !strings.Contains(strings.ToLower(got), "idempotency-key") {
		t.Errorf("allow headers = %q", got)
	}
	// Another origin gets no CORS grant.
	rec = do(t, s.Handler(), http.MethodOptions, "/mp/orders", "", map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("foreign origin allowed: %q", got)
	}
}

func TestReadyz(t *testing.T) {
	var down error
	s := newTestServer(t, func(context.Context) error { return down })
	if rec := do(t, s.Handler(), http.MethodGet, "/readyz", "", nil); rec.Code != 200 {
		t.Fatalf("ready: %d", rec.Code)
	}
	down = errors.New("database unreachable")
	rec := do(t, s.Handler(), http.MethodGet, "/readyz", "", nil)
	if rec.Code != http.StatusServiceUnavailable || decodeError(t, rec).Code != "provider_unavailable" {
		t.Fatalf("not ready: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, s.Handler(), http.MethodGet, "/healthz", "", nil); rec.Code != 200 {
		t.Fatalf("healthz must not depend on the database: %d", rec.Code)
	}
}

func TestMetricsExposed(t *testing.T) {
	s := newTestServer(t, nil)
	do(t, s.Handler(), http.MethodGet, "/healthz", "", nil)
	rec := do(t, s.Handler(), http.MethodGet, "/metrics", "", nil)
	body := rec.Body.String()
	for _, want := range []string{`mospay_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		"mospay_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestClientValuesNeverLabels: whatever method and path a client sends, the metrics and the access
// log name the method from a fixed set and the route by its pattern.
func TestClientValuesNeverLabels(t *testing.T) {
	long := strings.Repeat("M", 10000)
	tests := []struct {
		method, path          string
		wantMethod, wantRoute string
	}{
		{http.MethodGet, "/healthz", "GET", "/healthz"},
		{http.MethodHead, "/healthz", "HEAD", "/healthz"},
		{http.MethodPost, "/mp/login/miniAppLogin", "POST", "/mp/login/miniAppLogin"},
		{http.MethodPut, "/healthz", "PUT", "/healthz"},
		{http.MethodPatch, "/healthz", "PATCH", "/healthz"},
		{http.MethodDelete, "/healthz", "DELETE", "/healthz"},
		{http.MethodOptions, "/healthz", "OPTIONS", "/healthz"},
		{"get", "/healthz", "other", "/healthz"},
		{long, "/healthz", "other", "/healthz"},
		{long + "2", "/nowhere/" + strings.Repeat("p", 5000), "other", "unmatched"},
		{http.MethodGet, "/nowhere/" + strings.Repeat("q", 5000), "GET", "unmatched"},
		{http.MethodGet, "/admin/orders/" + strings.Repeat("o", 5000), "GET", "/admin/orders/:outTradeNo"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.10s %.20s", tt.method, tt.path), func(t *testing.T) {
			var logs bytes.Buffer
			s := New(Config{MaxBody: 1024}, Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			do(t, s.Handler(), tt.method, tt.path, "", nil)
			var line struct{ Msg, Method, Route string }
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "http" {
				t.Fatalf("access log %q: %v", logs.String(), err)
			}
			if line.Method != tt.wantMethod || line.Route != tt.wantRoute {
				t.Errorf("logged method %.20q route %.40q, want %q %q", line.Method, line.Route, tt.wantMethod, tt.wantRoute)
			}
			metrics := do(t, s.Handler(), http.MethodGet, "/metrics", "", nil).Body.String()
			want := fmt.Sprintf(`mospay_http_requests_total{method=%q,route=%q,`, tt.wantMethod, tt.wantRoute)
			if !strings.Contains(metrics, want) || strings.Contains(metrics, "MMMMMMMMMM") || strings.Contains(metrics, "pppppppppp") ||
				strings.Contains(metrics, "qqqqqqqqqq") || strings.Contains(metrics, "oooooooooo") {
				t.Errorf("metrics lack %s or hold the client's values:\n%s", want, grepLines(metrics, "mospay_http_requests_total"))
			}
		})
	}
}

// grepLines are the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestGracefulShutdownFinishesInFlight starts a real listener, begins a slow request, shuts
// down, and checks that the request still completes while new connections are refused.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	s := newTestServer(t, nil)
	started := make(chan struct{})
	s.echo.GET("/test/slow", func(c echo.Context) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.String(http.StatusOK, "done")
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	url := "http://" + l.Addr().String()
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/test/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestIPExtractorTrustsOnlyConfiguredProxies(t *testing.T) {
	_, proxy, _ := net.ParseCIDR("10.1.2.3/32")
	tests := []struct {
		name    string
		trusted []*net.IPNet
		peer    string
		xff     string
		want    string
	}{
		{"no proxies: socket peer", nil, "10.1.2.3:5555", "1.2.3.4", "10.1.2.3"},
		{"trusted proxy: XFF", []*net.IPNet{proxy}, "10.1.2.3:5555", "1.2.3.4", "1.2.3.4"},
		{"untrusted peer: socket", []*net.IPNet{proxy}, "192.168.0.9:5555", "1.2.3.4", "192.168.0.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.peer
			req.Header.Set("X-Forwarded-For", tt.xff)
			if got := ipExtractor(tt.trusted)(req); got != tt.want {
				t.Fatalf("ip = %q, want %q", got, tt.want)
			}
		})
	}
}
