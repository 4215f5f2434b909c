package scheduler

import (
	"sync"
	"time"
)

// health is this instance's one view of whether MOS answers the reconciler's checks. It is down
// once DownAfter checks in a row got no answer (MOS unreachable, timeouts, HTTP 5xx, lost
// answers); while it is down, the reconciler's passes make one check at a time, a probe, at most
// every Probe, instead of each failing order retrying on its own; the first answer puts it up
// again, and the pass goes on through everything due, oldest first, at the configured rate. Only
// the reconciler's background checks consult it: a create's prepay, a user's query and finance's
// reconcile always call MOS.
type health struct {
	downAfter int
	probe     time.Duration

	mu        sync.Mutex
	failures  int       // checks in a row that got no answer
	down      bool      // MOS is taken to be down
	nextProbe time.Time // while down: when the next probe may be made (Config.Clock)
}

// observe records the outcome of one check made at now; it reports whether that moved the
// signal down or up.
func (h *health) observe(answered bool, now time.Time) (wentDown, cameUp bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if answered {
		cameUp = h.down
		h.failures, h.down = 0, false
		return false, cameUp
	}
	h.failures++
	if !h.down && h.failures >= h.downAfter {
		h.down, wentDown = true, true
	}
	if h.down {
		h.nextProbe = now.Add(h.probe)
	}
	return wentDown, false
}

// isDown reports whether MOS is taken to be down.
func (h *health) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

// admit says how a pass starting at now may call MOS: up means freely; otherwise probe says
// whether one probe may be made now (it is then taken: no other pass probes until Probe has
// passed).
func (h *health) admit(now time.Time) (up, probe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return true, false
	}
	if now.Before(h.nextProbe) {
		return false, false
	}
	h.nextProbe = now.Add(h.probe)
	return false, true
}

// probeAt is when the next probe may be made, while MOS is down; ok is false while it is up.
func (h *health) probeAt() (at time.Time, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nextProbe, h.down
}
