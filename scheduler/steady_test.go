package scheduler_test

import (
	"testing"
	"time"

	"github.com/mospay/mospay/order"
)

// healthyHourQueries is how many orderQuery calls the reconciler made for healthyHourOrders over
// one healthy hour before failed checks were retried on their own backoff: retrying what got no
// answer must not make MOS be asked more often while every check gets one.
const healthyHourQueries = 125

// TestHealthyHourQueries counts the orderQuery calls of one simulated hour in which MOS answers
// every call: 20 orders created together, 5 paid at once and 5 after ten minutes (their
// notifications lost), the rest left unpaid until they expire at 30 minutes. A pass runs every 5
// seconds of the test clock. The count is the timetable's, nothing more.
func TestHealthyHourQueries(t *testing.T) {
	e := newEnv(t)
	var orders []*order.Order
	for range 20 {
		orders = append(orders, e.create(t))
	}
	for _, o := range orders[:5] {
		e.pay(t, o.OutTradeNo)
	}
	before := e.stack.Sandbox.Stats().Calls["orderQuery"]
	for elapsed := time.Duration(0); elapsed < time.Hour; elapsed += 5 * time.Second {
		if elapsed == 10*time.Minute {
			for _, o := range orders[5:10] {
				e.pay(t, o.OutTradeNo)
			}
		}
		e.clock.Advance(5 * time.Second)
		e.pass(t)
	}
	n := e.stack.Sandbox.Stats().Calls["orderQuery"] - before
	t.Logf("orderQuery calls over a healthy hour for %d orders: %d (before retries on their own backoff: %d)", len(orders), n, healthyHourQueries)
	if n > healthyHourQueries {
		t.Errorf("%d orderQuery calls over a healthy hour, want at most %d", n, healthyHourQueries)
	}
	for i, o := range orders {
		want := order.StatusClosed
		if i < 10 {
			want = order.StatusPaid
		}
		if got := e.order(t, o.OutTradeNo).Status; got != want {
			t.Errorf("order %d: %s, want %s", i, got, want)
		}
	}
}
