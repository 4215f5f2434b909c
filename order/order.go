package order

import (
	"context"
	"time"

	"github.com/mospay/mospay/money"
)

// Order is one payment order: what the mini-app user asked to pay, and where it stands with MOS.
type Order struct {
	ID         int64
	OutTradeNo string // ours, sent to MOS; unique, time-sortable, unguessable
	NonceStr   string // ours, sent with prepay and orderQuery
	AppKey     string
	OpenID     string // the payer at MOS; never shown to the mini-app front end
	PrepayID   string // MOS's, once prepay succeeded
	Amount     money.Amount
	Desc       string
	Status     Status
	Flags      []Flag // active flags
	Version    int64  // optimistic lock: every write bumps it
	Sandbox    bool   // created against the MOS sandbox

	IdempotencyKey string
	RequestHash    string // what the idempotent request asked for; another body under the same key is a conflict

	ExpireAt      time.Time  // MOS's expireTime: after it the order can no longer be paid
	NextCheckAt   *time.Time // when the reconciler next asks MOS; nil once nothing is left to learn
	CheckAttempts int        // reconciler checks made so far
	LeaseOwner    string     // who is talking to MOS about this order right now, if anyone
	LeaseUntil    *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Snapshot is what the state machine needs of the order.
func (o *Order) Snapshot() Snapshot {
	return Snapshot{Status: o.Status, Amount: o.Amount, PrepayID: o.PrepayID, Flags: o.Flags}
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
}

// Notification outcomes, stored with every verified notification.
const (
	OutcomeApplied        = "applied"         // it led to a status change
	OutcomeNoChange       = "no_change"       // MOS's answer was already reflected (duplicate, replay, not yet paid)
	OutcomeFlagged        = "flagged"         // a flag was raised for finance (mismatch, unknown status, ...)
	OutcomeUnknownOrder   = "unknown_order"   // no such outTradeNo here
	OutcomeMOSUnavailable = "mos_unavailable" // orderQuery failed; MOS will retry
)

// NotificationRecord is a verified notification as received, and what became of it.
type NotificationRecord struct {
	OrderID       *int64
	OutTradeNo    string
	ContentType   string
	RawBody       string
	MOSStatus     string // the status the notification claimed
	QueriedStatus string // what orderQuery answered
	Outcome       string
	RequestID     string
	ReceivedAt    time.Time
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
}

// Write is one atomic change of an order: the state machine's Change plus the rows that explain
// it, applied by Store.Save in one transaction guarded by Order.Version.
type Write struct {
	Order        *Order // as read; its ID and Version guard the update
	Change       Change
	Event        Event
	Notification *NotificationRecord
	Query        *QueryRecord
	// Schedule: the reconciler's next check and attempt count after this write. Reschedule false
	// leaves them as they are.
	Reschedule    bool
	NextCheckAt   *time.Time
	CheckAttempts int
	// ReleaseLease clears the order's lease (the writer was the one talking to MOS).
	ReleaseLease bool
	At           time.Time
}

// ListFilter selects orders for lists, CSV and reports. Zero values select everything.
type ListFilter struct {
	OpenID   string
	Status   Status
	Currency money.Currency
	Flag     Flag
	From, To *time.Time // creation time in [From, To)
	Limit    int
	Cursor   string // opaque, from a previous page
}

// Page is one page of orders, newest first; NextCursor is empty on the last page.
type Page struct {
	Orders     []*Order
	NextCursor string
}

// Store keeps orders durably. Each method takes ctx first and returns coded errors:
// ENOTFOUND, ECONFLICT (a unique key or a stale version), EUNAVAILABLE (database busy or down,
// the caller may retry), anything else is internal.
type Store interface {
	// CreateOrder inserts o (status CREATED) with its first transition, and fills o.ID.
	// ECONFLICT when the outTradeNo or (openid, idempotency key) is taken.
	CreateOrder(ctx context.Context, o *Order, t Transition) error
	// Order returns the order with that outTradeNo. ENOTFOUND.
	Order(ctx context.Context, outTradeNo string) (*Order, error)
	// OrderByIdempotencyKey returns openid's order created under key. ENOTFOUND.
	OrderByIdempotencyKey(ctx context.Context, openid, key string) (*Order, error)
	// Orders lists a page of orders matching f. EINVALID for a bad cursor.
	Orders(ctx context.Context, f ListFilter) (Page, error)
	// Save applies w in one transaction: the order row (UPDATE ... WHERE version = ?), the
	// transition, new flags, and the notification/query rows. ECONFLICT when the version moved.
	Save(ctx context.Context, w Write) (*Order, error)
	// RecordNotification stores a verified notification that changes no order (unknown order,
	// MOS unavailable).
	RecordNotification(ctx context.Context, n NotificationRecord) error
	// RecordQuery stores an orderQuery that changes no order.
	RecordQuery(ctx context.Context, q QueryRecord) error
	// Story returns the order and everything that explains it. ENOTFOUND.
	Story(ctx context.Context, outTradeNo string) (*Story, error)
	// AcquireLease marks the order as being worked on by owner until until, if no one else holds
	// an unexpired lease. It reports whether the lease was taken.
	AcquireLease(ctx context.Context, id int64, owner string, until time.Time) (bool, error)
	// Totals counts and sums orders created in [from, to) by currency and status.
	Totals(ctx context.Context, from, to time.Time) ([]Total, error)
	// ClaimDue leases up to limit orders whose next check is due at now, for owner until until,
	// so that no other instance checks them at the same time.
	ClaimDue(ctx context.Context, now time.Time, limit int, owner string, until time.Time) ([]*Order, error)
}

// Remote is what MOS says of an order (orderQuery's answer), already mapped to an event kind.
type Remote struct {
	Kind      EventKind // EventPending, EventPaid, EventFailed, EventClosed, EventRefunded or EventUnknown
	RawStatus string
	PrepayID  string
	Amount    *money.Amount // nil if MOS's amount could not be read
	AmountRaw string
	Currency  string
}

// PrepayRequest is what MOS needs to create its side of an order.
type PrepayRequest struct {
	OutTradeNo string
	NonceStr   string
	Desc       string
	Amount     money.Amount
	NotifyURL  string
	OpenID     string
	ExpireAt   time.Time
}

// Provider is MOS as the order service uses it. Errors are coded:
// EUNAVAILABLE: transport error, timeout, 5xx or 429 — the outcome is unknown, try again later;
// EUNPROCESSABLE: MOS refused the request (its message is the Error's message);
// ENOTFOUND (Query only): MOS has no such order.
type Provider interface {
	Prepay(ctx context.Context, r PrepayRequest) (prepayID string, err error)
	Query(ctx context.Context, outTradeNo, nonceStr string) (Remote, error)
}

// Clock tells the time; tests pass a controllable one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Total is one line of the reconciliation report: how many orders of a currency ended in a
// status, and their sum in minor units.
type Total struct {
	Currency money.Currency
	Status   Status
	Count    int64
	Minor    int64
}
