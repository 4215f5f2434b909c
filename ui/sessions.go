package ui

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
func (h *Handler) sessionsPage(c echo.Context) error {
	notice := ""
	if c.QueryParam("done") == "ended" {
		notice = "Session ended."
	}
	return h.showSessions(c, http.StatusOK, notice, "")
}

// showSessions renders the page with status, a notice and an error message.
func (h *Handler) showSessions(c echo.Context, status int, notice, msg string) error {
	v := sessionsView{chrome: h.chrome(c, "sessions", "Sessions")}
	v.Notice, v.Error = notice, msg
	sess, _ := c.Get(sessionKey).(session)
	open, err := h.deps.Sessions.OpenSessions(c.Request().Context(), sess.Admin)
	if err != nil {
		status, v.Error = h.errorStatus(c, err)
		return h.render(c, status, "sessions", v)
	}
	tz := h.deps.API.DefaultZone()
	for _, fs := range open {
		v.Sessions = append(v.Sessions, sessionRow{ID: fs.ID, Short: fs.ID[:8], Started: showTime(fs.CreatedAt, tz),
			Expires: showTime(fs.ExpiresAt, tz), RemoteIP: fs.RemoteIP, UserAgent: fs.UserAgent, Current: fs.ID == sess.key()})
	}
	return h.render(c, status, "sessions", v)
}

// endSessionAction is POST /finance/sessions/{id}/end: ends one of the admin's own open sessions
// everywhere (audited: logout). Ending this very session signs out.
func (h *Handler) endSessionAction(c echo.Context) error {
	sess, _ := c.Get(sessionKey).(session)
	id := c.Param("id")
	if err := h.deps.Sessions.EndSession(c.Request().Context(), id, sess.Admin, h.requestID(c)); err != nil {
		if order.ErrorCode(err) == order.ENOTFOUND {
			err = order.Errorf(order.ENOTFOUND, "You have no open session %.8s; it may have ended already.", id)
		}
		status, msg := h.errorStatus(c, err)
		return h.showSessions(c, status, "", msg)
	}
	if id == sess.key() {
		c.SetCookie(h.cookie(sessionCookie, "", -1))
		return c.Redirect(http.StatusSeeOther, "/finance/login")
	}
	return c.Redirect(http.StatusSeeOther, "/finance/sessions?done=ended")
}
