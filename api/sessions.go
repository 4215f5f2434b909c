package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

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
