package api

import (
	"crypto/rand"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/mospay/mospay/order"
)

// requestIDPattern is what a client's X-Request-Id must look like to be kept: short, and of
// characters that are safe in a log line, a header and the audit trail. Anything else is replaced.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestIDs gives every request mospay's own id (requestID), written to the log, the
// transitions and the audit trail. The client's X-Request-Id is kept when it is 1 to 64
// characters of [A-Za-z0-9._:-] (so that no client can put a megabyte or a line break anywhere):
// answered back in X-Request-Id, logged, and kept in the audit trail beside mospay's own
// (order.WithClientRequestID), never instead of it, since the client chooses it. Without one,
// X-Request-Id answers mospay's own.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		own := rand.Text()
		answered := own
		req := c.Request()
		if client := req.Header.Get(echo.HeaderXRequestID); requestIDPattern.MatchString(client) {
			answered = client
			c.Set(clientRequestIDKey, client)
			c.SetRequest(req.WithContext(order.WithClientRequestID(req.Context(), client)))
		}
		c.Set(requestIDKey, own)
		c.Request().Header.Set(echo.HeaderXRequestID, answered)
		c.Response().Header().Set(echo.HeaderXRequestID, answered)
		return next(c)
	}
}

// The keys of the request ids in the Echo context.
const (
	requestIDKey       = "request_id"
	clientRequestIDKey = "client_request_id"
)

// clientRequestID is the X-Request-Id the client sent, if requestIDs kept it; else "".
func clientRequestID(c echo.Context) string {
	id, _ := c.Get(clientRequestIDKey).(string)
	return id
}

// securityHeaders sets what every answer carries: nosniff (a JSON or CSV answer is never run as
// a script) and no Referer (order numbers in URLs stay here). Finance's answers (/admin, the
// finance pages) are not to be cached anywhere: they hold payers' data.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if p := c.Request().URL.Path; strings.HasPrefix(p, "/admin/") || p == "/finance" || strings.HasPrefix(p, "/finance/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// limited is the answer of every rate limit: 429 rate_limited with Retry-After, counted by limit.
func (s *Server) limited(c echo.Context, limit string, retryAfter time.Duration, msg string) error {
	s.deps.Metrics.rateLimited.WithLabelValues(limit).Inc()
	secs := max(1, int(retryAfter.Round(time.Second)/time.Second))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return order.Errorf(order.ERATELIMITED, "%s", msg)
}

// Login's rate limit per client address when Config leaves it zero (at least a burst of 20 and 10
// per second before 429).
const (
	// DefaultLoginRate is the sustained logins per second one client address may make.
	DefaultLoginRate rate.Limit = 10
	// DefaultLoginBurst is how many logins one client address may make at once.
	DefaultLoginBurst = 20
)

// loginLimit limits logins per client address, so that one client cannot spend MOS's
// code2session quota or hammer MOS through us. The address is c.RealIP(), which believes
// X-Forwarded-For only from Config.TrustedProxies (see ipExtractor).
func (s *Server) loginLimit() echo.MiddlewareFunc {
	r, burst := s.cfg.LoginRate, s.cfg.LoginBurst
	if r <= 0 {
		r = DefaultLoginRate
	}
	if burst <= 0 {
		burst = DefaultLoginBurst
	}
	return s.keyedLimit(r, burst, func(c echo.Context) string { return c.RealIP() },
		"login", time.Second, "too many login attempts; try again shortly")
}

// keyedLimit is a token-bucket limit of r a second and burst at once per key (a client address,
// a merchant key's name), in this instance's memory; over it, 429 counted under limit with
// Retry-After retry. The login and merchant limits are made with it.
func (s *Server) keyedLimit(r rate.Limit, burst int, key func(echo.Context) string, limit string, retry time.Duration, msg string) echo.MiddlewareFunc {
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{Rate: r, Burst: burst}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return key(c), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return s.limited(c, limit, retry, msg)
		},
	})
}

// The per-user limit of /mp's configuration; a Config's zero UserRate turns the limit off.
const (
	// DefaultUserRate is MOSPAY_USER_RATE's default: requests per second per user.
	DefaultUserRate rate.Limit = 5
	// DefaultUserBurst is MOSPAY_USER_BURST's default: requests at once per user.
	DefaultUserBurst = 20
)

// userLimit limits each mini-app user's requests to /mp after login (Config.UserRate per second,
// Config.UserBurst at once): one user cannot make MOS create prepays or answer orderQuery as
// fast as they can send. It sits behind requireUser, keyed by the user's id; it is per instance.
// A zero rate turns it off.
func (s *Server) userLimit() echo.MiddlewareFunc {
	if s.cfg.UserRate <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	burst := max(s.cfg.UserBurst, 1)
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: s.cfg.UserRate, Burst: burst}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return userOf(c).ID, nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return s.limited(c, "user", time.Duration(float64(time.Second)/float64(s.cfg.UserRate)), "too many requests; slow down")
		},
	})
}

// Failed admin authentications per client address: after AdminAuthFailures in a minute, further
// failures from that address are answered 429 until it cools down (a failure a minute/10 comes
// back). A request with a valid token is never limited, so finance locked out by a noisy
// neighbour on the same address still gets in.
const (
	AdminAuthFailures = 10
	adminAuthWindow   = time.Minute
)

// newAdminAuthFailures is the store of failed admin authentications per address.
func newAdminAuthFailures() *middleware.RateLimiterMemoryStore {
	return middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(float64(AdminAuthFailures) / adminAuthWindow.Seconds()), Burst: AdminAuthFailures,
		ExpiresIn: 2 * adminAuthWindow,
	})
}

// adminAuthFailed counts one failed admin authentication from the request's address; over the
// limit, it is the 429 to answer instead of the refusal (counted by limit, saying msg).
func (s *Server) adminAuthFailed(c echo.Context, limit, msg string) error {
	if ok, _ := s.adminFailures.Allow(c.RealIP()); ok {
		return nil
	}
	return s.limited(c, limit, adminAuthWindow/AdminAuthFailures, msg)
}
