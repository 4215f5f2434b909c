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
//     of it means its prepay never arrived (it is then FAILED), whether that comes before or
//     after its expiry;
//   - one check exactly at expireTime (where an unpaid order is closed);
//   - then grace checks at expireTime + Grace[i] for late payments;
//   - a PAID order, whose refund MOS may report only through orderQuery, is checked at
//     paidAt + each of RefundChecks within RefundWindow, and at paidAt + RefundWindow;
//   - then none: nothing more is expected from MOS (finance's report still shows the order).
//
// The fixed points (give-up, expiry, grace, refund checks) are each kept whatever their order:
// the next check is the earliest of them still ahead, or the backoff's slot if that comes first.
//
// A check that got no answer (MOS unreachable, a timeout, HTTP 5xx, a lost answer) is not a step
// of the timetable: it is made again after Retry, seconds later, until MOS answers, wherever the
// order is in its timetable; the answer then puts the order back on it.
//
// Jitter shortens each backoff delay by up to that fraction, at random, so orders created
// together do not all call MOS in the same second; it never lengthens one, so "at most First"
// holds. The fixed points are not jittered.
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
	// RetryFirst is the delay before a check that got no answer is made again the first time;
	// it doubles with each further check in a row without one, up to RetryMax, which bounds
	// every retry delay, jitter included.
	RetryFirst time.Duration
	RetryMax   time.Duration
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
		RetryFirst:   time.Second,
		RetryMax:     5 * time.Second,
	}
}

// AfterFailure is how long after a check that MOS refused (an answer that says nothing about
// the order) the timetable's last check is made again: the first backoff step (or First).
func (s Schedule) AfterFailure() time.Duration {
	if len(s.Backoff) > 0 && s.Backoff[0] > 0 {
		return s.Backoff[0]
	}
	return s.First
}

// Retry is how long after a check that got no answer it is made again, failures being the checks
// in a row that got none (1 for the first): RetryFirst, doubled for each further failure, capped
// at RetryMax, then shortened by up to half at random (rnd returns a number in [0, 1)), so that
// the orders a MOS outage hit together do not come back together. It is never more than
// RetryMax.
func (s Schedule) Retry(failures int, rnd func() float64) time.Duration {
	d := s.RetryFirst
	for i := 1; i < failures && d < s.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.RetryMax)
	if rnd != nil {
		d -= time.Duration(float64(d) / 2 * rnd())
	}
	return d
}

// Next returns when the order should next be checked, given that attempts checks have been
// answered and it is now now; ok is false when no further check is needed. rnd returns a number
// in [0, 1).
func (s Schedule) Next(o *Order, attempts int, now time.Time, rnd func() float64) (next time.Time, ok bool) {
	switch {
	case o.Status.Final():
		return time.Time{}, false
	case o.Status == StatusPaid:
		return s.refundCheck(o, now)
	}
	// The fixed points still ahead, whatever their order: the give-up moment of a CREATED order,
	// expireTime, and the grace checks after it.
	at := func(t time.Time) {
		if t.After(now) && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	if o.Status == StatusCreated && s.GiveUp > 0 {
		at(o.CreatedAt.Add(s.GiveUp))
	}
	at(o.ExpireAt)
	for _, g := range s.Grace {
		at(o.ExpireAt.Add(g))
	}
	if !now.Before(o.ExpireAt) {
		return next, ok
	}
	// Before expiry, the backoff's slot, if it comes first.
	jitter := func(d time.Duration) time.Duration {
		if s.Jitter <= 0 || rnd == nil {
			return d
		}
		return d - time.Duration(float64(d)*s.Jitter*rnd())
	}
	var slot time.Time
	switch {
	case attempts == 0:
		slot = o.CreatedAt.Add(jitter(s.First))
	case attempts-1 < len(s.Backoff):
		slot = now.Add(jitter(s.Backoff[attempts-1]))
	default:
		slot = now.Add(jitter(s.Steady))
	}
	if o.Status == StatusCreated {
		if earliest := o.CreatedAt.Add(s.InFlight); slot.Before(earliest) {
			slot = earliest
		}
	}
	if slot.Before(now) {
		slot = now
	}
	if !ok || slot.Before(next) {
		next, ok = slot, true
	}
	return next, ok
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
