package apptest

import (
	"sync"
	"time"
)

// Clock is mospay's clock in a test: stopped at an instant the test chooses and moved only by
// the test. A test that depends on the date or the time of day (a default period of "today", a
// day boundary in some zone) starts mospay with one, so that it passes whatever the wall clock
// says. The embedded sandbox shares it (app.New hands the clock to both).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// ClockAt is a Clock stopped at t.
func ClockAt(t time.Time) *Clock { return &Clock{t: t.UTC()} }

// Now is the instant the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// DayBoundaries are instants on both sides of the day boundaries of the zones the finance tests
// use: 16:59 and 17:01 UTC straddle midnight in Asia/Phnom_Penh (UTC+7), and 23:59 UTC is the
// last minute of the UTC day (already the next morning in Phnom Penh). The date is fixed: any
// date would do, and a fixed one makes a failure repeatable.
var DayBoundaries = []time.Time{
	time.Date(2026, 3, 10, 16, 59, 0, 0, time.UTC),
	time.Date(2026, 3, 10, 17, 1, 0, 0, time.UTC),
	time.Date(2026, 3, 10, 23, 59, 0, 0, time.UTC),
}
