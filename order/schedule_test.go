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
