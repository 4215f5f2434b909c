package mos

import "strings"

// State is what a MOS order status means for mospay. MOS does not document its status values
// (docs/mos.md "Order statuses"), so every spelling mospay accepts is in the one table below,
// and anything else is StateUnknown: it changes nothing and is flagged for finance review.
type State string

// The meanings a MOS status can have.
const (
	// StatePending: MOS still awaits the payment.
	StatePending State = "pending"
	// StatePaid: MOS took the payment.
	StatePaid State = "paid"
	// StateFailed: the payment failed.
	StateFailed State = "failed"
	// StateClosed: the order was closed or expired without payment.
	StateClosed State = "closed"
	// StateRefunded: the payment was refunded.
	StateRefunded State = "refunded"
	// StateUnknown: a status mospay has no meaning for; the raw value must be kept and reviewed.
	StateUnknown State = "unknown"
)

// statusTable maps upper-case MOS statuses to their meaning (docs/mos.md). The sandbox speaks
// PENDING, SUCCESS, FAILED, CLOSED and REFUNDED.
var statusTable = map[string]State{
	"PENDING":    StatePending,
	"NOTPAY":     StatePending,
	"WAIT_PAY":   StatePending,
	"USERPAYING": StatePending,
	"PROCESSING": StatePending,
	"SUCCESS":    StatePaid,
	"PAID":       StatePaid,
	"FAILED":     StateFailed,
	"PAYERROR":   StateFailed,
	"FAIL":       StateFailed,
	"CLOSED":     StateClosed,
	"EXPIRED":    StateClosed,
	"CANCELLED":  StateClosed,
	"REVOKED":    StateClosed,
	"REFUND":     StateRefunded,
	"REFUNDED":   StateRefunded,
}

// MapStatus gives the meaning of a raw MOS status, ignoring case and surrounding spaces; a value
// not in the table is StateUnknown.
func MapStatus(raw string) State {
	key, ok := asciiUpper(strings.TrimSpace(raw))
	if !ok {
		return StateUnknown
	}
	if s, ok := statusTable[key]; ok {
		return s
	}
	return StateUnknown
}

// asciiUpper upper-cases ASCII letters only. strings.ToUpper would also fold look-alikes such as
// U+017F (long s) to 'S' and U+0131 (dotless i) to 'I', turning "ſuccess" into a payment.
func asciiUpper(s string) (string, bool) {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 0x80:
			return "", false
		case 'a' <= c && c <= 'z':
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b), true
}
