package webhook

import "github.com/prometheus/client_golang/prometheus/testutil"

// What the external tests (package webhook_test, which may import app/apptest) read inside the
// deliverer.

// AttemptsCounted is how many attempts d has counted with outcome.
func (d *Deliverer) AttemptsCounted(outcome string) float64 {
	return testutil.ToFloat64(d.attempts.WithLabelValues(outcome))
}
