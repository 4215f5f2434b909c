package order

import (
	"fmt"

	"github.com/mospay/mospay/money"
)

// Source is who observed an observation; it is recorded on the transition row so that an order's
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

// ObservationKind is what happened to an order, as Apply understands it. MOS's many status spellings
// are mapped to the mos_* kinds in package mos; Apply never sees a raw MOS status as a kind.
type ObservationKind string

const (
	// ObservedPrepaid is MOS accepting the prepay and giving a prepayId (Observation.PrepayID required).
	ObservedPrepaid ObservationKind = "prepaid"
	// ObservedRejected is MOS refusing the prepay permanently, or MOS never having heard of a
	// CREATED order.
	ObservedRejected ObservationKind = "rejected"
	// ObservedPending is MOS saying the order awaits payment.
	ObservedPending ObservationKind = "mos_pending"
	// ObservedPaid is MOS saying the order is paid.
	ObservedPaid ObservationKind = "mos_paid"
	// ObservedFailed is MOS saying the payment failed.
	ObservedFailed ObservationKind = "mos_failed"
	// ObservedClosed is MOS saying the order is closed without payment.
	ObservedClosed ObservationKind = "mos_closed"
	// ObservedRefunded is MOS saying the order was refunded after payment.
	ObservedRefunded ObservationKind = "mos_refunded"
	// ObservedUnknown is MOS answering a status we cannot map (Observation.MOSStatus holds it).
	ObservedUnknown ObservationKind = "mos_unknown"
	// ObservedExpired is our own clock: the order's expireTime (plus margin) has passed.
	ObservedExpired ObservationKind = "expired"
)

// ObservationKinds lists every observation kind, in the order of the transition table.
var ObservationKinds = []ObservationKind{
	ObservedPrepaid,
	ObservedRejected,
	ObservedPending,
	ObservedPaid,
	ObservedFailed,
	ObservedClosed,
	ObservedRefunded,
	ObservedUnknown,
	ObservedExpired,
}

// Valid reports whether k is one of ObservationKinds.
func (k ObservationKind) Valid() bool {
	for _, v := range ObservationKinds {
		if v == k {
			return true
		}
	}
	return false
}

// Observation is one thing seen about an order, handed to Apply. Source, MOSStatus and RequestID
// are not used to decide anything; they travel to the transition row.
type Observation struct {
	Kind   ObservationKind
	Source Source
	// Reason is human words for the transition row; Apply supplies a default when empty.
	Reason string
	// MOSStatus is the raw status MOS reported, if any.
	MOSStatus string
	// PrepayID comes with ObservedPrepaid, or as MOS reports it in a query or notification.
	PrepayID string
	// Amount is what MOS reports for the order, if it reported one; Apply compares it to the
	// order's and refuses to trust a report that differs or cannot be read.
	Amount *ReportedAmount
	// RequestID ties the observation to the request or job that observed it, for logs.
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
