package api

import (
	"crypto/subtle"
	_ "embed"
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// AdminToken is one finance/admin bearer token; Name is what the audit records.
type AdminToken struct {
	Name  string
	Token string
}

// requireAdmin lets through a request bearing one of the configured admin tokens, compared in
// constant time (all of them, whichever matches), and records the token's name for the audit.
// A mini-app token is not an admin token: 401.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		name := ""
		if ok {
			for _, a := range s.cfg.AdminTokens {
				if subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) == 1 && name == "" {
					name = a.Name
				}
			}
		}
		if name == "" {
			if s.adminAuthFailed(c) {
				return s.limited(c, "admin_auth", adminAuthWindow/AdminAuthFailures, "too many failed admin authentications from this address; wait")
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="mospay-admin"`)
			return order.Errorf(order.EUNAUTHORIZED, "an admin bearer token is required")
		}
		c.Set("admin", name)
		return next(c)
	}
}

func adminOf(c echo.Context) string {
	name, _ := c.Get("admin").(string)
	return name
}

// adminFilter reads finance's filter: status, currency, from, to (dates in tz or RFC 3339),
// openid, flag, limit, cursor.
func (s *Server) adminFilter(c echo.Context) (order.ListFilter, error) {
	f, err := listFilter(c)
	if err != nil {
		return f, err
	}
	if v := c.QueryParam("currency"); v != "" {
		cur, err := money.ParseCurrency(v)
		if err != nil {
			return f, order.Wrap(order.EINVALID, err, "currency: %s", err.Error())
		}
		f.Currency = cur
	}
	if v := c.QueryParam("flag"); v != "" {
		fl, err := order.ParseFlag(v)
		if err != nil {
			return f, err
		}
		f.Flag = fl
	}
	f.OpenID = c.QueryParam("openid")
	tz, err := s.reportTZ(c)
	if err != nil {
		return f, err
	}
	if v := c.QueryParam("from"); v != "" {
		t, err := parseDay(v, tz, "from")
		if err != nil {
			return f, err
		}
		f.From = &t
	}
	if v := c.QueryParam("to"); v != "" {
		t, err := parseDay(v, tz, "to")
		if err != nil {
			return f, err
		}
		f.To = &t
	}
	return f, nil
}

func (s *Server) reportTZ(c echo.Context) (*time.Location, error) {
	if v := c.QueryParam("tz"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			return nil, order.Errorf(order.EINVALID, "tz: unknown time zone %q", v)
		}
		return loc, nil
	}
	if s.cfg.ReportTZ != nil {
		return s.cfg.ReportTZ, nil
	}
	return time.UTC, nil
}

// parseDay reads a date (YYYY-MM-DD, midnight in tz) or an RFC 3339 instant.
func parseDay(v string, tz *time.Location, name string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", v, tz); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, order.Errorf(order.EINVALID, "%s: a date such as 2026-11-22 or an RFC 3339 time", name)
}

func (s *Server) adminList(c echo.Context) error {
	f, err := s.adminFilter(c)
	if err != nil {
		return err
	}
	p, err := s.deps.Orders.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageView(p, true))
}

func (s *Server) adminStory(c echo.Context) error {
	st, err := s.deps.Orders.Story(c.Request().Context(), c.Param("outTradeNo"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, storyView(st))
}

// adminReconcile is POST /admin/orders/{outTradeNo}/reconcile: ask MOS now, source admin.
func (s *Server) adminReconcile(c echo.Context) error {
	o, err := s.deps.Orders.ReconcileNow(c.Request().Context(), c.Param("outTradeNo"), adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orderView(o, true))
}

// csvHeader is the CSV export's one header row.
var csvHeader = []string{"outTradeNo", "prepayId", "openid", "status", "currency", "totalAmount", "desc", "flags", "expireTime", "createdAt", "updatedAt", "sandbox"}

// adminCSV streams every order matching the filter, page by page, so memory stays flat.
func (s *Server) adminCSV(c echo.Context) error {
	f, err := s.adminFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f.Limit = order.MaxPageSize
	first, err := s.deps.Orders.List(ctx, f)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="mospay-orders.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write(csvHeader)
	page := first
	for {
		for _, o := range page.Orders {
			flags := make([]string, len(o.Flags))
			for i, fl := range o.Flags {
				flags[i] = string(fl)
			}
			_ = w.Write([]string{o.OutTradeNo, o.PrepayID, cell(o.OpenID), string(o.Status), string(o.Amount.Currency),
				o.Amount.String(), cell(o.Desc), strings.Join(flags, ";"), rfc3339(o.ExpireAt), rfc3339(o.CreatedAt),
				rfc3339(o.UpdatedAt), boolText(o.Sandbox)})
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
		if page, err = s.deps.Orders.List(ctx, f); err != nil {
			// The header is sent: all that is left is to cut the file short, visibly.
			s.deps.Logger.Error("csv export cut short", "request_id", requestID(c), "err", err)
			_ = w.Write([]string{"# export incomplete: " + order.ErrorMessage(err)})
			break
		}
	}
	w.Flush()
	return w.Error()
}

// cell keeps user text from being read as a formula when finance opens the CSV in a
// spreadsheet (CSV injection).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// ReportJSON is GET /admin/reports/reconciliation.
type ReportJSON struct {
	From   string      `json:"from"`
	To     string      `json:"to"`
	TZ     string      `json:"tz"`
	Totals []TotalJSON `json:"totals"`
	Review []OrderJSON `json:"review"`
}

// TotalJSON is one line of the report.
type TotalJSON struct {
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Count    int64  `json:"count"`
	Amount   string `json:"amount"`
}

// adminReport counts orders created in [from, to) (default: today in the report's time zone).
func (s *Server) adminReport(c echo.Context) error {
	tz, err := s.reportTZ(c)
	if err != nil {
		return err
	}
	now := s.deps.Now().In(tz)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, tz)
	to := from.AddDate(0, 0, 1)
	if v := c.QueryParam("from"); v != "" {
		if from, err = parseDay(v, tz, "from"); err != nil {
			return err
		}
		if c.QueryParam("to") == "" {
			to = from.AddDate(0, 0, 1)
		}
	}
	if v := c.QueryParam("to"); v != "" {
		if to, err = parseDay(v, tz, "to"); err != nil {
			return err
		}
	}
	r, err := s.deps.Orders.Report(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	out := ReportJSON{From: from.Format(time.RFC3339), To: to.Format(time.RFC3339), TZ: tz.String(),
		Totals: []TotalJSON{}, Review: []OrderJSON{}}
	for _, t := range r.Totals {
		out.Totals = append(out.Totals, TotalJSON{Currency: string(t.Currency), Status: string(t.Status), Count: t.Count,
			Amount: money.Format(t.Minor, t.Currency)})
	}
	for _, o := range r.Review {
		out.Review = append(out.Review, orderView(o, true))
	}
	return c.JSON(http.StatusOK, out)
}

//go:embed finance.html
var financePage []byte

// finance serves the finance web page. The page holds no data: it asks for an admin token and
// calls /admin with it, so the page itself needs none.
func (s *Server) finance(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'")
	h.Set("X-Frame-Options", "DENY")
	return c.HTMLBlob(http.StatusOK, financePage)
}

// adminUsers is GET /admin/users?openid=: the user MOS knows by that openid, if any.
func (s *Server) adminUsers(c echo.Context) error {
	openid := c.QueryParam("openid")
	if openid == "" {
		return order.Errorf(order.EINVALID, "openid: required")
	}
	users, err := s.deps.Users.UsersByOpenID(c.Request().Context(), openid)
	if err != nil {
		return err
	}
	out := UsersJSON{Users: make([]UserJSON, len(users))}
	for i, u := range users {
		out.Users[i] = userView(u)
	}
	return c.JSON(http.StatusOK, out)
}

// adminRevoke is POST /admin/users/{id}/revoke: every token issued to the user until now is
// refused from now on (they log in again), and the audit trail names the admin.
func (s *Server) adminRevoke(c echo.Context) error {
	u, err := s.deps.Users.RevokeUser(c.Request().Context(), c.Param("id"), adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userView(u))
}

// adminAudit is GET /admin/audit?from=&to=&actor=&cursor=&limit=: the admin actions, newest first.
func (s *Server) adminAudit(c echo.Context) error {
	var f order.AuditFilter
	tz, err := s.reportTZ(c)
	if err != nil {
		return err
	}
	if v := c.QueryParam("from"); v != "" {
		t, err := parseDay(v, tz, "from")
		if err != nil {
			return err
		}
		f.From = &t
	}
	if v := c.QueryParam("to"); v != "" {
		t, err := parseDay(v, tz, "to")
		if err != nil {
			return err
		}
		f.To = &t
	}
	lf, err := listFilter(c)
	if err != nil {
		return err
	}
	f.Actor, f.Limit, f.Cursor = c.QueryParam("actor"), lf.Limit, lf.Cursor
	p, err := s.deps.Orders.Audit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := AuditJSON{Actions: make([]ActionJSON, len(p.Actions)), NextCursor: p.NextCursor}
	for i, a := range p.Actions {
		out.Actions[i] = actionView(a)
	}
	return c.JSON(http.StatusOK, out)
}
