package api

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/mospay/mospay/order"
	"golang.org/x/time/rate"
)

// Login's rate limit per client address when Config leaves it zero (the README: at least a
// burst of 20 and 10 per second before 429).
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
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate:  r,
			Burst: burst,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", "1")
			return order.Errorf(order.ERATELIMITED, "too many login attempts; try again shortly")
		},
	})
}
