package api

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// MinAdminToken is the shortest admin token mospay accepts (MOSPAY_ADMIN_TOKENS; start-up refuses
// a shorter one). The failure limit slows guessing from one address but does not stop it, so a
// token must be long enough that guessing is hopeless anyway: 32 random characters.
const MinAdminToken = 32

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
		tok, _ := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		name := s.adminByToken(tok)
		if name == "" {
			return s.refuseBearer(c, "admin_auth", "mospay-admin",
				"too many failed admin authentications from this address; wait", "an admin bearer token is required")
		}
		c.Set("admin", name)
		return next(c)
	}
}

// refuseBearer answers a request whose bearer credential (an admin token, a merchant key) matched
// none: 401 naming the realm, or 429 once the address has failed too often. Every failure counts
// towards the address's one limit of failed authentications, whichever credential it tried.
func (s *Server) refuseBearer(c echo.Context, limit, realm, limitedMsg, missingMsg string) error {
	if err := s.adminAuthFailed(c, limit, limitedMsg); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+realm+`"`)
	return order.Errorf(order.EUNAUTHORIZED, "%s", missingMsg)
}

// adminByToken is the name of the configured admin token equal to token, compared in constant
// time against every one of them (secretName); "" when none is.
func (s *Server) adminByToken(token string) string {
	return secretName(token, s.cfg.AdminTokens, func(a AdminToken) (string, string) { return a.Name, a.Token })
}

// secretName is the name of the configured secret equal to presented, compared in constant time
// against every one of them, whichever matches, so that the time taken says nothing of which or
// whether; "" when none is (or presented is empty). Admin tokens and merchant keys use it.
func secretName[T any](presented string, all []T, pair func(T) (name, secret string)) string {
	found := ""
	for _, x := range all {
		name, secret := pair(x)
		if subtle.ConstantTimeCompare([]byte(presented), []byte(secret)) == 1 && found == "" && presented != "" {
			found = name
		}
	}
	return found
}

func adminOf(c echo.Context) string {
	name, _ := c.Get("admin").(string)
	return name
}

// adminFilter reads finance's filter, the same for the list, the report, the CSV and the pages:
// status, currency, flag (a flag's name, or "any"), openid, q (an outTradeNo, prepayId or
// openid), basis (created or paid), from and to (dates in tz, or RFC 3339 instants; either may be
// left out: the period is then open on that side), tz, limit, cursor.
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
	switch v := c.QueryParam("flag"); v {
	case "":
	case "any":
		f.AnyFlag = true
	default:
		fl, err := order.ParseFlag(v)
		if err != nil {
			return f, err
		}
		f.Flag = fl
	}
	f.OpenID = c.QueryParam("openid")
	if q := strings.TrimSpace(c.QueryParam("q")); q != "" {
		if len(q) > 128 {
			return f, order.Errorf(order.EINVALID, "q: an outTradeNo, prepayId or openid (at most 128 characters)")
		}
		f.Search = q
	}
	if f.Basis, err = order.ParseBasis(c.QueryParam("basis")); err != nil {
		return f, err
	}
	if _, err := s.reportTZ(c); err != nil { // an unknown tz is refused even without dates
		return f, err
	}
	if f.From, err = s.timeParam(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = s.timeParam(c, "to"); err != nil {
		return f, err
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return f, order.Errorf(order.EINVALID, "from must be before to")
	}
	return f, nil
}

// reportTZ is the request's time zone: tz from the URL, else the configured one (defaultZone).
func (s *Server) reportTZ(c echo.Context) (*time.Location, error) {
	if v := c.QueryParam("tz"); v != "" {
		loc, err := loadZone(v)
		if err != nil {
			return nil, order.Errorf(order.EINVALID, "tz: unknown time zone %q", v)
		}
		return loc, nil
	}
	return s.defaultZone(), nil
}

// defaultZone is MOSPAY_REPORT_TZ, or UTC.
func (s *Server) defaultZone() *time.Location {
	if s.cfg.ReportTZ != nil {
		return s.cfg.ReportTZ
	}
	return time.UTC
}

// zoneCache holds the time zones loaded so far: time.LoadLocation reads and parses a file each
// time, and one page asks for its zone several times. Only canonical names of zones that exist
// are kept, and at most maxCachedZones of them (the zone database has about 600).
var zoneCache struct {
	sync.Mutex
	zones map[string]*time.Location
}

const maxCachedZones = 1024

// zoneName is what a canonical zone name looks like: "UTC", "Asia/Tokyo",
// "America/Argentina/Buenos_Aires", "Etc/GMT+7"; never a "." or ".." part, a leading or doubled
// "/", or anything time.LoadLocation would read as a path of another spelling.
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$`)

// loadZone loads the zone with a canonical name (zoneName; not "Local", the server's own).
// Another spelling of a zone (Asia/./Tokyo) is an unknown zone.
func loadZone(name string) (*time.Location, error) {
	if len(name) > 64 || !zoneName.MatchString(name) || name == "Local" ||
		strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/") { // copies of the database under other names
		return nil, fmt.Errorf("api: %q is not a canonical time zone name", name)
	}
	zoneCache.Lock()
	loc, ok := zoneCache.zones[name]
	zoneCache.Unlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zoneCache.Lock()
	if zoneCache.zones == nil {
		zoneCache.zones = make(map[string]*time.Location)
	}
	if len(zoneCache.zones) < maxCachedZones {
		zoneCache.zones[name] = loc
	}
	zoneCache.Unlock()
	return loc, nil
}

// timeParam reads the query parameter name as a date (midnight in the request's zone, reportTZ)
// or an RFC 3339 instant; nil when it is absent.
func (s *Server) timeParam(c echo.Context, name string) (*time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	tz, err := s.reportTZ(c)
	if err != nil {
		return nil, err
	}
	t, err := parseDay(v, tz, name)
	if err != nil {
		return nil, err
	}
	return &t, nil
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

// csvFileName names the export by its period, in tz: mospay-orders-2026-11-01-to-2026-12-01.csv.
func csvFileName(f order.ListFilter, tz *time.Location) string {
	day := func(t *time.Time, open string) string {
		if t == nil {
			return open
		}
		return t.In(tz).Format(time.DateOnly)
	}
	name := "mospay-orders-" + day(f.From, "start") + "-to-" + day(f.To, "now")
	if f.Basis == order.BasisPaid {
		name += "-by-payment"
	}
	return name + ".csv"
}

// adminCSV streams every order matching the filter, page by page, so memory stays flat, through
// OrderCSV: with a byte order mark unless bom=0, times in the chosen zone.
func (s *Server) adminCSV(c echo.Context) error {
	f, err := s.adminFilter(c)
	if err != nil {
		return err
	}
	tz, err := s.reportTZ(c)
	if err != nil {
		return err
	}
	bom := true
	switch c.QueryParam("bom") {
	case "", "1":
	case "0":
		bom = false
	default:
		return order.Errorf(order.EINVALID, "bom: 0 or 1")
	}
	ctx := c.Request().Context()
	f.Limit, f.Cursor = order.MaxPageSize, ""
	first, err := s.deps.Orders.List(ctx, f)
	if err != nil {
		return err
	}
	// An export reads payers' data in bulk: audited, with its filter, before a byte is sent.
	if err := s.deps.Orders.Record(ctx, order.AdminAction{Actor: adminOf(c), Action: order.ActionExport,
		Detail: exportDetail(f, tz), RequestID: requestID(c)}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+csvFileName(f, tz)+`"`)
	c.Response().WriteHeader(http.StatusOK)
	enc := NewOrderCSV(c.Response(), tz, bom)
	for page := first; ; {
		if err := enc.Encode(page.Orders); err != nil || page.NextCursor == "" {
			return err
		}
		f.Cursor = page.NextCursor
		if page, err = s.deps.Orders.List(ctx, f); err != nil {
			// The header is sent: all that is left is to cut the file short, visibly.
			s.deps.Logger.Error("csv export cut short", "request_id", requestID(c), "err", err)
			return enc.CutShort(order.ErrorMessage(err))
		}
	}
}

// exportDetail is an export's filter as the audit trail keeps it: the filter as read (not the
// raw query), as query parameters, at most 1,000 bytes.
func exportDetail(f order.ListFilter, tz *time.Location) string {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("status", string(f.Status))
	set("currency", string(f.Currency))
	set("flag", string(f.Flag))
	if f.AnyFlag {
		set("flag", "any")
	}
	set("openid", f.OpenID)
	set("q", f.Search)
	set("basis", string(f.Basis))
	if f.From != nil {
		set("from", f.From.In(tz).Format(time.RFC3339))
	}
	if f.To != nil {
		set("to", f.To.In(tz).Format(time.RFC3339))
	}
	set("tz", tz.String())
	d := v.Encode()
	if len(d) > 1000 {
		d = d[:1000] + "..."
	}
	return d
}

// ReportJSON is GET /admin/reports/reconciliation: the orders the list shows for the same query,
// counted; the money that moved; what is at risk.
type ReportJSON struct {
	From   *string          `json:"from"` // the period, as instants with the zone's offset; null: open on that side
	To     *string          `json:"to"`
	TZ     string           `json:"tz"`
	Basis  string           `json:"basis"`
	Totals []TotalJSON      `json:"totals"`
	Money  []MoneyJSON      `json:"money"`
	AtRisk []AtRiskJSON     `json:"atRisk"`
	Review []ReviewItemJSON `json:"review"`
	AsOf   string           `json:"asOf"` // when the report was made
}

// TotalJSON is one line of the report.
type TotalJSON struct {
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Count    int64  `json:"count"`
	Amount   string `json:"amount"`
}

// CountAmountJSON is a count of orders and their sum.
type CountAmountJSON struct {
	Count  int64  `json:"count"`
	Amount string `json:"amount"`
}

// MoneyJSON is one currency's money in the period: paid, refunded, and the net of the two.
type MoneyJSON struct {
	Currency string          `json:"currency"`
	Paid     CountAmountJSON `json:"paid"`
	Refunded CountAmountJSON `json:"refunded"`
	Net      string          `json:"net"`
}

// AtRiskJSON is one currency's selected orders with active flags, at the orders' amounts and at
// what MOS reported for them (each order, with MOS's answer beside it, is in review).
type AtRiskJSON struct {
	Currency  string `json:"currency"`
	Count     int64  `json:"count"`
	Amount    string `json:"amount"`
	MOSAmount string `json:"mosAmount"`
}

// ReviewItemJSON is a flagged order: the order, its active flags with their notes, and MOS's
// last answer beside the order's own amount.
type ReviewItemJSON struct {
	OrderJSON
	ActiveFlags []FlagJSON     `json:"activeFlags"`
	MOS         *MOSAnswerJSON `json:"mos"` // null when MOS never answered about the order
}

// MOSAnswerJSON is MOS's last answer about an order, as MOS sent it.
type MOSAnswerJSON struct {
	Status      string `json:"status"`
	TotalAmount string `json:"totalAmount"`
	Currency    string `json:"currency"`
	At          string `json:"at"`
}

func reviewItemView(it order.ReviewItem) ReviewItemJSON {
	v := ReviewItemJSON{OrderJSON: orderView(it.Order, true), ActiveFlags: make([]FlagJSON, len(it.Flags))}
	for i, f := range it.Flags {
		v.ActiveFlags[i] = flagView(f)
	}
	if a := it.MOS; a != nil {
		v.MOS = &MOSAnswerJSON{Status: a.Status, TotalAmount: a.TotalAmount, Currency: a.Currency, At: rfc3339(a.At)}
	}
	return v
}

// instant is t in tz with its offset, or null.
func instant(t *time.Time, tz *time.Location) *string {
	if t == nil {
		return nil
	}
	s := t.In(tz).Format(time.RFC3339)
	return &s
}

// adminReport is the report of the orders the list's filters select (adminFilter): the same
// period rules, the same basis, so that its totals equal what the list shows.
func (s *Server) adminReport(c echo.Context) error {
	f, err := s.adminFilter(c)
	if err != nil {
		return err
	}
	tz, err := s.reportTZ(c)
	if err != nil {
		return err
	}
	r, err := s.deps.Orders.Report(c.Request().Context(), f)
	if err != nil {
		return err
	}
	basis := f.Basis
	if basis == "" {
		basis = order.BasisCreated
	}
	out := ReportJSON{From: instant(f.From, tz), To: instant(f.To, tz), TZ: tz.String(), Basis: string(basis), AsOf: rfc3339(r.AsOf),
		Totals: []TotalJSON{}, Money: []MoneyJSON{}, AtRisk: []AtRiskJSON{}, Review: []ReviewItemJSON{}}
	for _, t := range r.Totals {
		out.Totals = append(out.Totals, TotalJSON{Currency: string(t.Currency), Status: string(t.Status), Count: t.Count,
			Amount: money.Format(t.Minor, t.Currency)})
	}
	for _, m := range r.Money {
		out.Money = append(out.Money, MoneyJSON{Currency: string(m.Currency),
			Paid:     CountAmountJSON{Count: m.PaidCount, Amount: money.Format(m.PaidMinor, m.Currency)},
			Refunded: CountAmountJSON{Count: m.RefundedCount, Amount: money.Format(m.RefundedMinor, m.Currency)},
			Net:      money.Format(m.NetMinor(), m.Currency)})
	}
	for _, t := range r.AtRisk {
		out.AtRisk = append(out.AtRisk, AtRiskJSON{Currency: string(t.Currency), Count: t.Count, Amount: money.Format(t.Minor, t.Currency),
			MOSAmount: money.Format(mosMinor(r.AtRiskMOS, t), t.Currency)})
	}
	for _, it := range r.AtRiskOrders {
		out.Review = append(out.Review, reviewItemView(it))
	}
	return c.JSON(http.StatusOK, out)
}

// mosMinor is at-risk line t at MOS's amounts (order.Report.AtRiskMOS); the order's amount when the
// at-risk orders were more than the report lists.
func mosMinor(mos []order.Total, t order.Total) int64 {
	for _, m := range mos {
		if m.Currency == t.Currency && m.Count == t.Count {
			return m.Minor
		}
	}
	return t.Minor
}

// ReviewJSON is GET /admin/review.
type ReviewJSON struct {
	Orders     []ReviewItemJSON `json:"orders"`
	NextCursor string           `json:"nextCursor"`
}

// adminReview is GET /admin/review: every order with an active flag, oldest flag first, with
// MOS's last answer.
func (s *Server) adminReview(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	flag, err := reviewFlag(c)
	if err != nil {
		return err
	}
	p, err := s.deps.Orders.Review(c.Request().Context(), order.ReviewFilter{Flag: flag, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	out := ReviewJSON{Orders: make([]ReviewItemJSON, len(p.Items)), NextCursor: p.NextCursor}
	for i, it := range p.Items {
		out.Orders[i] = reviewItemView(it)
	}
	return c.JSON(http.StatusOK, out)
}

// reviewFlag reads the review queue's flag filter: a flag's name, or "" or "any" for every flag.
func reviewFlag(c echo.Context) (order.Flag, error) {
	switch v := c.QueryParam("flag"); v {
	case "", "any":
		return "", nil
	default:
		return order.ParseFlag(v)
	}
}

// resolveBody is POST /admin/orders/{outTradeNo}/flags/{flag}/resolve.
type resolveBody struct {
	Note    string `json:"note"`
	Outcome string `json:"outcome"` // watch (the default), accept_mos or close
}

// adminResolve is POST /admin/orders/{outTradeNo}/flags/{flag}/resolve {"note", "outcome"}:
// resolves an active flag with finance's note and an outcome (order.Resolve decides; audited, and
// sent as order.flag_resolved); 409 if the flag is not active or the outcome is not allowed now.
// It answers the order.
func (s *Server) adminResolve(c echo.Context) error {
	flag, err := order.ParseFlag(c.Param("flag"))
	if err != nil {
		return err
	}
	var b resolveBody
	if err := bindStrict(c, &b); err != nil {
		return err
	}
	o, err := s.deps.Orders.ResolveFlag(c.Request().Context(), c.Param("outTradeNo"), flag, order.Outcome(b.Outcome), b.Note,
		adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orderView(o, true))
}

// closeBody is POST /admin/orders/{outTradeNo}/close.
type closeBody struct {
	Note string `json:"note"`
}

// adminClose is POST /admin/orders/{outTradeNo}/close {"note"}: closes a stuck order (CREATED or
// PENDING past its expiry, MOS not reporting it paid) as not paid, with finance's note (audited
// as close, sent as order.closed); 409 if the order is not stuck. It answers the order.
func (s *Server) adminClose(c echo.Context) error {
	var b closeBody
	if err := bindStrict(c, &b); err != nil {
		return err
	}
	o, err := s.deps.Orders.CloseStuck(c.Request().Context(), c.Param("outTradeNo"), b.Note, adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orderView(o, true))
}

// adminUsers is GET /admin/users?openid=: the user MOS knows by that openid, if any. The lookup
// reads a payer's data: it is audited (lookup), whether or not it finds anyone.
func (s *Server) adminUsers(c echo.Context) error {
	openid := c.QueryParam("openid")
	if openid == "" {
		return order.Errorf(order.EINVALID, "openid: required")
	}
	if len(openid) > maxOpenIDLen {
		return order.Errorf(order.EINVALID, "openid: at most %d characters", maxOpenIDLen)
	}
	ctx := c.Request().Context()
	users, err := s.deps.Users.UsersByOpenID(ctx, openid)
	if err != nil {
		return err
	}
	a := order.AdminAction{Actor: adminOf(c), Action: order.ActionLookup, Detail: "openid " + openid, RequestID: requestID(c)}
	if len(users) == 1 {
		a.UserID = users[0].ID
	}
	if err := s.deps.Orders.Record(ctx, a); err != nil {
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

// maxOpenIDLen bounds an openid looked up (MOS's are 28 to 64 characters).
const maxOpenIDLen = 128

// auditFilter reads the audit trail's filter, for GET /admin/audit and /finance/audit alike:
// actor, action (one of order.Actions, or "" for every one: the caller reads it), from and to
// (timeParam), limit, cursor.
func (s *Server) auditFilter(c echo.Context, action string) (order.AuditFilter, error) {
	f := order.AuditFilter{Actor: strings.TrimSpace(c.QueryParam("actor")), Action: action}
	if f.Action != "" && !slices.Contains(order.Actions, f.Action) {
		return f, order.Errorf(order.EINVALID, "action: one of %s", strings.Join(order.Actions, ", "))
	}
	if _, err := s.reportTZ(c); err != nil { // an unknown tz is refused even without dates
		return f, err
	}
	var err error
	if f.From, err = s.timeParam(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = s.timeParam(c, "to"); err != nil {
		return f, err
	}
	f.Limit, f.Cursor, err = pageParams(c)
	return f, err
}

// adminAudit is GET /admin/audit?from=&to=&actor=&action=&cursor=&limit=: the admin actions,
// newest first; every action unless action= picks one.
func (s *Server) adminAudit(c echo.Context) error {
	f, err := s.auditFilter(c, c.QueryParam("action"))
	if err != nil {
		return err
	}
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
