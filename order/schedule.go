package order

import "time"

// Schedule says when the reconciler next asks MOS about an order. MOS's notifications may be
// lost, late or never sent, so every order that can still change is checked on this timetable
// until MOS's answer can no longer change:
//
//   - first check at most First after creation (a CREATED order: not before InFlight, while its
//     prepay may still be on its way to MOS);
//   - then backing off by Backoff[attempt] (then every Steady) until expireTime;
//   - a CREATED order is also checked at GiveUp after creation, the moment MOS having no record
//     of it means its prepay never arrived (it is then FAILED);
//   - one check exactly at expireTime (where an unpaid order is closed);
//   - then grace checks at expireTime + Grace[i] for late payments;
//   - a PAID order, whose refund MOS may report only through orderQuery, is checked at
//     paidAt + each of RefundChecks within RefundWindow, and at paidAt + RefundWindow;
//   - then none: nothing more is expected from MOS (finance's report still shows the order);
//     but a last check that got no answer (MOS unavailable) is made again after AfterFailure,
//     until MOS answers.
//
// Jitter shortens each backoff delay by up to that fraction, at random, so orders created
// together do not all call MOS in the same second; it never lengthens one, so "at most First"
// holds. The fixed points (give-up, expiry, grace, refund checks) are not jittered.
type Schedule struct {
	First        time.Duration
	InFlight     time.Duration
	Backoff      []time.Duration
	Steady       time.Duration
	GiveUp       time.Duration
	Grace        []time.Duration
	RefundChecks []time.Duration
	RefundWindow time.Duration
	Jitter       float64
}

// DefaultSchedule is mospay's timetable (docs/orders.md "Reconciler timing").
func DefaultSchedule() Schedule {
	return Schedule{
		First:        15 * time.Second,
		InFlight:     15 * time.Second,
		Backoff:      []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		Steady:       30 * time.Minute,
		GiveUp:       2 * time.Minute,
		Grace:        []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour},
		RefundChecks: []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour},
		RefundWindow: 30 * 24 * time.Hour,
		Jitter:       0.1,
	}
}

// AfterFailure is how long after a check that got no answer the timetable's last check is made
// again: the first backoff step (or First).
func (s Schedule) AfterFailure() time.Duration {
	if len(s.Backoff) > 0 && s.Backoff[0] > 0 {
		return s.Backoff[0]
	}
	return s.First
}

// Next returns when the order should next be checked, given that attempts checks have been made
// and it is now now; ok is false when no further check is needed. rnd returns a number in [0, 1).
func (s Schedule) Next(o *Order, attempts int, now time.Time, rnd func() float64) (next time.Time, ok bool) {
	switch {
	case o.Status.Final():
		return time.Time{}, false
	case o.Status == StatusPaid:
		return s.refundCheck(o, now)
	}
	jitter := func(d time.Duration) time.Duration {
		if s.Jitter <= 0 || rnd == nil {
			return d
		}
		return d - time.Duration(float64(d)*s.Jitter*rnd())
	}
	if now.Before(o.ExpireAt) {
		switch {
		case attempts == 0:
			next = o.CreatedAt.Add(jitter(s.First))
		case attempts-1 < len(s.Backoff):
			next = now.Add(jitter(s.Backoff[attempts-1]))
		default:
			next = now.Add(jitter(s.Steady))
		}
		if o.Status == StatusCreated {
			if earliest := o.CreatedAt.Add(s.InFlight); next.Before(earliest) {
				next = earliest
			}
			if giveUp := o.CreatedAt.Add(s.GiveUp); s.GiveUp > 0 && now.Before(giveUp) && next.After(giveUp) {
				next = giveUp
			}
		}
		if next.Before(now) {
			next = now
		}
		if next.After(o.ExpireAt) {
			next = o.ExpireAt
		}
		return next, true
	}
	// At or after expiry: the grace checks, each at a fixed offset from expireTime.
	for _, g := range s.Grace {
		if at := o.ExpireAt.Add(g); at.After(now) {
			return at, true
		}
	}
	return time.Time{}, false
}

// refundCheck is a PAID order's next check: the first of paidAt + RefundChecks (those within the
// window) and paidAt + RefundWindow that is still ahead.
func (s Schedule) refundCheck(o *Order, now time.Time) (time.Time, bool) {
	paid := o.UpdatedAt
	if o.PaidAt != nil {
		paid = *o.PaidAt
	}
	for _, d := range append(s.RefundChecks, s.RefundWindow) {
		if d > s.RefundWindow {
			continue
		}
		if at := paid.Add(d); at.After(now) {
			return at, true
		}
	}
	return time.Time{}, false
}
