package order

import (
	"context"
	"time"
)

// FinanceSession is a sign-in to the finance pages, kept on the server so that it can be ended
// everywhere at once: by signing out, from finance's list of their open sessions, or by removing
// the admin token it was made with. The browser's cookie carries the session's secret; ID is
// that secret's SHA-256 in hex, so that the stored rows sign no one in.
type FinanceSession struct {
	ID               string
	Admin            string // the admin token's name
	TokenFingerprint string // names the admin token signed in with, without revealing it
	RemoteIP         string
	UserAgent        string // as the browser sent it, cut to MaxUserAgent bytes
	CreatedAt        time.Time
	ExpiresAt        time.Time // absolute: a session is not extended by use
	EndedAt          *time.Time
	EndedBy          string // SessionEndLogout, SessionEndTokenRemoved
}

// MaxUserAgent bounds the User-Agent a session keeps: enough to tell two browsers apart.
const MaxUserAgent = 200

// Why a session ended.
const (
	SessionEndLogout       = "logout"        // its admin signed out, or ended it from the list
	SessionEndTokenRemoved = "token removed" // its admin token is no longer configured
)

// Open reports whether the session may be used at now.
func (fs *FinanceSession) Open(now time.Time) bool {
	return fs.EndedAt == nil && now.Before(fs.ExpiresAt)
}

// SessionToken names a configured admin token by its name and fingerprint, for EndSessionsExcept.
type SessionToken struct {
	Admin, Fingerprint string
}

// StartSession records a sign-in: the session and its audit row (login), in one transaction.
func (s *Service) StartSession(ctx context.Context, fs FinanceSession, requestID string) error {
	if len(fs.UserAgent) > MaxUserAgent {
		fs.UserAgent = fs.UserAgent[:MaxUserAgent]
	}
	return s.store.CreateSession(ctx, fs, AdminAction{Actor: fs.Admin, Action: ActionLogin, Detail: "from " + fs.RemoteIP,
		RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: fs.CreatedAt})
}

// FinanceSession returns the session with id (ENOTFOUND), open or not.
func (s *Service) FinanceSession(ctx context.Context, id string) (*FinanceSession, error) {
	return s.store.Session(ctx, id)
}

// OpenSessions lists admin's sessions still open at now, newest first.
func (s *Service) OpenSessions(ctx context.Context, admin string) ([]FinanceSession, error) {
	return s.store.OpenSessions(ctx, admin, s.clock.Now())
}

// EndSession ends admin's open session id (signing out, or ending one of their others) and
// audits it (logout), in one transaction. ENOTFOUND when admin has no such open session: an admin
// ends only their own.
func (s *Service) EndSession(ctx context.Context, id, admin, requestID string) error {
	now := s.clock.Now()
	return s.store.EndSession(ctx, id, admin, now, AdminAction{Actor: admin, Action: ActionLogout,
		Detail: "session " + shortSessionID(id), RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: now})
}

// EndSessionsExcept ends every open session not made with one of the configured admin tokens,
// so that a token removed from the configuration does not bring its sessions back if it is ever
// configured again. Run at start; it returns how many it ended.
func (s *Service) EndSessionsExcept(ctx context.Context, configured []SessionToken) (int64, error) {
	return s.store.EndSessionsExcept(ctx, configured, s.clock.Now())
}

// shortSessionID is the first 8 characters of a session id: enough for finance to tell their
// sessions apart in the audit trail.
func shortSessionID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
