package order

import (
	"context"
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

// ReviewItem is an order with active flags, as the review queue shows it: the flags (oldest
// first) and MOS's last answer beside the order's own amount.
type ReviewItem struct {
	Order *Order
	Flags []FlagRecord // the active ones
	MOS   *MOSAnswer   // nil when MOS never answered about it
}

// ReviewFilter pages the review queue.
type ReviewFilter struct {
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

// Report is finance's reconciliation view of the orders a filter selects (the list's filters and
// period rules: its totals count exactly the orders the list shows).
type Report struct {
	Filter ListFilter
	// Totals are the orders by currency and status; no zero rows.
	Totals []Total
	// Money is, per currency, the money that moved in the period: paid (orders whose paidAt is in
	// it) and refunded (refundedAt in it); with the created basis, of the orders created in the
	// period. The status filter does not apply to it (it is about money, not statuses).
	Money []MoneyTotal
	// AtRisk is, per currency, the selected orders with active flags, at the order's amount; the
	// orders themselves, with MOS's last answer, are in AtRiskOrders (at most MaxPageSize).
	AtRisk       []Total
	AtRiskOrders []ReviewItem
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
	return s.store.Report(ctx, f)
}

// ResolveFlag resolves an active flag of an order with finance's note, as the admin admin: the
// flag stops holding the order's expiry, is recorded as resolved for MOS's last answer (it is not
// raised again while MOS keeps giving that answer), and the resolution is audited and sent as
// order.flag_resolved, all in one write. ECONFLICT when the flag is not active; EINVALID for a
// note that is empty or longer than MaxNote characters.
func (s *Service) ResolveFlag(ctx context.Context, outTradeNo string, flag Flag, note, admin, requestID string) (*Order, error) {
	note = strings.TrimSpace(note)
	switch n := utf8.RuneCountInString(note); {
	case n == 0:
		return nil, Errorf(EINVALID, "note: say why the flag is resolved (1 to %d characters)", MaxNote)
	case n > MaxNote:
		return nil, Errorf(EINVALID, "note: at most %d characters, not %d", MaxNote, n)
	case !utf8.ValidString(note):
		return nil, Errorf(EINVALID, "note: not UTF-8")
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	answer := ""
	if last, err := s.store.LastAnswers(ctx, []int64{o.ID}); err != nil {
		return nil, err
	} else if a, ok := last[o.ID]; ok {
		answer = a.Key()
	}
	now := s.clock.Now()
	saved, _, err := s.apply(ctx, o, Event{Kind: EventUnknown, Source: SourceAdmin, RequestID: requestID}, applyOpts{
		noEvent: true,
		resolve: &FlagResolve{Flag: flag, Note: note, By: admin, Answer: answer},
		audit: &AdminAction{Actor: admin, Action: ActionResolve, OrderID: &o.ID, OutTradeNo: o.OutTradeNo, UserID: o.UserID,
			Detail: string(flag) + ": " + note, RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: now},
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "flag resolved", "out_trade_no", outTradeNo, "flag", flag, "admin", admin, "request_id", requestID)
	return saved, nil
}
