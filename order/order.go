package order

import (
	"slices"
	"time"

	"github.com/mospay/mospay/money"
)

// Order is one payment order: what the mini-app user asked to pay, and where it stands with MOS.
type Order struct {
	ID         int64
	OutTradeNo string // ours, sent to MOS; unique, time-sortable, unguessable
	NonceStr   string // ours, sent with prepay and orderQuery
	AppKey     string
	UserID     string // mospay's user who made the order
	OpenID     string // the payer at MOS; never shown to the mini-app front end
	PrepayID   string // MOS's, once prepay succeeded
	Amount     money.Amount
	Desc       string
	Status     Status
	Flags      []Flag // active flags
	// FlagNotes are the active flags' notes (what was seen), when the store loaded them.
	FlagNotes map[Flag]string
	// Resolved are the flags finance resolved, each for the answer of MOS it was resolved for.
	Resolved []ResolvedFlag
	Version  int64 // optimistic lock: every write bumps it
	Sandbox  bool  // created against the MOS sandbox

	IdempotencyKey string
	RequestHash    string // what the idempotent request asked for; another body under the same key is a conflict

	ExpireAt      time.Time  // MOS's expireTime: after it the order can no longer be paid
	NextCheckAt   *time.Time // when the reconciler next asks MOS; nil once nothing is left to learn
	CheckAttempts int        // reconciler checks answered so far (the timetable's position)
	CheckFailures int        // reconciler checks in a row that got no answer from MOS
	LeaseOwner    string     // who is talking to MOS about this order right now, if anyone
	LeaseUntil    *time.Time

	// PaidAt and RefundedAt are when mospay recorded the order PAID and REFUNDED (set in the
	// transaction of that transition); nil until then.
	PaidAt     *time.Time
	RefundedAt *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time

	// Merchant is the name of the merchant key whose backend made the order through the merchant
	// API, and Reference the merchant's own id for it (unique per merchant); both "" for an
	// order a mini-app made. Metadata is the merchant's string map, kept and shown as given.
	Merchant  string
	Reference string
	Metadata  map[string]string
	// Items are the product list's lines the order was priced from, at the prices of its
	// creation; nil when the amount came from elsewhere.
	Items []Item
	// Settled is what MOS settled when finance accepted an amount of MOS's other than Amount
	// (outcome accept_mos of an amount_mismatch); nil otherwise. Money figures use it.
	Settled *money.Amount
}

// Snapshot is what the state machine needs of the order.
func (o *Order) Snapshot() Snapshot {
	return Snapshot{Status: o.Status, Amount: o.Amount, PrepayID: o.PrepayID, Flags: o.Flags, Resolved: o.Resolved, Settled: o.Settled}
}

// HasFlag reports whether f is active on the order.
func (o *Order) HasFlag(f Flag) bool {
	for _, g := range o.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// Transition is one row of an order's history: every status change has exactly one.
type Transition struct {
	From      Status // "" for the order's creation
	To        Status
	Source    Source
	Reason    string
	MOSStatus string
	RequestID string
	Version   int64 // the order's version after the change
	At        time.Time
}

// FlagRecord is one flag raised on an order, resolved or not.
type FlagRecord struct {
	Flag       Flag
	Note       string
	RaisedAt   time.Time
	ResolvedAt *time.Time
	ResolvedBy string
	// Resolution is finance's note on resolving it; Outcome what finance decided.
	Resolution string
	Outcome    Outcome
}

// Notification outcomes, stored with every verified notification (but duplicate, which is
// counted on the row of the notification it repeats).
const (
	OutcomeApplied        = "applied"         // it led to a status change
	OutcomeNoChange       = "no_change"       // MOS's answer was already reflected (a replay with another body, not yet paid)
	OutcomeFlagged        = "flagged"         // a flag was raised for finance (mismatch, unknown status, ...)
	OutcomeUnknownOrder   = "unknown_order"   // no such outTradeNo here
	OutcomeMOSUnavailable = "mos_unavailable" // orderQuery failed; MOS will retry
	OutcomeDeferred       = "deferred"        // MOS was asked about the order within NotifyWindow: asked again when it ends
	OutcomeChecking       = "checking"        // being checked now (MOS is being asked)
	OutcomeDuplicate      = "duplicate"       // the same signed content was handled before: answered without a query, counted on its row
)

// MaxStoredBody is how much of a notification's body as received is stored: MOS's own bodies
// are well under it, and padding (which the signature does not see) can then make no row
// larger. The signed content, the body's size and its SHA-256 are stored whole.
const MaxStoredBody = 2048

// NotificationClaim is what claiming a notification decided: First, it is to be checked here (a
// first receipt, or a repeat taking over a failed check; Retry when that check failed for want of
// MOS); Asked, MOS is to be asked now (the order's notify window was free, and is now taken).
type NotificationClaim struct {
	First, Retry, Asked bool
}

// NotificationRecord is a verified notification as received, and what became of it: one row per
// signed content, however often it is received.
type NotificationRecord struct {
	OrderID    *int64
	OutTradeNo string
	// Signed is what the signature covered (Notification.Signed); SignedHash its SHA-256 in hex,
	// unique among notifications: a repeat is counted on the row, never stored again, and a
	// later outcome replaces only one that did not settle the notification (checking, deferred,
	// mos_unavailable, unknown_order).
	Signed     string
	SignedHash string
	// ContentType and RawBody are the first body received with that signed content, RawBody cut
	// to MaxStoredBody bytes; BodySize is its full size and BodyHash its SHA-256.
	ContentType   string
	RawBody       string
	BodySize      int64
	BodyHash      string
	MOSStatus     string // the status the notification claimed
	QueriedStatus string // what orderQuery answered
	Outcome       string
	// Disagreement says where the notification's own fields differ from MOS's answer (amount,
	// currency, prepayId, openid); "" when they agree. It is recorded, never turned into a flag:
	// only orderQuery's answer decides.
	Disagreement string
	RequestID    string
	ReceivedAt   time.Time
	// Repeats is how many times the same signed content was received again, the last at
	// LastRepeatAt.
	Repeats      int64
	LastRepeatAt *time.Time
}

// QueryRecord is one orderQuery we made and its answer (or failure).
type QueryRecord struct {
	OrderID     int64
	Source      Source
	MOSStatus   string
	TotalAmount string
	Currency    string
	Error       string
	DurationMS  int64
	At          time.Time
}

// Story is everything that explains an order (finance's per-order view).
type Story struct {
	Order         *Order
	Transitions   []Transition
	Notifications []NotificationRecord
	Queries       []QueryRecord
	Flags         []FlagRecord
	Actions       []AdminAction // the admin actions on the order
	Events        []EventRecord // the order's events, with their deliveries
}

// Write is one atomic change of an order: the state machine's Change plus the rows that explain
// it, applied by Store.Save in one transaction guarded by Order.Version.
type Write struct {
	Order        *Order // as read; its ID and Version guard the update
	Change       Change
	Observation  Observation
	Notification *NotificationRecord
	Query        *QueryRecord
	// Schedule: the reconciler's next check, its count of answered checks and of checks in a row
	// that got no answer, after this write. Reschedule false leaves them as they are.
	Reschedule    bool
	NextCheckAt   *time.Time
	CheckAttempts int
	CheckFailures int
	// ReleaseLease clears the order's lease (the writer was the one talking to MOS).
	ReleaseLease bool
	// Audit is the admin action that caused the write, recorded with it.
	Audit *AdminAction
	// Events are the order events the write causes (the outbox): stored in its transaction, with
	// their deliveries.
	Events []OutboxEvent
	At     time.Time
}

// Touches reports whether the write changes the order row itself, rather than only adding the
// rows that explain it (a notification or a query that changed nothing).
func (w Write) Touches() bool {
	return !w.Change.Empty() || w.Reschedule || w.ReleaseLease
}

// Empty reports whether the write has nothing at all to store.
func (w Write) Empty() bool {
	return !w.Touches() && w.Notification == nil && w.Query == nil && w.Audit == nil && len(w.Events) == 0
}

// After is the order as it is once w is saved. It is the one statement of what a write does to
// an order: the store writes the order's columns from it (under the version guard) and hands it
// back to the service, so the two can never disagree. A write that does not touch the order
// leaves it as it was.
func (w Write) After() *Order {
	o := *w.Order
	o.Flags = append([]Flag(nil), w.Order.Flags...)
	if !w.Touches() {
		return &o
	}
	o.Version++
	o.UpdatedAt = w.At
	if w.Change.Moves() {
		o.Status = w.Change.To
		at := w.At
		switch w.Change.To {
		case StatusPaid:
			o.PaidAt = &at
		case StatusRefunded:
			o.RefundedAt = &at
		}
	}
	if w.Change.PrepayID != "" {
		o.PrepayID = w.Change.PrepayID
	}
	if w.Change.Settle != nil {
		settled := *w.Change.Settle
		o.Settled = &settled
	}
	for _, f := range w.Change.Raise {
		o.Flags = append(o.Flags, f.Flag)
	}
	if r := w.Change.Resolve; r != nil {
		o.Flags = slices.DeleteFunc(o.Flags, func(f Flag) bool { return f == r.Flag })
		o.Resolved = append(slices.Clone(o.Resolved), ResolvedFlag{Flag: r.Flag, Answer: r.Answer})
	}
	if w.Reschedule {
		o.NextCheckAt, o.CheckAttempts, o.CheckFailures = w.NextCheckAt, w.CheckAttempts, w.CheckFailures
	}
	if w.ReleaseLease {
		o.LeaseOwner, o.LeaseUntil = "", nil
	}
	return &o
}

// ListFilter selects orders for lists, CSV and reports. Zero values select everything.
type ListFilter struct {
	UserID   string
	OpenID   string
	Status   Status
	Currency money.Currency
	// Flag selects orders with that flag active; AnyFlag, orders with any flag active.
	Flag    Flag
	AnyFlag bool
	// Search selects the order with this outTradeNo or prepayId, the orders of this openid, or
	// the orders with this merchant's reference.
	Search string
	// Merchant selects the orders a merchant made; Reference, those with this reference.
	Merchant  string
	Reference string
	// From and To bound the period [From, To) (either may be nil: unbounded); Basis says which
	// date it applies to: creation (the default) or when the money moved (BasisPaid).
	From, To *time.Time
	Basis    Basis
	Limit    int    // 1 to MaxPageSize; 0 means DefaultPageSize
	Cursor   string // opaque, from a previous page
}

// DefaultPageSize and MaxPageSize bound a page of orders: a list asks for at most MaxPageSize,
// and gets DefaultPageSize when it does not say.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageSize is the size of a page asked for with limit: DefaultPageSize when it says none, at most
// MaxPageSize. Every list pages by it.
func PageSize(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// Page is one page of orders, newest first; NextCursor is empty on the last page.
type Page struct {
	Orders     []*Order
	NextCursor string
}

// Total is one line of the reconciliation report: how many orders of a currency ended in a
// status, and their sum in minor units.
type Total struct {
	Currency money.Currency
	Status   Status
	Count    int64
	Minor    int64
}
