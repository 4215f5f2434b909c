package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The operational metrics beside the HTTP ones (api.Metrics): what deploy/alerts.yml watches to
// wake an operator. Each is cheap to scrape: a counter, an atomic, or one count over a partial
// index.

// newMOSCalls is mospay_mos_calls_total.
func newMOSCalls() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mospay_mos_calls_total",
		Help: "Calls to MOS, by call (prepay, orderQuery, code2session, ...) and outcome: ok, unavailable (no answer, a timeout or a server error: tried again later) or refused (MOS answered no).",
	}, []string{"call", "outcome"})
}

// observeMOSCall is the MOS client's Observe hook.
func (a *App) observeMOSCall(op, outcome string, _ time.Duration) {
	a.mosCalls.WithLabelValues(op, outcome).Inc()
}

// scrapeTimeout bounds a gauge's database read at scrape time.
const scrapeTimeout = 2 * time.Second

// registerOpsMetrics adds the operational collectors to the metrics registry.
func (a *App) registerOpsMetrics() {
	reg := a.metrics.Registry
	reg.MustRegister(a.mosCalls)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mospay_database_writes_failing",
		Help: "1 while the database refuses writes for want of storage (a full disk, an I/O error); 0 once a write commits again.",
	}, func() float64 {
		if a.db.WritesFailing() {
			return 1
		}
		return 0
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mospay_ready",
		Help: "1 when this instance is ready (database reachable, migrated and writable), as GET /readyz answers; 0 otherwise.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		defer cancel()
		if a.db.Ready(ctx) != nil {
			return 0
		}
		return 1
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mospay_flags_open",
		Help: "Active flags waiting for finance (the review queue), all kinds together; -1 when the database could not be read.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		defer cancel()
		n, err := a.db.OpenFlags(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}
