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
