package order

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	s := DefaultSchedule()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	pending := &Order{Status: StatusPending, CreatedAt: t0, ExpireAt: t0.Add(30 * time.Minute)}
	created := &Order{Status: StatusCreated, CreatedAt: t0, ExpireAt: t0.Add(30 * time.Minute)}
	closed := &Order{Status: StatusClosed, CreatedAt: t0, ExpireAt: t0.Add(30 * time.Minute)}
	paidAt := t0.Add(5 * time.Minute)
	paid := &Order{Status: StatusPaid, CreatedAt: t0, ExpireAt: t0.Add(30 * time.Minute), PaidAt: &paidAt}
	refunded := &Order{Status: StatusRefunded, CreatedAt: t0, ExpireAt: t0.Add(30 * time.Minute), PaidAt: &paidAt}
	long := &Order{Status: StatusCreated, CreatedAt: t0, ExpireAt: t0.Add(time.Hour)}
	day := 24 * time.Hour
	zero := func() float64 { return 0 }
	tests := []struct {
		name     string
		o        *Order
		attempts int
		now      time.Time
		want     time.Time
		ok       bool
	}{
		{"first check 15s after creation", pending, 0, t0, t0.Add(15 * time.Second), true},
		{"second after 30s", pending, 1, t0.Add(15 * time.Second), t0.Add(45 * time.Second), true},
		{"third after 1m", pending, 2, t0.Add(45 * time.Second), t0.Add(105 * time.Second), true},
		{"sixth after 10m", pending, 5, t0.Add(10 * time.Minute), t0.Add(20 * time.Minute), true},
		{"then steady, capped at expiry", pending, 6, t0.Add(20 * time.Minute), t0.Add(30 * time.Minute), true},
		{"capped at expireTime", pending, 5, t0.Add(25 * time.Minute), t0.Add(30 * time.Minute), true},
		{"grace 1m after expiry", pending, 9, t0.Add(30 * time.Minute), t0.Add(31 * time.Minute), true},
		{"grace 10m", closed, 10, t0.Add(31 * time.Minute), t0.Add(40 * time.Minute), true},
		{"grace 1h", closed, 11, t0.Add(40 * time.Minute), t0.Add(90 * time.Minute), true},
		{"grace 24h", closed, 13, t0.Add(7 * time.Hour), t0.Add(30*time.Minute + 24*time.Hour), true},
		{"done after the last grace check", closed, 14, t0.Add(30*time.Minute + 24*time.Hour), time.Time{}, false},
		{"paid: an hour after payment", paid, 0, paidAt, paidAt.Add(time.Hour), true},
		{"paid: a day after", paid, 1, paidAt.Add(time.Hour), paidAt.Add(day), true},
		{"paid: a week after", paid, 2, paidAt.Add(day), paidAt.Add(7 * day), true},
		{"paid: at the end of the refund window", paid, 3, paidAt.Add(7 * day), paidAt.Add(30 * day), true},
		{"paid: nothing after the window", paid, 4, paidAt.Add(30 * day), time.Time{}, false},
		{"paid: a late check finds the next one", paid, 1, paidAt.Add(2 * day), paidAt.Add(7 * day), true},
		{"refunded: never", refunded, 0, paidAt, time.Time{}, false},
		{"created: checked at the give-up moment", long, 5, t0.Add(100 * time.Second), t0.Add(2 * time.Minute), true},
		{"created: backs off after the give-up moment", long, 6, t0.Add(2 * time.Minute), t0.Add(32 * time.Minute), true},
		{"created waits for prepay in flight", created, 0, t0, t0.Add(15 * time.Second), true},
		{"overdue check is due now", pending, 1, t0.Add(10 * time.Second), t0.Add(40 * time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.Next(tt.o, tt.attempts, tt.now, zero)
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Fatalf("Next = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestScheduleJitterNeverLate(t *testing.T) {
	s := DefaultSchedule()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	o := &Order{Status: StatusPending, CreatedAt: t0, ExpireAt: t0.Add(time.Hour)}
	for _, r := range []float64{0, 0.25, 0.5, 0.999} {
		got, _ := s.Next(o, 0, t0, func() float64 { return r })
		if got.After(t0.Add(15*time.Second)) || got.Before(t0.Add(13*time.Second)) {
			t.Errorf("rnd %v: first check at %v", r, got.Sub(t0))
		}
	}
	// The in-flight guard wins over jitter for CREATED orders.
	o.Status = StatusCreated
	s.InFlight = 20 * time.Second
	if got, _ := s.Next(o, 0, t0, func() float64 { return 0.9 }); !got.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("created: first check at %v", got.Sub(t0))
	}
}

// A refund window shorter than a refund check drops the check: the window's end is the last one.
func TestScheduleShortRefundWindow(t *testing.T) {
	s := DefaultSchedule()
	s.RefundWindow = 48 * time.Hour
	paidAt := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	o := &Order{Status: StatusPaid, PaidAt: &paidAt}
	var got []time.Duration
	for now := paidAt; ; {
		next, ok := s.Next(o, 0, now, nil)
		if !ok {
			break
		}
		got = append(got, next.Sub(paidAt))
		now = next
	}
	want := []time.Duration{time.Hour, 24 * time.Hour, 48 * time.Hour}
	if len(got) != len(want) {
		t.Fatalf("checks at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("checks at %v, want %v", got, want)
		}
	}
}

// Every deadline the timetable promises is kept whatever the order of the deadlines: the
// timetable, walked check by check, holds the give-up moment of a CREATED order, its expiry, every
// grace check and every refund check within the window, for each pair of them in either order.
func TestScheduleKeepsEveryDeadline(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	minute := time.Minute
	tests := []struct {
		name   string
		status Status
		ttl    time.Duration
		edit   func(*Schedule)
		want   []time.Duration // each must be a check of the walk (after creation, or after payment)
	}{
		{"give-up before expiry", StatusCreated, 30 * minute, nil, []time.Duration{2 * minute, 30 * minute, 31 * minute, 40 * minute}},
		{"give-up after expiry (TTL 20 s, give-up 2 min)", StatusCreated, sec(20), nil, []time.Duration{sec(20), sec(80), 2 * minute, sec(620)}},
		{"give-up at expiry", StatusCreated, 2 * minute, nil, []time.Duration{2 * minute, 3 * minute, 12 * minute}},
		{"give-up after expiry, before the first grace check (TTL 20 s, give-up 30 s)", StatusCreated, sec(20),
			func(s *Schedule) { s.GiveUp = sec(30) }, []time.Duration{sec(20), sec(30), sec(80), sec(620)}},
		{"give-up between grace checks", StatusCreated, sec(20),
			func(s *Schedule) { s.GiveUp = 15 * minute }, []time.Duration{sec(20), sec(80), sec(620), 15 * minute, time.Hour + sec(20)}},
		{"give-up after every grace check", StatusCreated, sec(20),
			func(s *Schedule) { s.Grace = []time.Duration{sec(10), sec(20)}; s.GiveUp = minute }, []time.Duration{sec(20), sec(30), sec(40), minute}},
		{"give-up before the first check", StatusCreated, 30 * minute,
			func(s *Schedule) { s.GiveUp = sec(5) }, []time.Duration{sec(5), 30 * minute, 31 * minute}},
		{"give-up before the prepay can have landed", StatusCreated, 30 * minute,
			func(s *Schedule) { s.GiveUp = sec(10); s.InFlight = sec(20) }, []time.Duration{sec(10), 30 * minute, 31 * minute}},
		{"expiry before the first check", StatusPending, sec(10), nil, []time.Duration{sec(10), sec(70), sec(610)}},
		{"expiry before the prepay can have landed", StatusCreated, sec(10),
			func(s *Schedule) { s.InFlight = sec(20) }, []time.Duration{sec(10), sec(70), 2 * minute}},
		{"expiry between backoff steps", StatusPending, sec(50), nil, []time.Duration{sec(15), sec(45), sec(50), sec(110)}},
		{"grace checks closer than the backoff", StatusPending, 2 * minute,
			func(s *Schedule) { s.Grace = []time.Duration{sec(1), sec(2)} }, []time.Duration{2 * minute, 2*minute + sec(1), 2*minute + sec(2)}},
		{"refund checks within the window", StatusPaid, 30 * minute, nil,
			[]time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}},
		{"refund window before a refund check", StatusPaid, 30 * minute, func(s *Schedule) { s.RefundWindow = 2 * time.Hour },
			[]time.Duration{time.Hour, 2 * time.Hour}},
		{"refund window at a refund check", StatusPaid, 30 * minute, func(s *Schedule) { s.RefundWindow = 24 * time.Hour },
			[]time.Duration{time.Hour, 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSchedule()
			s.Jitter = 0
			if tt.edit != nil {
				tt.edit(&s)
			}
			o := &Order{Status: tt.status, CreatedAt: t0, ExpireAt: t0.Add(tt.ttl)}
			from := t0
			if tt.status == StatusPaid {
				o.PaidAt = &t0
			}
			var walk []time.Duration
			seen := map[time.Duration]bool{}
			now := from
			for attempts := 0; len(walk) < 100; attempts++ {
				next, ok := s.Next(o, attempts, now, func() float64 { return 0 })
				if !ok {
					break
				}
				if !next.After(now) && attempts > 0 {
					t.Fatalf("check %d at %v does not come after the previous one at %v", attempts, next.Sub(from), now.Sub(from))
				}
				walk = append(walk, next.Sub(from))
				seen[next.Sub(from)] = true
				now = next
			}
			for _, d := range tt.want {
				if !seen[d] {
					t.Errorf("no check at %v; the checks: %v", d, walk)
				}
			}
			if len(walk) >= 100 {
				t.Errorf("the timetable never ends: %v", walk[:20])
			}
		})
	}
}

// A check that got no answer comes back within seconds, backing off with the failures in a row
// and never past RetryMax, jitter included.
func TestScheduleRetry(t *testing.T) {
	s := DefaultSchedule()
	tests := []struct {
		failures int
		rnd      float64
		want     time.Duration
	}{
		{1, 0, time.Second},
		{2, 0, 2 * time.Second},
		{3, 0, 4 * time.Second},
		{4, 0, 5 * time.Second},
		{50, 0, 5 * time.Second},
		{1, 0.5, 750 * time.Millisecond},
		{4, 0.5, 3750 * time.Millisecond},
		{4, 0.999, 2502500 * time.Microsecond},
		{0, 0, time.Second},
	}
	for _, tt := range tests {
		if got := s.Retry(tt.failures, func() float64 { return tt.rnd }); got != tt.want {
			t.Errorf("Retry(%d) with rnd %v = %v, want %v", tt.failures, tt.rnd, got, tt.want)
		}
	}
	for failures := 1; failures < 20; failures++ {
		for _, r := range []float64{0, 0.1, 0.5, 0.9, 0.999} {
			if got := s.Retry(failures, func() float64 { return r }); got > s.RetryMax || got <= 0 {
				t.Errorf("Retry(%d) with rnd %v = %v, want within (0, %v]", failures, r, got, s.RetryMax)
			}
		}
	}
}
