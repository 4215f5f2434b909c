package order

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mospay/mospay/money"
)

// Outcome is what finance decides when it resolves a flag: what becomes of the order. Which
// outcomes a flag allows depends on the flag, the order and MOS's last answer (Outcomes); every
// outcome is a transition row, an audited action and an order event.
type Outcome string

const (
	// OutcomeWatch keeps watching: the flag is resolved, the order stays as it is and the
	// reconciler goes on asking MOS. The default.
	OutcomeWatch Outcome = "watch"
	// OutcomeAcceptMOS accepts MOS's answer: the order takes the status MOS last reported, and
	// when MOS reported another amount, that amount is recorded beside the order's own as what
	// MOS settled (the money figures use it).
	OutcomeAcceptMOS Outcome = "accept_mos"
	// OutcomeClose closes the order as not paid (CLOSED by finance). Refused while MOS's last
	// answer says the order is paid or refunded.
	OutcomeClose Outcome = "close"
)

// AllOutcomes lists every outcome, the default first.
var AllOutcomes = []Outcome{OutcomeWatch, OutcomeAcceptMOS, OutcomeClose}

// ParseOutcome accepts an outcome's name, or "" for the default (OutcomeWatch).
func ParseOutcome(s string) (Outcome, error) {
	if s == "" {
		return OutcomeWatch, nil
	}
	for _, o := range AllOutcomes {
		if string(o) == s {
			return o, nil
		}
	}
	return "", Errorf(EINVALID, "outcome: watch, accept_mos or close, not %q", s)
}

// flagOutcomes are the outcomes each flag can have, before MOS's answer and the order's status
// narrow them. A late payment and a refund of an unseen payment already moved the order to MOS's
// answer, so there is nothing to accept or close: finance only acknowledges them.
var flagOutcomes = map[Flag][]Outcome{
	FlagAmountMismatch: {OutcomeWatch, OutcomeAcceptMOS, OutcomeClose},
	FlagUnknownStatus:  {OutcomeWatch, OutcomeClose},
	FlagMOSDisagrees:   {OutcomeWatch, OutcomeAcceptMOS, OutcomeClose},
	FlagLatePayment:    {OutcomeWatch},
	FlagRefundUnpaid:   {OutcomeWatch},
}

// kindStatus is the status an answer of MOS stands for, when it stands for one.
var kindStatus = map[ObservationKind]Status{
	ObservedPending:  StatusPending,
	ObservedPaid:     StatusPaid,
	ObservedFailed:   StatusFailed,
	ObservedClosed:   StatusClosed,
	ObservedRefunded: StatusRefunded,
}

// mosSaysMoneyMoved reports whether MOS's answer says the payment was taken (paid or refunded).
func mosSaysMoneyMoved(mos *Remote) bool {
	return mos != nil && (mos.Kind == ObservedPaid || mos.Kind == ObservedRefunded)
}

// outcomeRefusal says why outcome o cannot resolve flag f of an order in state s with MOS's last
// answer mos (nil when MOS never answered), or "" when it can.
func outcomeRefusal(s Snapshot, f Flag, o Outcome, mos *Remote) string {
	if !slices.Contains(flagOutcomes[f], o) {
		return fmt.Sprintf("%s cannot be resolved with %s", f, o)
	}
	switch o {
	case OutcomeAcceptMOS:
		if mos == nil {
			return "MOS has not answered about the order: there is no answer to accept"
		}
		to, ok := kindStatus[mos.Kind]
		if !ok {
			return fmt.Sprintf("MOS's answer (status %s) means nothing mospay can take", quote(mos.RawStatus))
		}
		if mos.Amount != nil && !mos.Amount.Readable {
			return "MOS's amount cannot be read: " + mos.Amount.String()
		}
		if to == s.Status && (mos.Amount == nil || mos.Amount.Matches(s.Held())) {
			return "the order already is what MOS says"
		}
	case OutcomeClose:
		if mosSaysMoneyMoved(mos) {
			return fmt.Sprintf("MOS's last answer (status %s) says the order is paid or refunded", quote(mos.RawStatus))
		}
		if s.Status == StatusClosed || s.Status == StatusRefunded {
			return fmt.Sprintf("the order is %s", s.Status)
		}
	}
	return ""
}

// Outcomes lists the outcomes finance may choose for flag f of an order in state s, given MOS's
// last answer (nil when MOS never answered), the default (OutcomeWatch) first.
func Outcomes(s Snapshot, f Flag, mos *Remote) []Outcome {
	var out []Outcome
	for _, o := range AllOutcomes {
		if outcomeRefusal(s, f, o, mos) == "" {
			out = append(out, o)
		}
	}
	return out
}

// Resolve decides what finance resolving r.Flag with r.Outcome does to an order in state s, MOS's
// last answer being mos (nil when none). It is pure, like Apply.
//
// Errors: EINVALID for an unknown outcome; ECONFLICT when the flag is not active or the outcome
// is not one Outcomes allows (closing an order MOS reports paid, accepting an answer MOS never
// gave).
func Resolve(s Snapshot, r FlagResolve, mos *Remote) (Change, error) {
	if r.Outcome == "" {
		r.Outcome = OutcomeWatch
	}
	if _, err := ParseOutcome(string(r.Outcome)); err != nil {
		return Change{}, err
	}
	if !slices.Contains(s.Flags, r.Flag) {
		return Change{}, Errorf(ECONFLICT, "flag %s is not active on the order", r.Flag)
	}
	if why := outcomeRefusal(s, r.Flag, r.Outcome, mos); why != "" {
		return Change{}, Errorf(ECONFLICT, "%s: %s", r.Outcome, why)
	}
	c := Change{From: s.Status, To: s.Status, Resolve: &r}
	switch r.Outcome {
	case OutcomeAcceptMOS:
		c.To = kindStatus[mos.Kind]
		if a := mos.Amount; a != nil && !a.Matches(s.Amount) {
			settled := a.Amount
			c.Settle = &settled
		}
		c.Reason = fmt.Sprintf("MOS's answer accepted by %s (%s): %s", r.By, describeAnswer(mos), r.Note)
	case OutcomeClose:
		c.To = StatusClosed
		c.Reason = fmt.Sprintf("closed as not paid by %s: %s", r.By, r.Note)
	default:
		c.Reason = fmt.Sprintf("flag %s resolved by %s, keep watching: %s", r.Flag, r.By, r.Note)
	}
	return c, nil
}

// CloseStuck decides finance closing a stuck order as not paid, with note, by admin: an order
// still CREATED or PENDING at now, past its expiry (expireAt), that MOS does not report paid or
// refunded (or does not answer about at all). It is pure.
//
// Errors: ECONFLICT for an order that is not stuck (another status, not yet expired, MOS
// reporting it paid) or that has active flags (resolve them, with an outcome, instead).
func CloseStuck(s Snapshot, expireAt, now time.Time, mos *Remote, note, admin string) (Change, error) {
	switch {
	case s.Status != StatusCreated && s.Status != StatusPending:
		return Change{}, Errorf(ECONFLICT, "only a CREATED or PENDING order can be closed; this one is %s", s.Status)
	case now.Before(expireAt):
		return Change{}, Errorf(ECONFLICT, "the order has not expired yet (it can be paid until %s)", expireAt.UTC().Format(time.RFC3339))
	case mosSaysMoneyMoved(mos):
		return Change{}, Errorf(ECONFLICT, "MOS's last answer (status %s) says the order is paid or refunded", quote(mos.RawStatus))
	case len(s.Flags) > 0:
		return Change{}, Errorf(ECONFLICT, "the order has active flags (%s): resolve them with an outcome", joinFlags(s.Flags))
	}
	return Change{From: s.Status, To: StatusClosed, Reason: fmt.Sprintf("stuck order closed as not paid by %s: %s", admin, note)}, nil
}

// describeAnswer writes MOS's answer for a reason: "SUCCESS 1.69 USD".
func describeAnswer(mos *Remote) string {
	s := mos.RawStatus
	if mos.Amount != nil {
		s += " " + mos.Amount.String()
	}
	return s
}

func joinFlags(fs []Flag) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// Held is the amount mospay holds for the order: what MOS settled, when finance accepted an
// amount of MOS's other than the order's, else the order's own.
func (s Snapshot) Held() money.Amount {
	if s.Settled != nil {
		return *s.Settled
	}
	return s.Amount
}
