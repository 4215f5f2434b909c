package store

import (
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// Rows as the schema in migrations/ has them. GORM maps them; it never creates tables.

type orderRow struct {
	ID             int64 `gorm:"primaryKey"`
	OutTradeNo     string
	NonceStr       string
	AppKey         string
	UserID         *string
	Openid         string `gorm:"column:openid"`
	PrepayID       string
	AmountMinor    int64
	Currency       string
	Description    string
	Merchant       *string
	Reference      *string
	Metadata       string // JSON object of strings; "" for none
	Items          string // JSON array of itemJSON; "" for none
	Status         string
	Version        int64
	Sandbox        bool
	IdempotencyKey *string
	RequestHash    string
	ExpireAt       time.Time
	NextCheckAt    *time.Time
	CheckAttempts  int
	CheckFailures  int
	LeaseOwner     *string
	LeaseUntil     *time.Time
	PaidAt         *time.Time
	RefundedAt     *time.Time
	CreatedAt      time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt      time.Time `gorm:"autoUpdateTime:false"`

	// SettledMinor and SettledCurrency: what MOS settled, when finance accepted another amount.
	SettledMinor    *int64
	SettledCurrency string
}

func (orderRow) TableName() string { return "orders" }

type transitionRow struct {
	ID         int64 `gorm:"primaryKey"`
	OrderID    int64
	Version    int64
	FromStatus string
	ToStatus   string
	Source     string
	Reason     string
	MOSStatus  string `gorm:"column:mos_status"`
	RequestID  string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
}

func (transitionRow) TableName() string { return "transitions" }

type flagRow struct {
	ID         int64 `gorm:"primaryKey"`
	OrderID    int64
	Flag       string
	Note       string
	MOSAnswer  string `gorm:"column:mos_answer"`
	RaisedAt   time.Time
	ResolvedAt *time.Time
	ResolvedBy string
	Resolution string
	Outcome    string
}

func (r *flagRow) record() order.FlagRecord {
	return order.FlagRecord{Flag: order.Flag(r.Flag), Note: r.Note, RaisedAt: r.RaisedAt.UTC(), ResolvedAt: utcPtr(r.ResolvedAt),
		ResolvedBy: r.ResolvedBy, Resolution: r.Resolution, Outcome: order.Outcome(r.Outcome)}
}

// flagSet is an order's flags as the order carries them: the active ones, and those resolved for
// an answer of MOS.
type flagSet struct {
	active   []order.FlagRecord
	resolved []order.ResolvedFlag
}

// add puts the flag in the set: active, or resolved for an answer of MOS.
func (fs *flagSet) add(r *flagRow) {
	if r.ResolvedAt == nil {
		fs.active = append(fs.active, r.record())
	} else {
		fs.resolved = append(fs.resolved, order.ResolvedFlag{Flag: order.Flag(r.Flag), Answer: r.MOSAnswer})
	}
}

// orderFlagRow is a row of an order joined with one of its flags (none: the flag's columns NULL).
type orderFlagRow struct {
	Order orderRow
	F     joinedFlag
}

// joinedFlag is flagRow's columns as a LEFT JOIN gives them: all NULL where there is no flag.
type joinedFlag struct {
	ID                              *int64
	Flag, Note                      *string
	MOSAnswer                       *string
	RaisedAt, ResolvedAt            *time.Time
	ResolvedBy, Resolution, Outcome *string
}

// flag is the joined flag, nil when the order has none.
func (r *orderFlagRow) flag() *flagRow {
	f := r.F
	if f.ID == nil {
		return nil
	}
	return &flagRow{ID: *f.ID, OrderID: r.Order.ID, Flag: deref(f.Flag), Note: deref(f.Note), MOSAnswer: deref(f.MOSAnswer),
		RaisedAt: *f.RaisedAt, ResolvedAt: f.ResolvedAt, ResolvedBy: deref(f.ResolvedBy),
		Resolution: deref(f.Resolution), Outcome: deref(f.Outcome)}
}

func (flagRow) TableName() string { return "order_flags" }

type notificationRow struct {
	ID            int64 `gorm:"primaryKey"`
	OrderID       *int64
	OutTradeNo    string
	Signed        string
	SignedHash    string
	ContentType   string
	RawBody       string
	BodySize      int64
	MOSStatus     string `gorm:"column:mos_status"`
	QueriedStatus string
	Outcome       string
	BodyHash      string
	Disagreement  string
	RequestID     string
	ReceivedAt    time.Time
	Repeats       int64
	LastRepeatAt  *time.Time
}

func (notificationRow) TableName() string { return "notifications" }

type queryRow struct {
	ID          int64 `gorm:"primaryKey"`
	OrderID     int64
	Source      string
	MOSStatus   string `gorm:"column:mos_status"`
	TotalAmount string
	Currency    string
	Error       string
	DurationMS  int64     `gorm:"column:duration_ms"`
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
}

func (queryRow) TableName() string { return "mos_queries" }

type userRow struct {
	ID              string `gorm:"primaryKey"`
	Openid          string `gorm:"column:openid"`
	Language        string
	FirstLoginAt    time.Time
	LastLoginAt     time.Time
	TokensRevokedAt *time.Time
}

func (userRow) TableName() string { return "users" }

func (r *userRow) user() *order.User {
	return &order.User{ID: r.ID, OpenID: r.Openid, Language: r.Language, FirstLoginAt: r.FirstLoginAt.UTC(),
		LastLoginAt: r.LastLoginAt.UTC(), TokensRevokedAt: utcPtr(r.TokensRevokedAt)}
}

type adminActionRow struct {
	ID              int64 `gorm:"primaryKey"`
	Actor           string
	Action          string
	OrderID         *int64
	OutTradeNo      string
	UserID          string
	Detail          string
	RequestID       string
	ClientRequestID string
	CreatedAt       time.Time `gorm:"autoCreateTime:false"`
}

func (adminActionRow) TableName() string { return "admin_actions" }

func (r *adminActionRow) action() order.AdminAction {
	return order.AdminAction{ID: r.ID, Actor: r.Actor, Action: r.Action, OrderID: r.OrderID, OutTradeNo: r.OutTradeNo,
		UserID: r.UserID, Detail: r.Detail, RequestID: r.RequestID, ClientRequestID: r.ClientRequestID, At: r.CreatedAt.UTC()}
}

type sessionRow struct {
	ID               string `gorm:"primaryKey"`
	Admin            string
	TokenFingerprint string
	RemoteIP         string `gorm:"column:remote_ip"`
	UserAgent        string
	CreatedAt        time.Time `gorm:"autoCreateTime:false"`
	ExpiresAt        time.Time
	EndedAt          *time.Time
	EndedBy          string
}

func (sessionRow) TableName() string { return "finance_sessions" }

func (r *sessionRow) session() order.FinanceSession {
	return order.FinanceSession{ID: r.ID, Admin: r.Admin, TokenFingerprint: r.TokenFingerprint, RemoteIP: r.RemoteIP,
		UserAgent: r.UserAgent, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), EndedAt: utcPtr(r.EndedAt),
		EndedBy: r.EndedBy}
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toRow(o *order.Order) orderRow {
	r := orderRow{
		ID: o.ID, OutTradeNo: o.OutTradeNo, NonceStr: o.NonceStr, AppKey: o.AppKey, UserID: strPtr(o.UserID), Openid: o.OpenID,
		PrepayID: o.PrepayID, AmountMinor: o.Amount.Minor, Currency: string(o.Amount.Currency),
		Description: o.Desc, Merchant: strPtr(o.Merchant), Reference: strPtr(o.Reference),
		Metadata: metadataText(o.Metadata), Items: itemsText(o.Items),
		Status: string(o.Status), Version: o.Version, Sandbox: o.Sandbox,
		IdempotencyKey: strPtr(o.IdempotencyKey), RequestHash: o.RequestHash,
		ExpireAt: utc(o.ExpireAt), NextCheckAt: utcPtr(o.NextCheckAt), CheckAttempts: o.CheckAttempts, CheckFailures: o.CheckFailures,
		LeaseOwner: strPtr(o.LeaseOwner), LeaseUntil: utcPtr(o.LeaseUntil),
		PaidAt: utcPtr(o.PaidAt), RefundedAt: utcPtr(o.RefundedAt),
		CreatedAt: utc(o.CreatedAt), UpdatedAt: utc(o.UpdatedAt),
	}
	r.SettledMinor, r.SettledCurrency = settledColumns(o.Settled)
	return r
}

func fromRow(r *orderRow, fs flagSet) *order.Order {
	var flags []order.Flag
	var notes map[order.Flag]string
	for _, f := range fs.active {
		flags = append(flags, f.Flag)
		if notes == nil {
			notes = map[order.Flag]string{}
		}
		notes[f.Flag] = f.Note
	}
	o := &order.Order{
		ID: r.ID, OutTradeNo: r.OutTradeNo, NonceStr: r.NonceStr, AppKey: r.AppKey, OpenID: r.Openid,
		PrepayID: r.PrepayID, Amount: money.Amount{Minor: r.AmountMinor, Currency: money.Currency(r.Currency)},
		Desc: r.Description, Status: order.Status(r.Status), Flags: flags, Version: r.Version, Sandbox: r.Sandbox,
		RequestHash: r.RequestHash, ExpireAt: r.ExpireAt.UTC(), NextCheckAt: utcPtr(r.NextCheckAt),
		CheckAttempts: r.CheckAttempts, CheckFailures: r.CheckFailures, LeaseUntil: utcPtr(r.LeaseUntil),
		PaidAt: utcPtr(r.PaidAt), RefundedAt: utcPtr(r.RefundedAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	o.Resolved, o.FlagNotes = fs.resolved, notes
	o.Merchant, o.Reference = deref(r.Merchant), deref(r.Reference)
	o.Metadata, o.Items = metadataOf(r.Metadata), itemsOf(r.Items)
	if r.SettledMinor != nil {
		o.Settled = &money.Amount{Minor: *r.SettledMinor, Currency: money.Currency(r.SettledCurrency)}
	}
	if r.IdempotencyKey != nil {
		o.IdempotencyKey = *r.IdempotencyKey
	}
	if r.LeaseOwner != nil {
		o.LeaseOwner = *r.LeaseOwner
	}
	if r.UserID != nil {
		o.UserID = *r.UserID
	}
	return o
}

// settledColumns are the columns of what MOS settled (nil, "" when finance accepted none).
func settledColumns(a *money.Amount) (*int64, string) {
	if a == nil {
		return nil, ""
	}
	minor := a.Minor
	return &minor, string(a.Currency)
}
