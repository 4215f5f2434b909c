package order

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mospay/mospay/money"
)

// Finance's desk: the period rules the list, the report and the CSV share, the review queue of
// flagged orders, and resolving a flag.

// Basis is which of an order's dates a period applies to.
type Basis string

const (
	// BasisCreated selects orders by creation time (the default).
	BasisCreated Basis = "created"
	// BasisPaid selects orders by when their money moved: paidAt, and refundedAt for REFUNDED
	// orders; orders whose money never moved are not in any period.
	BasisPaid Basis = "paid"
)

// ParseBasis accepts "created", "paid" or "" (created).
func ParseBasis(s string) (Basis, error) {
	switch Basis(s) {
	case "", BasisCreated:
		return BasisCreated, nil
	case BasisPaid:
		return BasisPaid, nil
	}
	return "", Errorf(EINVALID, "basis: created or paid, not %q", s)
}

// MOSAnswer is what MOS last said about an order, from the latest orderQuery that got an answer.
type MOSAnswer struct {
	Status      string
	TotalAmount string // as MOS sent it
	Currency    string
	At          time.Time
}

// Key is the answer's AnswerKey.
func (a MOSAnswer) Key() string {
	r := &ReportedAmount{Raw: a.TotalAmount, Currency: a.Currency}
	if cur, err := money.ParseCurrency(a.Currency); err == nil {
		if minor, err := money.ParseLenient(a.TotalAmount, cur); err == nil {
			r.Amount, r.Readable = money.Amount{Minor: minor, Currency: cur}, true
		}
	}
	if a.TotalAmount == "" && a.Currency == "" {
		r = nil
	}
	return AnswerKey(a.Status, r)
}

// Remote is the answer as the state machine reads it, kind being what its status means.
func (a MOSAnswer) Remote(kind ObservationKind) *Remote {
	r := &Remote{Kind: kind, RawStatus: a.Status}
	if a.TotalAmount != "" || a.Currency != "" {
		r.Amount = &ReportedAmount{Raw: a.TotalAmount, Currency: a.Currency}
		if cur, err := money.ParseCurrency(a.Currency); err == nil {
			if minor, err := money.ParseLenient(a.TotalAmount, cur); err == nil {
				r.Amount.Amount, r.Amount.Readable = money.Amount{Minor: minor, Currency: cur}, true
			}
		}
	}
	return r
}

// ReviewItem is an order with active flags, as the review queue shows it: the flags (oldest
// first) and MOS's last answer beside the order's own amount.
type ReviewItem struct {
	Order *Order
	Flags []FlagRecord // the active ones
	MOS   *MOSAnswer   // nil when MOS never answered about it
}

// ReviewFilter pages the review queue; Flag, if set, keeps the orders with that flag active.
type ReviewFilter struct {
	Flag   Flag
	Limit  int
	Cursor string
}

// ReviewPage is one page of the review queue, oldest flag first.
type ReviewPage struct {
	Items      []ReviewItem
	NextCursor string
}

// Review is finance's queue: every order with an active flag, oldest flag first, with MOS's last
// answer.
func (s *Service) Review(ctx context.Context, f ReviewFilter) (ReviewPage, error) {
	return s.store.Review(ctx, f)
}

// ReviewCount is how many orders have an active flag (the review queue's length).
func (s *Service) ReviewCount(ctx context.Context) (int64, error) {
	return s.store.ReviewCount(ctx)
}

// Report is finance's reconciliation view of the orders a filter selects (the list's filters and
// period rules: its totals count exactly the orders the list shows).
type Report struct {
	Filter ListFilter
	// Totals are the orders by currency and status; no zero rows.
	Totals []Total
	// Money is, per currency, the money that moved for the selected orders, at what MOS settled:
	// paid counts the orders mospay holds PAID or REFUNDED (a refund of a payment never seen here
	// counts as its payment too), refunded the REFUNDED ones; on the paid basis, each when its
	// money moved in the period. Net is what MOS settled for the selection.
	Money []MoneyTotal
	// AtRisk is, per currency, the selected orders with active flags, at the order's amount; the
	// orders themselves, with MOS's last answer, are in AtRiskOrders (at most MaxPageSize).
	AtRisk       []Total
	AtRiskOrders []ReviewItem
	// AsOf is when the report was made.
	AsOf time.Time
	// AtRiskMOS is AtRisk as MOS reports it: per currency of the order, MOS's amount where MOS
	// reported a readable one in that currency, else the order's (of AtRiskOrders).
	AtRiskMOS []Total
}

// AtRiskAsMOSReports sums flagged orders per currency at MOS's amount where MOS reported a
// readable one in the order's currency, else at the order's own.
func AtRiskAsMOSReports(items []ReviewItem) []Total {
	var out []Total
	for _, it := range items {
		cur, minor := it.Order.Amount.Currency, it.Order.Amount.Minor
		if it.MOS != nil {
			if r := it.MOS.Remote(ObservedUnknown).Amount; r != nil && r.Readable && r.Amount.Currency == cur {
				minor = r.Amount.Minor
			}
		}
		i := slices.IndexFunc(out, func(t Total) bool { return t.Currency == cur })
		if i < 0 {
			out = append(out, Total{Currency: cur})
			i = len(out) - 1
		}
		out[i].Count++
		out[i].Minor += minor
	}
	slices.SortFunc(out, func(a, b Total) int { return strings.Compare(string(a.Currency), string(b.Currency)) })
	return out
}

// MoneyTotal is one currency's money in a period.
type MoneyTotal struct {
	Currency      money.Currency
	PaidCount     int64
	PaidMinor     int64
	RefundedCount int64
	RefundedMinor int64
}

// NetMinor is paid less refunded.
func (m MoneyTotal) NetMinor() int64 { return m.PaidMinor - m.RefundedMinor }

// Report builds the reconciliation report for f (its Limit and Cursor are ignored).
func (s *Service) Report(ctx context.Context, f ListFilter) (*Report, error) {
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return nil, Errorf(EINVALID, "from must be before to")
	}
	f.Limit, f.Cursor = 0, ""
	now := s.clock.Now()
	r, err := s.store.Report(ctx, f)
	if err != nil {
		return nil, err
	}
	r.AsOf = now
	return r, nil
}

// ResolveFlag resolves an active flag of an order with finance's note and an outcome ("" keeps
// watching), as the admin admin: the outcome is decided by Resolve against MOS's last answer and
// recorded as a transition row (who, why, MOS's answer), the flag stops holding the order's
// expiry and is recorded as resolved for that answer (it is not raised again while MOS keeps
// giving it), and the resolution is audited (with the outcome) and sent as order.flag_resolved
// (and, when the status changes, that status's event), all in one write. ECONFLICT when the flag
// is not active or the outcome is not allowed; EINVALID for a note that is empty or longer than
// MaxNote characters, or an unknown outcome.
func (s *Service) ResolveFlag(ctx context.Context, outTradeNo string, flag Flag, outcome Outcome, note, admin, requestID string) (*Order, error) {
	note, err := checkNote(note, "say why the flag is resolved")
	if err != nil {
		return nil, err
	}
	if outcome, err = ParseOutcome(string(outcome)); err != nil {
		return nil, err
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	mos, answer, err := s.lastAnswer(ctx, o)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	r := FlagResolve{Flag: flag, Note: note, By: admin, Answer: answer, Outcome: outcome}
	saved, _, err := s.apply(ctx, o, resolveFlag(r, mos, Observation{Source: SourceAdmin, MOSStatus: rawStatus(mos), RequestID: requestID},
		&AdminAction{Actor: admin, Action: ActionResolve, OrderID: &o.ID, OutTradeNo: o.OutTradeNo, UserID: o.UserID,
			Detail: actionDetail(flag, outcome, mos, note), RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: now}))
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "flag resolved", "out_trade_no", outTradeNo, "flag", flag, "outcome", outcome, "admin", admin, "request_id", requestID)
	return saved, nil
}

// CloseStuck closes a stuck order as not paid, with finance's note, as the admin admin: a CREATED
// or PENDING order past its expiry that MOS does not report paid (CloseStuck decides, against
// MOS's last answer). The transition, the audit row (action close) and order.closed are one
// write. ECONFLICT when the order is not stuck; EINVALID for a bad note.
func (s *Service) CloseStuck(ctx context.Context, outTradeNo, note, admin, requestID string) (*Order, error) {
	note, err := checkNote(note, "say why the order is closed")
	if err != nil {
		return nil, err
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	mos, _, err := s.lastAnswer(ctx, o)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	saved, _, err := s.apply(ctx, o, closeStuckOrder(closeStuck{note: note, admin: admin, mos: mos},
		Observation{Source: SourceAdmin, MOSStatus: rawStatus(mos), RequestID: requestID},
		&AdminAction{Actor: admin, Action: ActionClose, OrderID: &o.ID, OutTradeNo: o.OutTradeNo, UserID: o.UserID,
			Detail: actionDetail("", OutcomeClose, mos, note), RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: now}))
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "stuck order closed", "out_trade_no", outTradeNo, "admin", admin, "request_id", requestID)
	return saved, nil
}

// closeStuck is finance closing a stuck order (Service.CloseStuck).
type closeStuck struct {
	note, admin string
	mos         *Remote
}

// Choices lists, for each active flag of the order, the outcomes finance may choose now (the
// default first), judged against MOS's last answer (the story's resolve forms); and whether the
// order is stuck, so that finance may close it.
func (s *Service) Choices(ctx context.Context, o *Order) (map[Flag][]Outcome, bool, error) {
	mos, _, err := s.lastAnswer(ctx, o)
	if err != nil {
		return nil, false, err
	}
	out := map[Flag][]Outcome{}
	for _, f := range o.Flags {
		out[f] = Outcomes(o.Snapshot(), f, mos)
	}
	_, err = CloseStuck(o.Snapshot(), o.ExpireAt, s.clock.Now(), mos, "", "")
	return out, err == nil, nil
}

// lastAnswer is MOS's last answer about o, as the state machine reads it (nil when MOS never
// answered), and its AnswerKey.
func (s *Service) lastAnswer(ctx context.Context, o *Order) (*Remote, string, error) {
	last, err := s.store.LastAnswers(ctx, []int64{o.ID})
	if err != nil {
		return nil, "", err
	}
	a, ok := last[o.ID]
	if !ok {
		return nil, "", nil
	}
	kind := ObservedUnknown
	if k, ok := s.mos.(StatusReader); ok {
		kind = k.Kind(a.Status)
	}
	return a.Remote(kind), a.Key(), nil
}

// StatusReader is a Provider that says what a raw status of MOS means (package mos's table), so
// that MOS's last stored answer can be judged again.
type StatusReader interface {
	Kind(rawStatus string) ObservationKind
}

func rawStatus(mos *Remote) string {
	if mos == nil {
		return ""
	}
	return mos.RawStatus
}

// checkNote trims a note and checks it: 1 to MaxNote characters of UTF-8.
func checkNote(note, ask string) (string, error) {
	note = strings.TrimSpace(note)
	switch n := utf8.RuneCountInString(note); {
	case n == 0:
		return "", Errorf(EINVALID, "note: %s (1 to %d characters)", ask, MaxNote)
	case n > MaxNote:
		return "", Errorf(EINVALID, "note: at most %d characters, not %d", MaxNote, n)
	case !utf8.ValidString(note):
		return "", Errorf(EINVALID, "note: not UTF-8")
	}
	return note, nil
}

// actionDetail is an outcome's audit detail: one JSON object naming the flag (if any), the
// outcome, MOS's answer then and the note, e.g. {"flag":"amount_mismatch","outcome":"accept_mos",
// "mos":"SUCCESS 1.69 USD","note":"..."}.
func actionDetail(flag Flag, outcome Outcome, mos *Remote, note string) string {
	d := struct {
		Flag    Flag    `json:"flag,omitempty"`
		Outcome Outcome `json:"outcome"`
		MOS     string  `json:"mos"`
		Note    string  `json:"note"`
	}{Flag: flag, Outcome: outcome, MOS: "no answer", Note: note}
	if mos != nil {
		d.MOS = describeAnswer(mos)
	}
	b, _ := json.Marshal(d)
	return string(b)
}
