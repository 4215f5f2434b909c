package order

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Flag marks an order for finance review. Flags are raised by Apply alongside (or instead of) a
// status change, stored with a note and the time raised, and resolved by people; an active flag
// is never raised twice.
type Flag string

const (
	// FlagAmountMismatch is raised when MOS reports an amount or currency other than the
	// order's. The order is not marked paid, and its expiry is held until finance looks.
	FlagAmountMismatch Flag = "amount_mismatch"

	// FlagLatePayment is raised when MOS reports a payment for a FAILED or CLOSED order; the
	// order moves to PAID so that the money is never lost.
	FlagLatePayment Flag = "late_payment"

	// FlagMOSDisagrees is raised when MOS reports an unpaid or paid status for an order that is
	// PAID or REFUNDED here; nothing else changes.
	FlagMOSDisagrees Flag = "mos_disagrees"

	// FlagUnknownStatus is raised when MOS answers a status that mospay cannot map; the note
	// holds the raw value and nothing else changes.
	FlagUnknownStatus Flag = "unknown_mos_status"

	// FlagRefundUnpaid is raised when MOS reports a refund for an order mospay never saw paid
	// (CREATED, PENDING, FAILED or CLOSED here): the order moves to REFUNDED, MOS's truth, and
	// finance is told that the payment itself was never seen.
	FlagRefundUnpaid Flag = "refund_not_paid"
)

// Flags lists every flag, for validation, filters and tests.
var Flags = []Flag{
	FlagAmountMismatch,
	FlagLatePayment,
	FlagMOSDisagrees,
	FlagUnknownStatus,
	FlagRefundUnpaid,
}

// ParseFlag accepts exactly the lower-case name of a flag; anything else is EINVALID.
func ParseFlag(s string) (Flag, error) {
	for _, f := range Flags {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Flags))
	for i, f := range Flags {
		names[i] = string(f)
	}
	return "", Errorf(EINVALID, "unknown flag %q (one of %s)", s, strings.Join(names, ", "))
}

// Valid reports whether f is one of Flags.
func (f Flag) Valid() bool {
	_, err := ParseFlag(string(f))
	return err == nil
}

// HoldsExpiry reports whether the flag, while active, stops our own clock from closing an
// unpaid order: each of these says money may have moved at MOS in a way we do not understand
// (a different amount, an unknown status), so finance decides. late_payment, mos_disagrees and
// refund_not_paid concern orders whose money MOS has already settled and hold nothing.
func (f Flag) HoldsExpiry() bool {
	switch f {
	case FlagAmountMismatch, FlagUnknownStatus:
		return true
	default:
		return false
	}
}

// FlagRaise is a flag to raise on an order, with a note for finance saying what was seen, and
// the answer of MOS that raised it (AnswerKey; "" when no answer of MOS did).
type FlagRaise struct {
	Flag   Flag
	Note   string
	Answer string
}

// FlagResolve is finance resolving an active flag: the note saying why (1 to MaxNote
// characters), the admin token's name, the answer of MOS it is resolved for, and the outcome.
type FlagResolve struct {
	Flag    Flag
	Note    string
	By      string
	Answer  string
	Outcome Outcome // what becomes of the order ("" is OutcomeWatch)
}

// ResolvedFlag is a flag finance resolved for an answer of MOS: while MOS keeps giving that
// answer, the flag is not raised again; a different answer raises it anew.
type ResolvedFlag struct {
	Flag   Flag
	Answer string
}

// AnswerKey names one answer of MOS about an order by what a flag judges: its status, amount
// and currency (the amount in canonical form when it can be read, else as sent). It is "" when
// there is no answer (our own clock's events).
func AnswerKey(status string, a *ReportedAmount) string {
	if status == "" && a == nil {
		return ""
	}
	amount, currency := "", ""
	if a != nil {
		amount, currency = a.Raw, a.Currency
		if a.Readable {
			amount, currency = a.Amount.String(), string(a.Amount.Currency)
		}
	}
	key := status + "|" + amount + "|" + currency
	if len(key) > 128 { // MOS's raw status is unbounded: a long answer is named by its hash
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}
