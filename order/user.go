package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// User is a mini-app user as mospay knows them: its own id, which the front end's token names,
// and MOS's openid, which stays on the server side (MOS's guide says the openid is not for the
// front end). A user is made at their first login.
type User struct {
	ID       string // mospay's: a UUIDv7 in 32 hex digits
	OpenID   string // MOS's id of the user within the mini-app
	Language string // from the Lang header of their last login, as mospay reads it
	// FirstLoginAt and LastLoginAt bound the user's logins.
	FirstLoginAt, LastLoginAt time.Time
	// TokensRevokedAt: tokens issued before this are refused (finance revoked them); nil when
	// never revoked.
	TokensRevokedAt *time.Time
}

// NewUserID makes a user id: a UUIDv7 in 32 hex digits, so ids sort by first login and cannot be
// guessed.
func NewUserID() string {
	return strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// TokenValid reports whether a token issued at issuedAt may still act for the user: not when
// finance revoked the user's tokens at or after that moment. The instants are compared as they
// are (tokens carry their issue time to the microsecond), so that a login in the same second as
// the revocation, after it, is not refused; a token that knows its issue time only to the second
// is refused in the second of the revocation.
func (u *User) TokenValid(issuedAt time.Time) bool {
	return u.TokensRevokedAt == nil || issuedAt.After(u.TokensRevokedAt.Truncate(time.Microsecond))
}

// LoginWithCode logs in the mini-app user a MOS login code names: MOS's code2session turns the
// code into the user's openid, then Login records the login. The code is never logged.
// EINVALID for a missing or overlong code, EUNAUTHORIZED for one MOS refuses (invalid, used or
// expired: the front end calls mos.login again), EUNAVAILABLE when MOS is unreachable.
func (s *Service) LoginWithCode(ctx context.Context, code, language string) (*User, error) {
	code = strings.TrimSpace(code)
	switch {
	case code == "":
		return nil, Errorf(EINVALID, "code is required")
	case len(code) > MaxLoginCode:
		return nil, Errorf(EINVALID, "code is too long")
	}
	openid, err := s.mos.Code2Session(ctx, code)
	switch ErrorCode(err) {
	case "":
	case EUNAUTHORIZED:
		return nil, Wrap(EUNAUTHORIZED, err, "login code is invalid, used or expired")
	case EUNAVAILABLE:
		return nil, Wrap(EUNAVAILABLE, err, "MOS is unavailable; try again")
	default:
		return nil, fmt.Errorf("code2session: %w", err)
	}
	if openid == "" {
		return nil, errors.New("order: code2session gave no openid")
	}
	return s.Login(ctx, openid, language)
}

// Login records a login of the user MOS vouches for (their openid, from code2session), making the
// user at their first login, and returns them.
func (s *Service) Login(ctx context.Context, openid, language string) (*User, error) {
	if openid == "" {
		return nil, Errorf(EINVALID, "no openid")
	}
	return s.store.LoginUser(ctx, openid, language, NewUserID(), s.clock.Now())
}

// User returns the user with id (the subject of a mini-app token), from the users table or, if
// it was read there within UserCacheTTL, from memory. ENOTFOUND.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	u, gen := s.users.get(id)
	if u != nil {
		return u, nil
	}
	u, err := s.store.User(ctx, id)
	if err != nil {
		return nil, err
	}
	s.users.put(u, gen)
	return u, nil
}

// UsersByOpenID finds the user MOS knows by openid (finance's search): none or one.
func (s *Service) UsersByOpenID(ctx context.Context, openid string) ([]*User, error) {
	return s.store.UsersByOpenID(ctx, openid)
}

// RevokeUser refuses every token issued to the user until now: they log in again, as on any 401.
// The revocation is an admin action, recorded in the same transaction. ENOTFOUND.
func (s *Service) RevokeUser(ctx context.Context, id, admin, requestID string) (*User, error) {
	now := s.clock.Now()
	u, err := s.store.RevokeUser(ctx, id, now, AdminAction{Actor: admin, Action: ActionRevoke, UserID: id,
		RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: now})
	// Forgotten after the commit too, so that a read racing the revocation is not kept.
	s.users.forget(id)
	return u, err
}

// The admin actions the audit trail records.
const (
	ActionReconcile   = "reconcile"    // asked MOS about an order now
	ActionRevoke      = "revoke"       // revoked a user's tokens
	ActionResolve     = "resolve"      // resolved a flag, with an outcome and a note
	ActionClose       = "close"        // closed a stuck order as not paid, with a note
	ActionRedeliver   = "redeliver"    // sent an order event again
	ActionLogin       = "login"        // signed in to the finance pages
	ActionLoginFailed = "login_failed" // a sign-in refused (no actor: the token named nobody)
	ActionLogout      = "logout"       // signed out, or ended a session of their own
	ActionExport      = "export"       // downloaded the orders as CSV (the detail is the filter)
	ActionLookup      = "lookup"       // looked up a user by openid
)

// Actions are the admin actions the audit trail knows, for filters.
var Actions = []string{ActionReconcile, ActionRevoke, ActionResolve, ActionClose, ActionRedeliver, ActionLogin, ActionLoginFailed,
	ActionLogout, ActionExport, ActionLookup, ActionCreate, ActionProduct}

// SignInActions are the audit trail's sign-in bookkeeping, which finance's audit page hides
// unless asked: they outnumber the actions that touch orders and users.
var SignInActions = []string{ActionLogin, ActionLoginFailed, ActionLogout}

// clientRequestIDKey keys the X-Request-Id a client sent in a request's context.
type clientRequestIDKey struct{}

// WithClientRequestID returns ctx carrying the X-Request-Id the client sent, which the audit
// trail keeps beside mospay's own request id: the client chooses it, so it names nothing alone.
func WithClientRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientRequestIDKey{}, id)
}

// ClientRequestID is the X-Request-Id the client of ctx's request sent, or "".
func ClientRequestID(ctx context.Context) string {
	id, _ := ctx.Value(clientRequestIDKey{}).(string)
	return id
}

// AdminAction is one row of the audit trail: who (the admin token's name) did what to which order
// or user, and when. It is written in the same transaction as the action's effect, where the
// action has one.
type AdminAction struct {
	ID         int64
	Actor      string
	Action     string
	OrderID    *int64 // the order acted on, if any
	OutTradeNo string
	UserID     string // the user acted on, if any
	Detail     string // what the action said, e.g. a resolution's note
	RequestID  string // mospay's own id of the request
	// ClientRequestID is the X-Request-Id the client sent, if any (WithClientRequestID).
	ClientRequestID string
	At              time.Time
}

// AuditFilter selects admin actions; zero values select everything.
type AuditFilter struct {
	From, To *time.Time // [From, To)
	Actor    string
	OrderID  int64
	Action   string   // one of Actions; "" for every one
	Except   []string // actions left out (SignInActions for finance's page)
	Limit    int      // 1 to MaxPageSize; 0 means DefaultPageSize
	Cursor   string   // opaque, from a previous page
}

// AuditPage is one page of admin actions, newest first; NextCursor is empty on the last page.
type AuditPage struct {
	Actions    []AdminAction
	NextCursor string
}

// Audit returns a page of the admin actions matching f.
func (s *Service) Audit(ctx context.Context, f AuditFilter) (AuditPage, error) {
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return AuditPage{}, Errorf(EINVALID, "from must be before to")
	}
	if f.Action != "" && !slices.Contains(Actions, f.Action) {
		return AuditPage{}, Errorf(EINVALID, "action: one of %s", strings.Join(Actions, ", "))
	}
	return s.store.AdminActions(ctx, f)
}

// Record writes an admin action that changes no order: a read of payers' data (an export, a
// lookup) or a refused sign-in. The request's client id (WithClientRequestID) goes with it.
func (s *Service) Record(ctx context.Context, a AdminAction) error {
	if !slices.Contains(Actions, a.Action) {
		return Errorf(EINTERNAL, "unknown admin action %q", a.Action)
	}
	a.ClientRequestID = ClientRequestID(ctx)
	if a.At.IsZero() {
		a.At = s.clock.Now()
	}
	return s.store.RecordAction(ctx, a)
}
