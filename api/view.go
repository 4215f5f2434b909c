package api

import (
	"time"

	"github.com/mospay/mospay/order"
)

// OrderJSON is an order as the API shows it: amounts as decimal text, times RFC 3339 UTC
// except expireTime (ms since epoch, as MOS uses). OpenID is set in admin views only: MOS's
// guide says not to hand the openid to the front end.
type OrderJSON struct {
	OutTradeNo  string   `json:"outTradeNo"`
	PrepayID    string   `json:"prepayId"`
	AppKey      string   `json:"appKey"`
	TotalAmount string   `json:"totalAmount"`
	Currency    string   `json:"currency"`
	Desc        string   `json:"desc"`
	Status      string   `json:"status"`
	Flags       []string `json:"flags"`
	ExpireTime  int64    `json:"expireTime"`
	CreatedAt   string   `json:"createdAt"`
	UpdatedAt   string   `json:"updatedAt"`
	PaidAt      *string  `json:"paidAt"`     // null until the order is PAID
	RefundedAt  *string  `json:"refundedAt"` // null until it is REFUNDED
	UserID      string   `json:"userId,omitempty"`
	OpenID      string   `json:"openid,omitempty"`
	Sandbox     bool     `json:"sandbox,omitempty"`

	// Reference and Metadata are the merchant's, on an order its backend made (omitted
	// otherwise); Items are the product list's lines, on an order priced from it; Merchant, in
	// admin views, is the name of the merchant key that made it.
	Reference string            `json:"reference,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Items     []ItemJSON        `json:"items,omitempty"`
	Merchant  string            `json:"merchant,omitempty"`

	// SettledAmount and SettledCurrency: what MOS settled, when finance accepted MOS's answer of
	// another amount than the order's (admin views only).
	SettledAmount   string `json:"settledAmount,omitempty"`
	SettledCurrency string `json:"settledCurrency,omitempty"`
}

// ItemJSON is one line of an order priced from the product list, at its creation's price.
type ItemJSON struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unitPrice"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// rfc3339Ptr is rfc3339 of a time that may not be set (null in JSON).
func rfc3339Ptr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := rfc3339(*t)
	return &s
}

// orderView renders an order; admin adds the owner's user id and openid.
func orderView(o *order.Order, admin bool) OrderJSON {
	v := OrderJSON{
		OutTradeNo: o.OutTradeNo, PrepayID: o.PrepayID, AppKey: o.AppKey, TotalAmount: o.Amount.String(),
		Currency: string(o.Amount.Currency), Desc: o.Desc, Status: string(o.Status), Flags: []string{},
		ExpireTime: o.ExpireAt.UnixMilli(), CreatedAt: rfc3339(o.CreatedAt), UpdatedAt: rfc3339(o.UpdatedAt),
		PaidAt: rfc3339Ptr(o.PaidAt), RefundedAt: rfc3339Ptr(o.RefundedAt), Sandbox: o.Sandbox,
	}
	for _, f := range o.Flags {
		v.Flags = append(v.Flags, string(f))
	}
	v.Reference, v.Metadata = o.Reference, o.Metadata
	for _, it := range o.Items {
		v.Items = append(v.Items, ItemJSON{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice.String()})
	}
	if admin {
		v.UserID, v.OpenID, v.Merchant = o.UserID, o.OpenID, o.Merchant
		if o.Settled != nil {
			v.SettledAmount, v.SettledCurrency = o.Settled.String(), string(o.Settled.Currency)
		}
	}
	return v
}

// PageJSON is a page of orders; NextCursor is empty on the last page.
type PageJSON struct {
	Orders     []OrderJSON `json:"orders"`
	NextCursor string      `json:"nextCursor"`
}

func pageView(p order.Page, admin bool) PageJSON {
	out := PageJSON{Orders: make([]OrderJSON, 0, len(p.Orders)), NextCursor: p.NextCursor}
	for _, o := range p.Orders {
		out.Orders = append(out.Orders, orderView(o, admin))
	}
	return out
}

// StoryJSON is GET /admin/orders/{outTradeNo}: the order and everything that explains it.
type StoryJSON struct {
	Order         OrderJSON          `json:"order"`
	Transitions   []TransitionJSON   `json:"transitions"`
	Notifications []NotificationJSON `json:"notifications"`
	Queries       []QueryJSON        `json:"queries"`
	Flags         []FlagJSON         `json:"flags"`
	Actions       []ActionJSON       `json:"actions"`
	Events        []EventSummaryJSON `json:"events"` // the order events it caused, with their deliveries
}

// TransitionJSON is one status change.
type TransitionJSON struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Source    string `json:"source"`
	Reason    string `json:"reason"`
	MOSStatus string `json:"mosStatus"`
	RequestID string `json:"requestId,omitempty"`
	At        string `json:"at"`
}

// NotificationJSON is one verified notification as received.
type NotificationJSON struct {
	ReceivedAt    string `json:"receivedAt"`
	MOSStatus     string `json:"mosStatus"`
	QueriedStatus string `json:"queriedStatus"`
	Outcome       string `json:"outcome"`
	// Disagreement says where the notification's own fields differ from orderQuery's answer.
	Disagreement string `json:"disagreement,omitempty"`
	ContentType  string `json:"contentType"`
	// RawBody is the body as first received, cut to order.MaxStoredBody bytes; BodySize and
	// BodySHA256 are the whole body's.
	RawBody    string `json:"rawBody"`
	BodySize   int64  `json:"bodySize"`
	BodySHA256 string `json:"bodySha256,omitempty"`
	// Signed is what the signature covered; Repeats how often it was received again.
	Signed       string `json:"signed,omitempty"`
	Repeats      int64  `json:"repeats"`
	LastRepeatAt string `json:"lastRepeatAt,omitempty"`
	RequestID    string `json:"requestId,omitempty"`
}

// QueryJSON is one orderQuery made.
type QueryJSON struct {
	At          string `json:"at"`
	Source      string `json:"source"`
	MOSStatus   string `json:"mosStatus"`
	TotalAmount string `json:"totalAmount"`
	Currency    string `json:"currency"`
	Error       string `json:"error,omitempty"`
	DurationMS  int64  `json:"durationMs"`
}

// FlagJSON is one flag, resolved or not: its note says what was seen; resolvedBy and resolution
// say who resolved it and why.
type FlagJSON struct {
	Flag       string  `json:"flag"`
	RaisedAt   string  `json:"raisedAt"`
	ResolvedAt *string `json:"resolvedAt"`
	Note       string  `json:"note"`
	ResolvedBy string  `json:"resolvedBy,omitempty"`
	Resolution string  `json:"resolution,omitempty"`
	Outcome    string  `json:"outcome,omitempty"` // what finance decided: watch, accept_mos or close
}

func flagView(f order.FlagRecord) FlagJSON {
	return FlagJSON{Flag: string(f.Flag), RaisedAt: rfc3339(f.RaisedAt), Note: f.Note, ResolvedAt: rfc3339Ptr(f.ResolvedAt),
		ResolvedBy: f.ResolvedBy, Resolution: f.Resolution, Outcome: string(f.Outcome)}
}

func storyView(s *order.Story) StoryJSON {
	v := StoryJSON{Order: orderView(s.Order, true), Transitions: []TransitionJSON{}, Notifications: []NotificationJSON{},
		Queries: []QueryJSON{}, Flags: []FlagJSON{}, Actions: []ActionJSON{}, Events: []EventSummaryJSON{}}
	for i := range s.Events {
		v.Events = append(v.Events, eventSummaryView(&s.Events[i]))
	}
	for _, t := range s.Transitions {
		v.Transitions = append(v.Transitions, TransitionJSON{From: string(t.From), To: string(t.To), Source: string(t.Source),
			Reason: t.Reason, MOSStatus: t.MOSStatus, RequestID: t.RequestID, At: rfc3339(t.At)})
	}
	for _, n := range s.Notifications {
		nj := NotificationJSON{ReceivedAt: rfc3339(n.ReceivedAt), MOSStatus: n.MOSStatus,
			QueriedStatus: n.QueriedStatus, Outcome: n.Outcome, Disagreement: n.Disagreement, ContentType: n.ContentType,
			RawBody: n.RawBody, BodySize: n.BodySize, BodySHA256: n.BodyHash, Signed: n.Signed, Repeats: n.Repeats,
			RequestID: n.RequestID}
		if n.LastRepeatAt != nil {
			nj.LastRepeatAt = rfc3339(*n.LastRepeatAt)
		}
		v.Notifications = append(v.Notifications, nj)
	}
	for _, q := range s.Queries {
		v.Queries = append(v.Queries, QueryJSON{At: rfc3339(q.At), Source: string(q.Source), MOSStatus: q.MOSStatus,
			TotalAmount: q.TotalAmount, Currency: q.Currency, Error: q.Error, DurationMS: q.DurationMS})
	}
	for _, a := range s.Actions {
		v.Actions = append(v.Actions, actionView(a))
	}
	for _, f := range s.Flags {
		v.Flags = append(v.Flags, flagView(f))
	}
	return v
}

// UserJSON is a mini-app user as finance sees them.
type UserJSON struct {
	ID              string  `json:"id"`
	OpenID          string  `json:"openid"`
	FirstLoginAt    string  `json:"firstLoginAt"`
	LastLoginAt     string  `json:"lastLoginAt"`
	LanguageType    string  `json:"languageType"`
	TokensRevokedAt *string `json:"tokensRevokedAt"`
}

// UsersJSON is GET /admin/users.
type UsersJSON struct {
	Users []UserJSON `json:"users"`
}

func userView(u *order.User) UserJSON {
	return UserJSON{ID: u.ID, OpenID: u.OpenID, FirstLoginAt: rfc3339(u.FirstLoginAt), LastLoginAt: rfc3339(u.LastLoginAt),
		LanguageType: u.Language, TokensRevokedAt: rfc3339Ptr(u.TokensRevokedAt)}
}

// ActionJSON is one admin action of the audit trail.
type ActionJSON struct {
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	OutTradeNo string `json:"outTradeNo,omitempty"`
	UserID     string `json:"userId,omitempty"`
	Detail     string `json:"detail,omitempty"`
	RequestID  string `json:"requestId"` // mospay's own
	// ClientRequestID is the X-Request-Id the client sent, if it kept one: the client chose it.
	ClientRequestID string `json:"clientRequestId,omitempty"`
	At              string `json:"at"`
}

// AuditJSON is GET /admin/audit.
type AuditJSON struct {
	Actions    []ActionJSON `json:"actions"`
	NextCursor string       `json:"nextCursor"`
}

func actionView(a order.AdminAction) ActionJSON {
	return ActionJSON{Actor: a.Actor, Action: a.Action, OutTradeNo: a.OutTradeNo, UserID: a.UserID, Detail: a.Detail,
		RequestID: a.RequestID, ClientRequestID: a.ClientRequestID, At: rfc3339(a.At)}
}
