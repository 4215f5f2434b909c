package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds mospay's Prometheus collectors in a registry of its own (no global state, so two
// servers in one test process do not collide).
type Metrics struct {
	Registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	notifications *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	orderQueries  *prometheus.CounterVec
}

// NewMetrics registers the HTTP collectors and the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mospay_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mospay_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mospay_notifications_total",
			Help: "MOS notifications received, by outcome (applied, no_change, flagged, deferred, duplicate, unknown_order, bad_signature, malformed, unavailable, ...).",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mospay_rate_limited_total",
			Help: "Requests answered 429, by limit (login, user, admin_auth).",
		}, []string{"limit"}),
		orderQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mospay_user_order_queries_total",
			Help: "Users' POST /mp/orders/{o}/query, by answer: mos (asked MOS) or database (asked within the last 5 s: answered as stored).",
		}, []string{"answer"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.notifications, m.rateLimited, m.orderQueries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// middleware counts every request by its method and route pattern as methodLabel and routeLabel
// name them (never the raw method or path, which would let a client create unbounded label
// values).
func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route, method := routeLabel(c), methodLabel(c.Request().Method)
		m.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// methodLabel is the request's method as metrics and logs name it: one of the methods mospay or a
// browser uses, otherwise "other". The method is whatever token the client sent (any length, any
// spelling), so it never becomes a label or a log field as sent.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// routeLabel is the request's route as metrics and logs name it: the pattern it matched
// ("/mp/orders/:outTradeNo"), which the router takes only from the routes declared in routes(),
// or "unmatched" for a path no route matches. Never the raw path.
func routeLabel(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}

// CountNotification counts one notification by its outcome (mos.Receiver's Count hook).
func (m *Metrics) CountNotification(outcome string) {
	m.notifications.WithLabelValues(outcome).Inc()
}
