package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// sessionsView is /finance/sessions: the signed-in admin's open sessions, each with a button
// that ends it everywhere.
type sessionsView struct {
	chrome
	Sessions []sessionRow
}

// sessionRow is one open session as the page shows it.
type sessionRow struct {
	ID, Short, Started, Expires, RemoteIP, UserAgent string
	Current                                          bool
}

// sessionsPage is GET /finance/sessions: the admin's open sessions, newest first, this one
// marked. A copied cookie is a session too: ending one here ends it in every browser.
func (s *Server) sessionsPage(c echo.Context) error {
	notice := ""
	if c.QueryParam("done") == "ended" {
		notice = "Session ended."
	}
	return s.showSessions(c, http.StatusOK, notice, "")
}

// showSessions renders the page with status, a notice and an error message.
func (s *Server) showSessions(c echo.Context, status int, notice, msg string) error {
	v := sessionsView{chrome: s.chrome(c, "sessions", "Sessions")}
	v.Notice, v.Error = notice, msg
	sess, _ := c.Get(sessionKey).(session)
	open, err := s.deps.FinanceSessions.OpenSessions(c.Request().Context(), sess.Admin)
	if err != nil {
		status, v.Error = s.errorStatus(c, err)
		return s.render(c, status, "sessions", v)
	}
	tz := s.defaultZone()
	for _, fs := range open {
		v.Sessions = append(v.Sessions, sessionRow{ID: fs.ID, Short: fs.ID[:8], Started: showTime(fs.CreatedAt, tz),
			Expires: showTime(fs.ExpiresAt, tz), RemoteIP: fs.RemoteIP, UserAgent: fs.UserAgent, Current: fs.ID == sess.key()})
	}
	return s.render(c, status, "sessions", v)
}

// endSessionAction is POST /finance/sessions/{id}/end: ends one of the admin's own open sessions
// everywhere (audited: logout). Ending this very session signs out.
func (s *Server) endSessionAction(c echo.Context) error {
	sess, _ := c.Get(sessionKey).(session)
	id := c.Param("id")
	if err := s.deps.FinanceSessions.EndSession(c.Request().Context(), id, sess.Admin, requestID(c)); err != nil {
		if order.ErrorCode(err) == order.ENOTFOUND {
			err = order.Errorf(order.ENOTFOUND, "You have no open session %.8s; it may have ended already.", id)
		}
		status, msg := s.errorStatus(c, err)
		return s.showSessions(c, status, "", msg)
	}
	if id == sess.key() {
		c.SetCookie(s.cookie(sessionCookie, "", -1))
		return c.Redirect(http.StatusSeeOther, "/finance/login")
	}
	return c.Redirect(http.StatusSeeOther, "/finance/sessions?done=ended")
}

// SessionJSON is one open finance session (GET /admin/sessions).
type SessionJSON struct {
	ID        string `json:"id"`
	CreatedAt string `json:"createdAt"`
	ExpiresAt string `json:"expiresAt"`
	RemoteIP  string `json:"remoteIp"`
	UserAgent string `json:"userAgent"`
}

// SessionsJSON is GET /admin/sessions.
type SessionsJSON struct {
	Sessions []SessionJSON `json:"sessions"`
}

// adminSessions is GET /admin/sessions: the open finance sessions of the caller's admin name,
// newest first, as /finance/sessions shows them.
func (s *Server) adminSessions(c echo.Context) error {
	open, err := s.deps.FinanceSessions.OpenSessions(c.Request().Context(), adminOf(c))
	if err != nil {
		return err
	}
	out := SessionsJSON{Sessions: make([]SessionJSON, len(open))}
	for i, fs := range open {
		out.Sessions[i] = SessionJSON{ID: fs.ID, CreatedAt: rfc3339(fs.CreatedAt), ExpiresAt: rfc3339(fs.ExpiresAt),
			RemoteIP: fs.RemoteIP, UserAgent: fs.UserAgent}
	}
	return c.JSON(http.StatusOK, out)
}

// adminEndSession is POST /admin/sessions/{id}/end: ends one of the caller's admin name's open
// sessions everywhere (audited: logout); 204, or 404 for no such open session of theirs.
func (s *Server) adminEndSession(c echo.Context) error {
	if err := s.deps.FinanceSessions.EndSession(c.Request().Context(), c.Param("id"), adminOf(c), requestID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
