package order

import (
	"fmt"

	"github.com/mospay/mospay/money"
)

// Source is who observed an event; it is recorded on the transition row so that an order's
// story says where each change came from.
type Source string

const (
	// SourceAPI is a request to mospay's own API (order creation, the prepay call, a user's query).
	SourceAPI Source = "api"
	// SourceNotify is a notification MOS sent to the notify URL (confirmed by a query).
	SourceNotify Source = "notify"
	// SourceReconciler is the background reconciler: its queries and its expiry clock.
	SourceReconciler Source = "reconciler"
	// SourceAdmin is a finance or admin user asking for a reconciliation.
	SourceAdmin Source = "admin"
)

// Sources lists every source.
var Sources = []Source{SourceAPI, SourceNotify, SourceReconciler, SourceAdmin}

// Valid reports whether s is one of Sources.
func (s Source) Valid() bool {
	for _, v := range Sources {
		if v == s {
			return true
		}
	}
	return false
}

// EventKind is what happened to an order, as Apply understands it. MOS's many status spellings
// are mapped to the mos_* kinds in package mos; Apply never sees a raw MOS status as a kind.
type EventKind string

const (
	// EventPrepaid is MOS accepting the prepay and giving a prepayId (Event.PrepayID required).
	EventPrepaid EventKind = "prepaid"
	// EventRejected is MOS refusing the prepay permanently, or MOS never having heard of a
	// CREATED order.
	EventRejected EventKind = "rejected"
	// EventPending is MOS saying the order awaits payment.
	EventPending EventKind = "mos_pending"
	// EventPaid is MOS saying the order is paid.
	EventPaid EventKind = "mos_paid"
	// EventFailed is MOS saying the payment failed.
	EventFailed EventKind = "mos_failed"
	// EventClosed is MOS saying the order is closed without payment.
	EventClosed EventKind = "mos_closed"
	// EventRefunded is MOS saying the order was refunded after payment.
	EventRefunded EventKind = "mos_refunded"
	// EventUnknown is MOS answering a status we cannot map (Event.MOSStatus holds it).
	EventUnknown EventKind = "mos_unknown"
	// EventExpired is our own clock: the order's expireTime (plus margin) has passed.
	EventExpired EventKind = "expired"
)

// EventKinds lists every event kind, in the order of the transition table.
var EventKinds = []EventKind{
	EventPrepaid,
	EventRejected,
	EventPending,
	EventPaid,
	EventFailed,
	EventClosed,
	EventRefunded,
	EventUnknown,
	EventExpired,
}

// Valid reports whether k is one of EventKinds.
func (k EventKind) Valid() bool {
	for _, v := range EventKinds {
		if v == k {
			return true
		}
	}
	return false
}

// Event is one observation about an order, handed to Apply. Source, MOSStatus and RequestID
// are not used to decide anything; they travel to the transition row.
type Event struct {
	Kind   EventKind
	Source Source
	// Reason is human words for the transition row; Apply supplies a default when empty.
	Reason string
	// MOSStatus is the raw status MOS reported, if any.
	MOSStatus string
	// PrepayID comes with EventPrepaid, or as MOS reports it in a query or notification.
	PrepayID string
	// Amount is what MOS reports for the order, if it reported one; Apply compares it to the
	// order's and refuses to trust a report that differs or cannot be read.
	Amount *ReportedAmount
	// RequestID ties the event to the request or job that observed it, for logs.
	RequestID string
}

// ReportedAmount is an amount MOS reported for an order. MOS sends text (a decimal string and a
// currency code); package mos reads it into Amount when it can. When it cannot (a currency
// mospay does not take, text that is not an amount) Readable is false and Raw and Currency keep
// what MOS sent: such a report is never trusted, and Apply holds the order for finance.
type ReportedAmount struct {
	Amount   money.Amount // valid when Readable
	Readable bool
	Raw      string // MOS's totalAmount, as sent
	Currency string // MOS's currency, as sent
}

// Reported is a readable report of a.
func Reported(a money.Amount) *ReportedAmount {
	return &ReportedAmount{Amount: a, Readable: true, Raw: a.String(), Currency: string(a.Currency)}
}

// Matches reports whether the report is readable and equals a.
func (r ReportedAmount) Matches(a money.Amount) bool { return r.Readable && r.Amount == a }

// String writes the report for a note: "17.00 USD", or the raw text quoted when unreadable.
func (r ReportedAmount) String() string {
	if r.Readable {
		return r.Amount.String() + " " + string(r.Amount.Currency)
	}
	return fmt.Sprintf("%s %s, which mospay cannot read", quote(r.Raw), quote(r.Currency))
}
