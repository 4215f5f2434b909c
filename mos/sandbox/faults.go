package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Faults are the failures the sandbox injects, set with PUT /sandbox/faults. The zero value
// injects none. Rates are probabilities from 0 to 1, drawn independently per call or
// notification; rate maps are keyed by MOS endpoint ("getApplication", "code2session",
// "prepay", "orderQuery", or "*" for every endpoint not named).
type Faults struct {
	// LatencyMs delays every MOS call.
	LatencyMs int `json:"latencyMs"`
	// ErrorRate answers HTTP 500.
	ErrorRate map[string]float64 `json:"errorRate,omitempty"`
	// TimeoutRate hangs the call until the client gives up (at most 30 s), then answers 504.
	TimeoutRate map[string]float64 `json:"timeoutRate,omitempty"`
	// LostAnswerRate carries the call out (a prepay creates its order) but loses the answer on
	// the way back: 504, so the caller cannot know what happened.
	LostAnswerRate map[string]float64 `json:"lostAnswerRate,omitempty"`
	// DropNotifications is the chance a notification is never sent at all (no retries either):
	// only orderQuery can then tell mospay what happened.
	DropNotifications float64 `json:"dropNotifications"`
	// DuplicateNotifications is the chance a notification is delivered twice, independently.
	DuplicateNotifications float64 `json:"duplicateNotifications"`
	// DelayNotificationsMs delays each notification's first delivery.
	DelayNotificationsMs int `json:"delayNotificationsMs"`
	// ReorderNotifications holds notifications back until none has been added for a window
	// (DelayNotificationsMs, or 500 ms when that is 0), then sends them newest first, each
	// first delivery finished before the next starts. Changing the faults releases held ones.
	ReorderNotifications bool `json:"reorderNotifications"`
}

// validate refuses rates outside [0, 1], negative times and unknown endpoint names.
func (f Faults) validate() error {
	var errs []error
	rate := func(name string, p float64) {
		if !(p >= 0 && p <= 1) {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1", name))
		}
	}
	for _, field := range []struct {
		name  string
		rates map[string]float64
	}{{"errorRate", f.ErrorRate}, {"timeoutRate", f.TimeoutRate}, {"lostAnswerRate", f.LostAnswerRate}} {
		m := field.rates
		for _, op := range slices.Sorted(maps.Keys(m)) {
			if op != "*" && !slices.Contains(ops, op) {
				errs = append(errs, fmt.Errorf("%s: unknown endpoint %q (use %v or \"*\")", field.name, op, ops))
			}
			rate(field.name+"."+op, m[op])
		}
	}
	rate("dropNotifications", f.DropNotifications)
	rate("duplicateNotifications", f.DuplicateNotifications)
	if f.LatencyMs < 0 || f.DelayNotificationsMs < 0 {
		errs = append(errs, errors.New("latencyMs and delayNotificationsMs must not be negative"))
	}
	return errors.Join(errs...)
}

func (f Faults) clone() Faults {
	f.ErrorRate = maps.Clone(f.ErrorRate)
	f.TimeoutRate = maps.Clone(f.TimeoutRate)
	f.LostAnswerRate = maps.Clone(f.LostAnswerRate)
	return f
}

// SetFaults replaces the injected faults, as PUT /sandbox/faults does; notifications held for
// reordering are released.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f.clone()
	s.mu.Unlock()
	s.flushHeld()
	return nil
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.clone()
}
