package webhook

import (
	"testing"
	"time"

	"github.com/mospay/mospay/order"
)

// TestAfterFailure: a failed attempt is retried after its step of the schedule plus the random
// part (at most a tenth), and fails once the schedule is exhausted.
func TestAfterFailure(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	least := func(int64) int64 { return 0 }
	most := func(n int64) int64 { return n - 1 }
	for _, tc := range []struct {
		name     string
		retry    []time.Duration
		attempts int
		rnd      func(int64) int64
		status   order.DeliveryStatus
		next     time.Duration // after now, when pending
	}{
		{"first failure, no jitter", DefaultRetry, 0, least, order.DeliveryPending, 5 * time.Second},
		{"first failure, most jitter", DefaultRetry, 0, most, order.DeliveryPending, 5*time.Second + 500*time.Millisecond},
		{"third failure", DefaultRetry, 2, least, order.DeliveryPending, 30 * time.Minute},
		{"last step, most jitter", DefaultRetry, len(DefaultRetry) - 1, most, order.DeliveryPending, 11 * time.Hour},
		{"schedule exhausted", DefaultRetry, len(DefaultRetry), least, order.DeliveryFailed, 0},
		{"no retries at all", []time.Duration{}, 0, least, order.DeliveryFailed, 0},
		{"a zero delay is retried at once", []time.Duration{0}, 0, most, order.DeliveryPending, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var asked []int64
			rnd := func(n int64) int64 { asked = append(asked, n); return tc.rnd(n) }
			status, next := afterFailure(tc.retry, tc.attempts, now, rnd)
			if status != tc.status {
				t.Fatalf("status %s, want %s", status, tc.status)
			}
			if tc.status == order.DeliveryFailed {
				if next != nil || len(asked) != 0 {
					t.Fatalf("a failed delivery has a next attempt %v (random asked %v)", next, asked)
				}
				return
			}
			if next == nil || !next.Equal(now.Add(tc.next)) {
				t.Fatalf("next attempt %v, want %v", next, now.Add(tc.next))
			}
			if want := int64(tc.retry[tc.attempts]/10) + 1; len(asked) != 1 || asked[0] != want {
				t.Fatalf("random asked for %v, want one number below %d", asked, want)
			}
		})
	}
}
