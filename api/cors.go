package api

import (
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// The refused-preflight log's bounds: at most refusedLogBurst lines at once, then one per
// refusedLogEvery, and an origin logged to refusedOriginMax bytes, so that a page (or anyone)
// sending preflights in a loop, with origins of any length, cannot flood the log.
const (
	refusedLogEvery  = 10 * time.Second
	refusedLogBurst  = 10
	refusedOriginMax = 100
)

// refusedPreflights logs the CORS preflights mospay refuses, with their origin: a front end on
// an origin MOSPAY_CORS_ORIGINS does not list sees only "Failed to fetch" (a browser hides why),
// while this line tells its developer which origin to add. Lines are rate-limited; those left
// out are counted in the next one. It holds no per-origin state, and adds no metric label.
type refusedPreflights struct {
	log     *slog.Logger
	limit   *rate.Limiter
	skipped atomic.Int64
}

func newRefusedPreflights(log *slog.Logger) *refusedPreflights {
	return &refusedPreflights{log: log, limit: rate.NewLimiter(rate.Every(refusedLogEvery), refusedLogBurst)}
}

// middleware runs around every route, so around /mp's CORS: a preflight (an OPTIONS with an
// Origin and an Access-Control-Request-Method) answered with no Access-Control-Allow-Origin was
// refused, whichever route it asked for.
func (p *refusedPreflights) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		req := c.Request()
		origin := req.Header.Get(echo.HeaderOrigin)
		if req.Method != http.MethodOptions || origin == "" || req.Header.Get(echo.HeaderAccessControlRequestMethod) == "" ||
			c.Response().Header().Get(echo.HeaderAccessControlAllowOrigin) != "" {
			return err
		}
		if !p.limit.Allow() {
			p.skipped.Add(1)
			return err
		}
		p.log.Warn("CORS preflight refused: a page of this origin may not call mospay; add it to MOSPAY_CORS_ORIGINS if it should call /mp",
			"origin", clipOrigin(origin), "route", routeLabel(c), "request_id", requestID(c),
			"refusals_not_logged", p.skipped.Swap(0))
		return err
	}
}

// clipOrigin is an Origin header fit for a log line: valid UTF-8, at most refusedOriginMax
// bytes (cut on a character, marked with "…"). The log handler quotes it.
func clipOrigin(origin string) string {
	origin = strings.ToValidUTF8(origin, "\uFFFD")
	if len(origin) <= refusedOriginMax {
		return origin
	}
	cut := refusedOriginMax
	for cut > 0 && !utf8.RuneStart(origin[cut]) {
		cut--
	}
	return origin[:cut] + "…"
}
