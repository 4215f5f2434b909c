// Package lease keeps claimed work claimed while it is being done. The reconciler's orders and
// the deliverer's deliveries are rows claimed under a short lease (store.DB), so that a crashed
// instance's claims run out within one lease; the instance still working renews its claims every
// third of a lease, so that a slow orderQuery or a slow receiver does not lose them.
package lease

import (
	"context"
	"time"

	"github.com/mospay/mospay/order"
)

// Heartbeat renews the leases of the rows its owner holds. Both queues run one.
type Heartbeat struct {
	// Lease is how long a claim holds without renewal; each renewal extends the held rows' leases
	// to now + Lease, every Lease/3.
	Lease time.Duration
	Clock order.Clock
	// Held lists the ids of the rows claimed and not yet done, at the moment of each renewal.
	Held func() []int64
	// Renew extends the leases on ids to until (the store measures it from now, or on PostgreSQL
	// from its own clock).
	Renew func(ctx context.Context, ids []int64, now, until time.Time) error
	// Failed is told of a renewal that failed, unless ctx has ended. The lease then runs out, and
	// another instance may claim the row once more, which the state machine and the version guard
	// (orders) or the receiver's dedupe on webhook-id (deliveries) make harmless.
	Failed func(ctx context.Context, ids int, err error)
}

// Run renews every Lease/3 until ctx ends. Nothing is renewed while nothing is held.
func (h Heartbeat) Run(ctx context.Context) {
	t := time.NewTicker(h.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := h.Held()
		if len(ids) == 0 {
			continue
		}
		now := h.Clock.Now()
		if err := h.Renew(ctx, ids, now, now.Add(h.Lease)); err != nil && ctx.Err() == nil {
			h.Failed(ctx, len(ids), err)
		}
	}
}
