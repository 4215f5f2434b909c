package order

import (
	"fmt"
	"slices"

	"github.com/mospay/mospay/money"
)

// Snapshot is what the machine needs to know of an order to decide what an observation does to it.
type Snapshot struct {
	Status   Status
	Amount   money.Amount
	PrepayID string
	// Flags are the order's active (unresolved) flags.
	Flags []Flag
	// Resolved are the flags finance resolved, each for an answer of MOS.
	Resolved []ResolvedFlag
	// Settled is the amount MOS settled, when finance accepted one other than the order's: MOS's
	// answers are compared with it instead of the order's amount.
	Settled *money.Amount
}

// Change is what applying an observation does to an order. Nothing else in mospay assigns a status:
// the store writes a Change and its transition row in one transaction, guarded by the order's
// version.
type Change struct {
	// From is the status the order had; To is the status it gets (To == From when the status
	// does not change).
	From, To Status
	// Reason is human words for the transition row.
	Reason string
	// PrepayID is set when the change records a prepayId the order did not have ("" = keep).
	PrepayID string
	// Raise lists the flags to raise; none of them is already active.
	Raise []FlagRaise
	// Resolve is finance resolving an active flag (Service.ResolveFlag; never Apply).
	Resolve *FlagResolve
	// Settle records the amount MOS settled beside the order's own (finance accepting MOS's
	// answer of another amount; never Apply).
	Settle *money.Amount
}

// Moves reports whether the change moves the order to another status.
func (c Change) Moves() bool { return c.From != c.To }

// Empty reports whether the change does nothing: no status change, no prepayId to record and no
// flag to raise. The store writes nothing for an empty change.
func (c Change) Empty() bool {
	return !c.Moves() && c.PrepayID == "" && len(c.Raise) == 0 && c.Resolve == nil
}

// rule is what one kind of observation does to an order in one status.
type rule struct {
	to       Status // the status to move to; "" keeps the status
	flag     Flag   // a flag to raise, if not active
	conflict bool   // the event contradicts the order: ECONFLICT, nothing changes
	holdable bool   // the move does not happen while a flag that HoldsExpiry is active
}

var (
	stay     = rule{}
	conflict = rule{conflict: true}
	expire   = rule{to: StatusClosed, holdable: true}
	late     = rule{to: StatusPaid, flag: FlagLatePayment}
	// refundUnseen: MOS reports a refund for an order mospay never saw paid. The money moved and
	// came back; MOS's truth is REFUNDED, and finance is told it was never seen as paid.
	refundUnseen = rule{to: StatusRefunded, flag: FlagRefundUnpaid}
)

func to(s Status) rule  { return rule{to: s} }
func raise(f Flag) rule { return rule{flag: f} }

// transitions is the whole state machine: for every status, what every kind of observation does. It
// must hold every (Status, ObservationKind) pair; a test checks it. Before it is consulted, an amount
// that differs from the order's turns any observation into the flag amount_mismatch (see Apply).
var transitions = map[Status]map[ObservationKind]rule{
	StatusCreated: {
		ObservedPrepaid:  to(StatusPending), // a stored prepayId that differs: ECONFLICT
		ObservedRejected: to(StatusFailed),
		ObservedPending:  to(StatusPending),
		ObservedPaid:     to(StatusPaid),
		ObservedFailed:   to(StatusFailed),
		ObservedClosed:   to(StatusClosed),
		ObservedRefunded: refundUnseen,
		ObservedUnknown:  raise(FlagUnknownStatus),
		ObservedExpired:  expire,
	},
	StatusPending: {
		ObservedPrepaid:  stay, // a stored prepayId that differs: ECONFLICT
		ObservedRejected: conflict,
		ObservedPending:  stay,
		ObservedPaid:     to(StatusPaid),
		ObservedFailed:   to(StatusFailed),
		ObservedClosed:   to(StatusClosed),
		ObservedRefunded: refundUnseen,
		ObservedUnknown:  raise(FlagUnknownStatus),
		ObservedExpired:  expire,
	},
	StatusPaid: {
		ObservedPrepaid:  stay,
		ObservedRejected: conflict,
		ObservedPending:  raise(FlagMOSDisagrees),
		ObservedPaid:     stay,
		ObservedFailed:   raise(FlagMOSDisagrees),
		ObservedClosed:   raise(FlagMOSDisagrees),
		ObservedRefunded: to(StatusRefunded),
		ObservedUnknown:  raise(FlagUnknownStatus),
		ObservedExpired:  stay,
	},
	StatusFailed: {
		ObservedPrepaid:  stay,
		ObservedRejected: stay,
		ObservedPending:  stay,
		ObservedPaid:     late,
		ObservedFailed:   stay,
		ObservedClosed:   to(StatusClosed),
		ObservedRefunded: refundUnseen,
		ObservedUnknown:  raise(FlagUnknownStatus),
		ObservedExpired:  stay,
	},
	StatusClosed: {
		ObservedPrepaid:  stay,
		ObservedRejected: stay,
		ObservedPending:  stay,
		ObservedPaid:     late,
		ObservedFailed:   to(StatusFailed),
		ObservedClosed:   stay,
		ObservedRefunded: refundUnseen,
		ObservedUnknown:  raise(FlagUnknownStatus),
		ObservedExpired:  stay,
	},
	StatusRefunded: {
		ObservedPrepaid:  stay,
		ObservedRejected: conflict,
		ObservedPending:  raise(FlagMOSDisagrees),
		ObservedPaid:     raise(FlagMOSDisagrees),
		ObservedFailed:   raise(FlagMOSDisagrees),
		ObservedClosed:   raise(FlagMOSDisagrees),
		ObservedRefunded: stay,
		ObservedUnknown:  raise(FlagUnknownStatus),
		ObservedExpired:  stay,
	},
}

// moveReasons are the default reasons of a status change, by the observation that caused it.
var moveReasons = map[ObservationKind]string{
	ObservedPrepaid:  "prepay accepted",
	ObservedRejected: "rejected by MOS",
	ObservedPending:  "awaiting payment at MOS",
	ObservedPaid:     "paid at MOS",
	ObservedFailed:   "payment failed at MOS",
	ObservedClosed:   "closed at MOS",
	ObservedRefunded: "refunded at MOS",
	ObservedExpired:  "expired unpaid",
}

// Apply decides what observation e does to an order in state s. It is the one place that decides
// status changes; it is pure and changes nothing itself.
//
// Errors: EINVALID for an unknown status, kind or source, for ObservedPrepaid without a prepayId,
// or for an observation carrying an amount when s has none to compare with; ECONFLICT for an observation
// that contradicts the order (a rejection of an order MOS already took, a second different
// prepayId).
//
// The amount is checked first: if e reports an amount or currency other than the order's, the
// observation raises amount_mismatch and does nothing else, whatever its kind; it never marks paid.
// A prepayId MOS reports for a CREATED or PENDING order that has none is recorded.
func Apply(s Snapshot, e Observation) (Change, error) {
	if err := validate(s, e); err != nil {
		return Change{}, err
	}
	c := Change{From: s.Status, To: s.Status}

	if e.Amount != nil && !e.Amount.Matches(s.Held()) {
		note := fmt.Sprintf("MOS reports %s; the order is %s %s", e.Amount, s.Amount, s.Amount.Currency)
		if s.Settled != nil {
			note += fmt.Sprintf(" (MOS settled %s %s)", s.Settled, s.Settled.Currency)
		}
		c.Raise = s.raise(FlagAmountMismatch, note, AnswerKey(e.MOSStatus, e.Amount))
		c.Reason = reasonOr(e, "amount reported by MOS does not match the order")
		return c, nil
	}

	r, ok := transitions[s.Status][e.Kind]
	if !ok {
		return Change{}, Errorf(EINTERNAL, "no transition rule for %s on %s", e.Kind, s.Status)
	}
	if r.conflict {
		return Change{}, Errorf(ECONFLICT, "order is %s: event %s contradicts it", s.Status, e.Kind)
	}
	open := s.Status == StatusCreated || s.Status == StatusPending
	if open && e.Kind == ObservedPrepaid && s.PrepayID != "" && e.PrepayID != s.PrepayID {
		return Change{}, Wrap(ECONFLICT,
			fmt.Errorf("stored prepayId %q, new prepayId %q", s.PrepayID, e.PrepayID),
			"order already has a different prepayId")
	}
	if open && s.PrepayID == "" {
		c.PrepayID = e.PrepayID
	}

	var held Flag
	if r.holdable {
		held = s.holding()
	}
	if r.to != "" && held == "" {
		c.To = r.to
	}
	if r.flag != "" {
		c.Raise = s.raise(r.flag, flagNote(r.flag, s, e), AnswerKey(e.MOSStatus, e.Amount))
	}

	switch {
	case e.Reason != "":
		c.Reason = e.Reason
	case held != "":
		c.Reason = fmt.Sprintf("expiry held by flag %s", held)
	case c.Moves() && r.flag == FlagLatePayment:
		c.Reason = fmt.Sprintf("payment after %s recorded as late", s.Status)
	case c.Moves() && r.flag == FlagRefundUnpaid:
		c.Reason = fmt.Sprintf("refunded at MOS, never seen paid here (was %s)", s.Status)
	case c.Moves():
		c.Reason = moveReasons[e.Kind]
	case len(c.Raise) > 0:
		c.Reason = fmt.Sprintf("flagged %s", r.flag)
	case r.flag != "":
		c.Reason = fmt.Sprintf("already flagged %s", r.flag)
	case c.PrepayID != "":
		c.Reason = "prepayId reported by MOS recorded"
	default:
		c.Reason = fmt.Sprintf("%s changes nothing for a %s order", e.Kind, s.Status)
	}
	return c, nil
}

// validate refuses a snapshot or observation that Apply cannot judge.
func validate(s Snapshot, e Observation) error {
	if !s.Status.Valid() {
		return Errorf(EINVALID, "unknown order status %q", s.Status)
	}
	if !e.Kind.Valid() {
		return Errorf(EINVALID, "unknown event kind %q", e.Kind)
	}
	if !e.Source.Valid() {
		return Errorf(EINVALID, "unknown event source %q", e.Source)
	}
	if e.Kind == ObservedPrepaid && e.PrepayID == "" {
		return Errorf(EINVALID, "event %s without a prepayId", e.Kind)
	}
	if e.Amount != nil && !s.Amount.Currency.Valid() {
		return Errorf(EINVALID, "event reports an amount but the order has none to compare")
	}
	return nil
}

// raise returns f to raise with note for MOS's answer, or nothing when f is already active, or
// finance resolved it for this same answer.
func (s Snapshot) raise(f Flag, note, answer string) []FlagRaise {
	if slices.Contains(s.Flags, f) {
		return nil
	}
	if answer != "" && slices.Contains(s.Resolved, ResolvedFlag{Flag: f, Answer: answer}) {
		return nil
	}
	return []FlagRaise{{Flag: f, Note: note, Answer: answer}}
}

// holding returns the first active flag that holds expiry, or "".
func (s Snapshot) holding() Flag {
	for _, f := range s.Flags {
		if f.HoldsExpiry() {
			return f
		}
	}
	return ""
}

// flagNote says, for finance, what made the machine raise f.
func flagNote(f Flag, s Snapshot, e Observation) string {
	switch f {
	case FlagLatePayment:
		return fmt.Sprintf("MOS reports payment (status %s) after the order was %s", quote(e.MOSStatus), s.Status)
	case FlagUnknownStatus:
		return fmt.Sprintf("MOS reported status %s, which mospay cannot map", quote(e.MOSStatus))
	case FlagRefundUnpaid:
		return fmt.Sprintf("MOS reports a refund (status %s) but the order was never seen paid here (it was %s)", quote(e.MOSStatus), s.Status)
	default: // FlagMOSDisagrees
		return fmt.Sprintf("MOS reports the order %s (status %s) but it is %s here", kindWords[e.Kind], quote(e.MOSStatus), s.Status)
	}
}

// kindWords say what MOS's answer means, for finance's notes (not the observation's name).
var kindWords = map[ObservationKind]string{
	ObservedPending:  "awaiting payment",
	ObservedPaid:     "paid",
	ObservedFailed:   "failed",
	ObservedClosed:   "closed unpaid",
	ObservedRefunded: "refunded",
}

// reasonOr returns the observation's own reason, or def.
func reasonOr(e Observation, def string) string {
	if e.Reason != "" {
		return e.Reason
	}
	return def
}

// maxQuoted bounds what an outside party's text adds to a note.
const maxQuoted = 64

// quote returns s quoted, cut to maxQuoted runes, so that whatever MOS sends stays one short,
// printable line in a note.
func quote(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		return fmt.Sprintf("%q…", string(r[:maxQuoted]))
	}
	return fmt.Sprintf("%q", s)
}
