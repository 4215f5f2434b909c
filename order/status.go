package order

import "strings"

// Status is where an order stands in its life. It is stored as text (the schema's CHECK lists
// these values), shown in the API as is, and changed only by Apply.
type Status string

const (
	// StatusCreated is an order stored before MOS confirmed its prepay. Orders enter it when
	// they are created and leave it when MOS answers: to PENDING with a prepayId (or when MOS
	// reports it awaiting payment), to FAILED when MOS rejects the prepay or never heard of the
	// order, to PAID, FAILED or CLOSED when MOS reports so, and to CLOSED when it expires unpaid.
	StatusCreated Status = "CREATED"

	// StatusPending is an order that has a prepayId and awaits the user's payment. It leaves to
	// PAID, FAILED or CLOSED when MOS reports so (by notification or query), and to CLOSED when
	// it expires unpaid, unless a flag that holds expiry is raised.
	StatusPending Status = "PENDING"

	// StatusPaid is an order MOS confirmed as paid. The only way out is REFUNDED when MOS reports
	// a refund, which it may do only through orderQuery: a PAID order is still checked, sparsely,
	// through the refund window. A later MOS answer that contradicts it raises mos_disagrees for
	// finance and changes nothing else.
	StatusPaid Status = "PAID"

	// StatusFailed is an order whose prepay was rejected or whose payment MOS reports failed. It
	// is not final: it is still checked during the grace period, and a payment MOS reports
	// later moves it to PAID with the flag late_payment. MOS reporting it closed moves it to
	// CLOSED.
	StatusFailed Status = "FAILED"

	// StatusClosed is an order closed unpaid: expired on our clock or closed at MOS. It is not
	// final: it is still checked during the grace period, and a payment MOS reports later moves
	// it to PAID with the flag late_payment. MOS reporting it failed moves it to FAILED.
	StatusClosed Status = "CLOSED"

	// StatusRefunded is an order MOS reports refunded: a PAID one, or one mospay never saw paid
	// (then with the flag refund_not_paid). It is final: contradicting MOS answers raise
	// mos_disagrees and change nothing else.
	StatusRefunded Status = "REFUNDED"
)

// Statuses lists every status in lifecycle order, for validation, reports and tests.
var Statuses = []Status{
	StatusCreated,
	StatusPending,
	StatusPaid,
	StatusFailed,
	StatusClosed,
	StatusRefunded,
}

// ParseStatus accepts exactly the upper-case name of a status, as stored and as the API shows
// it; anything else is EINVALID.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", Errorf(EINVALID, "unknown order status %q (one of %s)", s, joinStatuses())
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	_, err := ParseStatus(string(s))
	return err == nil
}

// Final reports whether nothing MOS may still report can change the order (REFUNDED), so the
// reconciler stops asking. PAID is not final (a refund may come), nor are FAILED and CLOSED (a
// late payment must be recorded, never lost); the reconciler's timetable (Schedule) says how
// long each is still asked about.
func (s Status) Final() bool {
	return s == StatusRefunded
}

func joinStatuses() string {
	names := make([]string, len(Statuses))
	for i, st := range Statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
