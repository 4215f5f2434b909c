package order

import (
	"context"
	"time"

	"github.com/mospay/mospay/money"
)

// Store keeps orders durably. Each method takes ctx first and returns coded errors:
// ENOTFOUND, ECONFLICT (a unique key or a stale version), EUNAVAILABLE (database busy or down,
// the caller may retry), anything else is internal.
type Store interface {
	OrderStore
	NotificationStore
	UserStore
	AuditStore
	EventStore
	FinanceStore
	MerchantStore
	ProductStore
}

// OrderStore is the orders themselves: made, read, listed and written, one version at a time.
type OrderStore interface {
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
	// AcquireLease marks the order as being worked on by owner until until, if no one else holds
	// an unexpired lease. It reports whether the lease was taken.
	AcquireLease(ctx context.Context, id int64, owner string, until time.Time) (bool, error)
}

// NotificationStore is what MOS's notifications leave behind: one row per signed content, the
// notification window, and when MOS was last asked.
type NotificationStore interface {
	// RecordNotification stores a verified notification that changes no order (unknown order),
	// one row per signed content: when its SignedHash is stored already, the repeat is counted
	// on that row instead.
	RecordNotification(ctx context.Context, n NotificationRecord) error
	// ClaimNotification stores the first receipt of a signed content (n.Outcome is
	// OutcomeChecking) and reports First. A repeat is counted on its row, and is First only when
	// that row's check failed: mos_unavailable (Retry is then true), unknown_order, or checking
	// since before staleBefore; the row is then checking again. A First claim also claims the
	// order's notify window as ClaimNotifyWindow does, at n.ReceivedAt, in the same transaction
	// (one commit, not two, per notification): Asked reports it.
	ClaimNotification(ctx context.Context, n NotificationRecord, staleBefore time.Time, window time.Duration) (NotificationClaim, error)
	// DeferNotification records, on its row, that a notification was held back by the
	// notification window, and brings the order's next check forward to checkAt if it is later
	// or not set, in one transaction.
	DeferNotification(ctx context.Context, n NotificationRecord, checkAt time.Time) error
	// ClaimNotifyWindow records that MOS is asked about the order now on behalf of notifications,
	// unless it was within window of now: asked reports which. Compare-and-set in the database,
	// so that instances share the window.
	ClaimNotifyWindow(ctx context.Context, orderID int64, now time.Time, window time.Duration) (asked bool, err error)
	// LastQuery is when the last orderQuery of source about the order was made; ok is false when
	// there was none.
	LastQuery(ctx context.Context, orderID int64, source Source) (at time.Time, ok bool, err error)
}

// UserStore is mospay's mini-app users.
type UserStore interface {
	// LoginUser records a login of the user with openid: the user is made with id newID at their
	// first login; their language and last login are updated. It returns the user.
	LoginUser(ctx context.Context, openid, language, newID string, at time.Time) (*User, error)
	// User returns the user with id. ENOTFOUND.
	User(ctx context.Context, id string) (*User, error)
	// UsersByOpenID returns the user with openid, if any.
	UsersByOpenID(ctx context.Context, openid string) ([]*User, error)
	// RevokeUser sets the user's tokens_revoked_at to at and records a, in one transaction.
	// ENOTFOUND.
	RevokeUser(ctx context.Context, id string, at time.Time, a AdminAction) (*User, error)
}

// AuditStore is the audit trail and the finance sessions whose sign-ins and sign-outs it records.
type AuditStore interface {
	// AdminActions lists a page of the audit trail, newest first. EINVALID for a bad cursor.
	AdminActions(ctx context.Context, f AuditFilter) (AuditPage, error)
	// RecordAction stores an admin action that changes no order (an export, a lookup).
	RecordAction(ctx context.Context, a AdminAction) error
	// CreateSession stores a new finance session and a (its sign-in), in one transaction.
	CreateSession(ctx context.Context, fs FinanceSession, a AdminAction) error
	// Session returns the finance session with id. ENOTFOUND.
	Session(ctx context.Context, id string) (*FinanceSession, error)
	// OpenSessions lists admin's sessions open at now, newest first.
	OpenSessions(ctx context.Context, admin string, now time.Time) ([]FinanceSession, error)
	// EndSession ends admin's open session id at at and records a, in one transaction.
	// ENOTFOUND when admin has no such open session.
	EndSession(ctx context.Context, id, admin string, at time.Time, a AdminAction) error
	// EndSessionsExcept ends at at every open session whose admin and token fingerprint are not
	// among keep, and returns how many.
	EndSessionsExcept(ctx context.Context, keep []SessionToken, at time.Time) (int64, error)
}

// EventStore is the order events sent to the merchant's systems and their deliveries.
type EventStore interface {
	// Events lists a page of order events with their deliveries, newest first.
	Events(ctx context.Context, f EventFilter) (EventPage, error)
	// Event returns an event with its deliveries and their attempts. ENOTFOUND.
	Event(ctx context.Context, id string) (*EventRecord, error)
	// Redeliver makes the deliveries r selects due at r.At and records r.Audit, in one
	// transaction; it returns how many. ENOTFOUND for an unknown event id.
	Redeliver(ctx context.Context, r RedeliverRequest) (int64, error)
	// Endpoints reports the delivery state of the configured endpoints and of any other that
	// deliveries name.
	Endpoints(ctx context.Context, configured []string) ([]Endpoint, error)
}

// FinanceStore is what finance reads: an order's story, the report, the review queue and MOS's
// last answers.
type FinanceStore interface {
	// Story returns the order and everything that explains it. ENOTFOUND.
	Story(ctx context.Context, outTradeNo string) (*Story, error)
	// Report builds the reconciliation report of the orders f selects (order.Report).
	Report(ctx context.Context, f ListFilter) (*Report, error)
	// Review lists a page of orders with active flags, oldest flag first. EINVALID for a bad cursor.
	Review(ctx context.Context, f ReviewFilter) (ReviewPage, error)
	// ReviewCount counts the orders with an active flag.
	ReviewCount(ctx context.Context) (int64, error)
	// LastAnswers returns, by order id, MOS's last answer about each order that has one.
	LastAnswers(ctx context.Context, ids []int64) (map[int64]MOSAnswer, error)
}

// Remote is what MOS says of an order (orderQuery's answer), in mospay's terms: package mos maps
// its status to an event kind and reads its amount.
type Remote struct {
	Kind      ObservationKind // ObservedPending, ObservedPaid, ObservedFailed, ObservedClosed, ObservedRefunded or ObservedUnknown
	RawStatus string
	PrepayID  string
	OpenID    string
	Amount    *ReportedAmount // nil when MOS reported no amount and no currency
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
// ENOTFOUND (Query only): MOS has no such order;
// EUNAUTHORIZED (Code2Session only): a login code that is invalid, used or expired.
type Provider interface {
	Prepay(ctx context.Context, r PrepayRequest) (prepayID string, err error)
	Query(ctx context.Context, outTradeNo, nonceStr string) (Remote, error)
	// Code2Session exchanges a MOS login code (from mos.login: valid 5 minutes, single use) for
	// the user's openid.
	Code2Session(ctx context.Context, code string) (openid string, err error)
}

// Clock tells the time; tests pass a controllable one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
