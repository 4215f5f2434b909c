package api

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

func loginFrom(t *testing.T, h http.Handler, ip, xff string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/mp/login/miniAppLogin", strings.NewReader(`{"code":"nope"}`))
	req.RemoteAddr = ip + ":40000"
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestLoginRateLimit: the 21st login in a burst from one address is 429 in the error format;
// the first 20, other addresses and other routes are not limited. The refill is set slow so
// that the test does not depend on the machine's speed.
func TestLoginRateLimit(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), func(c *Config) { c.LoginRate = rate.Every(time.Hour) })
	h := s.Handler()
	for i := 1; i <= 20; i++ {
		if rec := loginFrom(t, h, "192.0.2.1", ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("login %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := loginFrom(t, h, "192.0.2.1", "")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("21st login: %d %s", rec.Code, rec.Body)
	}
	if e := decodeError(t, rec); e.Code != "rate_limited" || e.Message == "" {
		t.Errorf("error = %+v", e)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if rec := loginFrom(t, h, "192.0.2.2", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("another address: %d", rec.Code)
	}
	// X-Forwarded-For from an untrusted peer does not buy a fresh bucket.
	if rec := loginFrom(t, h, "192.0.2.1", "198.51.100.7"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("spoofed X-Forwarded-For: %d", rec.Code)
	}
	// Only login is limited.
	token := "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	for i := 0; i < 30; i++ {
		req := httptest.NewRequest(http.MethodGet, "/mp/user", nil)
		req.RemoteAddr = "192.0.2.1:40000"
		req.Header.Set("Authorization", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("/mp/user %d: %d", i, rec.Code)
		}
	}
}

// TestLoginRateLimitBehindProxy: behind a trusted proxy, each client address has its own bucket.
func TestLoginRateLimitBehindProxy(t *testing.T) {
	_, proxy, _ := net.ParseCIDR("10.0.0.1/32")
	s := newAuthServer(t, newFakeSessions(nil), func(c *Config) {
		c.LoginRate, c.LoginBurst = rate.Every(time.Hour), 2
		c.TrustedProxies = []*net.IPNet{proxy}
	})
	h := s.Handler()
	for i := 0; i < 2; i++ {
		if rec := loginFrom(t, h, "10.0.0.1", "198.51.100.1"); rec.Code != 401 {
			t.Fatalf("client 1 login %d: %d", i, rec.Code)
		}
	}
	if rec := loginFrom(t, h, "10.0.0.1", "198.51.100.1"); rec.Code != 429 {
		t.Fatalf("client 1 third login: %d", rec.Code)
	}
	if rec := loginFrom(t, h, "10.0.0.1", "198.51.100.2"); rec.Code != 401 {
		t.Fatalf("client 2 behind the same proxy: %d", rec.Code)
	}
}

// TestLoginRateLimitDefaults checks docs/security.md's floor with the defaults: a burst of 20 always
// passes, and beyond it no more than 10 per second get through.
func TestLoginRateLimitDefaults(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	h := s.Handler()
	start := time.Now()
	passed := 0
	for i := 1; i <= 40; i++ {
		rec := loginFrom(t, h, "192.0.2.9", "")
		switch rec.Code {
		case http.StatusUnauthorized:
			passed++
		case http.StatusTooManyRequests:
			if i <= 20 {
				t.Fatalf("login %d of the first burst limited", i)
			}
		default:
			t.Fatalf("login %d: %d", i, rec.Code)
		}
	}
	elapsed := time.Since(start)
	if limit := 20 + int(10*elapsed.Seconds()) + 1; passed > limit {
		t.Fatalf("%d logins passed in %v, want at most %d", passed, elapsed, limit)
	}
}
