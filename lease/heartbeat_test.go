package lease

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/order"
)

// TestHeartbeat: the held rows are renewed to now + Lease, nothing is renewed while nothing is
// held, and a failed renewal is reported.
func TestHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name     string
		held     []int64
		fail     error
		renewals bool
	}{
		{"held rows are renewed", []int64{3, 1}, nil, true},
		{"nothing held, nothing renewed", nil, nil, false},
		{"a failed renewal is reported", []int64{7}, errors.New("database gone"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const lease = 30 * time.Millisecond
			var (
				mu      sync.Mutex
				renewed [][]int64
				failed  []error
			)
			ctx, cancel := context.WithTimeout(context.Background(), 5*lease)
			defer cancel()
			start := time.Now()
			Heartbeat{Lease: lease, Clock: order.SystemClock{},
				Held: func() []int64 { return tc.held },
				Renew: func(_ context.Context, ids []int64, n, until time.Time) error {
					if n.Before(start) || !until.Equal(n.Add(lease)) {
						t.Errorf("renewed at %v until %v, want a time after the start until a lease later", n, until)
					}
					mu.Lock()
					defer mu.Unlock()
					renewed = append(renewed, ids)
					return tc.fail
				},
				Failed: func(_ context.Context, ids int, err error) {
					if ids != len(tc.held) {
						t.Errorf("failure reported for %d rows, want %d", ids, len(tc.held))
					}
					mu.Lock()
					defer mu.Unlock()
					failed = append(failed, err)
				},
			}.Run(ctx)
			mu.Lock()
			defer mu.Unlock()
			if !tc.renewals {
				if len(renewed) != 0 {
					t.Fatalf("renewed %v with nothing held", renewed)
				}
				return
			}
			// Every Lease/3 for 5 leases: about 15 beats; a slow machine may lose some.
			if len(renewed) < 3 {
				t.Fatalf("%d renewals in five leases, want about 15", len(renewed))
			}
			for _, ids := range renewed {
				if len(ids) != len(tc.held) {
					t.Fatalf("renewed %v, want %v", ids, tc.held)
				}
			}
			if tc.fail != nil && (len(failed) == 0 || !errors.Is(failed[0], tc.fail)) {
				t.Fatalf("failures reported: %v", failed)
			}
			if tc.fail == nil && len(failed) != 0 {
				t.Fatalf("failures reported without one: %v", failed)
			}
		})
	}
}
