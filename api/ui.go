package api

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// What the finance pages (package ui) share with the JSON API: *Server is their ui.API, so that
// a page reads its URL, recognises an admin token and answers an error exactly as the API does.
// Each method is the API's own helper, named for the pages.

// RequestID is mospay's own id of the request (requestIDs).
func (s *Server) RequestID(c echo.Context) string { return requestID(c) }

// ErrorStatus is the HTTP status and the message the API answers err with; a 5xx is logged with
// the request id.
func (s *Server) ErrorStatus(c echo.Context, err error) (int, string) {
	status, _, msg := answerOf(s.deps.Logger, c, err, "finance page failed")
	return status, msg
}

// ListFilter reads the orders' filter as GET /admin/orders does (adminFilter).
func (s *Server) ListFilter(c echo.Context) (order.ListFilter, error) { return s.adminFilter(c) }

// ReportTZ is the request's time zone (reportTZ).
func (s *Server) ReportTZ(c echo.Context) (*time.Location, error) { return s.reportTZ(c) }

// DefaultZone is MOSPAY_REPORT_TZ, or UTC.
func (s *Server) DefaultZone() *time.Location { return s.defaultZone() }

// KnownZone reports whether name is a time zone ReportTZ takes.
func (s *Server) KnownZone(name string) bool {
	_, err := loadZone(name)
	return err == nil
}

// PageParams reads limit and cursor (pageParams).
func (s *Server) PageParams(c echo.Context) (limit int, cursor string, err error) {
	return pageParams(c)
}

// ReviewFlag reads the review queue's flag filter (reviewFlag).
func (s *Server) ReviewFlag(c echo.Context) (order.Flag, error) { return reviewFlag(c) }

// AuditFilter reads the audit trail's filter with action (auditFilter).
func (s *Server) AuditFilter(c echo.Context, action string) (order.AuditFilter, error) {
	return s.auditFilter(c, action)
}

// OrdersCSV is GET /admin/orders.csv (adminCSV), audited under the admin the context names.
func (s *Server) OrdersCSV(c echo.Context) error { return s.adminCSV(c) }

// AdminByToken is the name of the configured admin token equal to token (adminByToken).
func (s *Server) AdminByToken(token string) string { return s.adminByToken(token) }

// AdminAuthFailed counts a failed admin authentication from the request's address, towards the
// limit the bearer tokens count too; over it, it is the 429 to answer, saying msg.
func (s *Server) AdminAuthFailed(c echo.Context, msg string) error {
	return s.adminAuthFailed(c, "admin_auth", msg)
}
