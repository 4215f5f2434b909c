package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// The finance pages' handlers. Each reads its URL exactly as the JSON API reads the same
// question (adminFilter, pageParams, reportTZ), asks the order service once or twice, and turns
// the answer into a view of display-ready strings for its template: the templates only lay text
// out, and html/template escapes every bit of it.

// shownTime is how every time is shown: in the page's zone, to the second, with the offset.
const shownTime = "2006-01-02 15:04:05 -07:00"

// zones are the time zones the pages offer (the configured one is added): where mospay's
// merchants and finance work.
var zones = []string{"UTC", "Asia/Phnom_Penh", "Asia/Bangkok", "Asia/Ho_Chi_Minh", "Asia/Singapore",
	"Asia/Shanghai", "Asia/Tokyo", "Europe/London", "America/New_York"}

func showTime(t time.Time, tz *time.Location) string { return t.In(tz).Format(shownTime) }

// showTimePtr is showTime of a time that may not be set ("—").
func showTimePtr(t *time.Time, tz *time.Location) string {
	if t == nil {
		return "—"
	}
	return showTime(*t, tz)
}

// option is one <option> of a <select>.
type option struct {
	Value, Label string
	Selected     bool
}

// options builds a select's options from value/label pairs, selecting current.
func options(current string, pairs ...string) []option {
	out := make([]option, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, option{Value: pairs[i], Label: pairs[i+1], Selected: pairs[i] == current})
	}
	return out
}

// zoneOptions are the zone select's options: the usual zones, the configured one, and the one
// the URL chose if it is none of those.
func (h *Handler) zoneOptions(current string) []option {
	def := h.deps.API.DefaultZone().String()
	var pairs []string
	seen := map[string]bool{}
	add := func(name, label string) {
		if name != "" && !seen[name] && h.deps.API.KnownZone(name) {
			seen[name] = true
			pairs = append(pairs, name, label)
		}
	}
	for _, z := range zones {
		label := z
		if z == def {
			label += " (default)"
		}
		add(z, label)
	}
	add(def, def+" (default)")
	add(current, current)
	return options(current, pairs...)
}

// storyURL is an order's page, in zone tz.
func storyURL(outTradeNo, tz string) string {
	return "/finance/orders/" + url.PathEscape(outTradeNo) + "?tz=" + queryEscape(tz)
}

// orderRow is an order as a list shows it.
type orderRow struct {
	OutTradeNo, URL, Created, Status, Amount, OpenID, PaidAt string
	Flags                                                    []string
	Reference                                                string // the merchant's, if a merchant made it
}

func newOrderRow(o *order.Order, tz *time.Location) orderRow {
	r := orderRow{OutTradeNo: o.OutTradeNo, URL: storyURL(o.OutTradeNo, tz.String()), Created: showTime(o.CreatedAt, tz),
		Status: string(o.Status), Amount: showAmount(o.Amount.Minor, o.Amount.Currency), OpenID: o.OpenID,
		PaidAt: showTimePtr(o.PaidAt, tz), Reference: o.Reference}
	for _, f := range o.Flags {
		r.Flags = append(r.Flags, string(f))
	}
	return r
}

// filterForm is the orders' and the report's filter form, filled from the URL.
type filterForm struct {
	Action                        string
	Q, From, To, FromType, ToType string
	// Today is "FROM/TO" when the dates are the ones the page chose (today, nothing typed): the
	// form sends it back as a hidden field, so that unchanged dates stay "today" in whatever zone
	// the form asks for next (see defaultPeriod).
	Today                         string
	Status, Currency, Flag, Basis []option
	Zones                         []option
	Reset                         string // the same page with the defaults
	// Summary is the filter in one line, shown instead of the form on a phone until opened; Open
	// unfolds it (the filter could not be read: finance must see the form).
	Summary string
	Open    bool
	// Shortcuts are other periods in the page's zone (Yesterday, Last 7 days, This month), keeping
	// the other filters.
	Shortcuts []navLink
}

func (h *Handler) filterForm(c echo.Context, action, tz string) filterForm {
	f := filterForm{Action: action, Q: c.QueryParam("q"), From: c.QueryParam("from"), To: c.QueryParam("to"),
		FromType: dateInputType(c.QueryParam("from")), ToType: dateInputType(c.QueryParam("to")),
		Zones: h.zoneOptions(tz), Reset: action + "?tz=" + queryEscape(tz)}
	if loc, err := time.LoadLocation(tz); err == nil && h.deps.API.KnownZone(tz) {
		now := h.deps.Now().In(loc)
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
		q := filterQuery(c)
		for _, p := range []struct {
			label    string
			from, to time.Time
		}{
			{"Yesterday", today.AddDate(0, 0, -1), today},
			{"Last 7 days", today.AddDate(0, 0, -6), today.AddDate(0, 0, 1)},
			{"This month", today.AddDate(0, 0, 1-today.Day()), today.AddDate(0, 0, 1)},
		} {
			u := cloneValues(q)
			u.Set("from", p.from.Format(time.DateOnly))
			u.Set("to", p.to.Format(time.DateOnly))
			cur := c.QueryParam("from") == u.Get("from") && c.QueryParam("to") == u.Get("to")
			f.Shortcuts = append(f.Shortcuts, navLink{Label: p.label, URL: withQuery(action, u), Current: cur})
		}
	}
	if today, _ := c.Get(ctxToday).(bool); today {
		f.Today = f.From + "/" + f.To
	}
	st := []string{"", "Any status"}
	for _, v := range order.Statuses {
		st = append(st, string(v), string(v))
	}
	f.Status = options(c.QueryParam("status"), st...)
	cur := []string{"", "Any currency"}
	for _, v := range money.Currencies {
		cur = append(cur, string(v), string(v))
	}
	f.Currency = options(c.QueryParam("currency"), cur...)
	fl := []string{"", "With or without flags", "any", "Any active flag"}
	for _, v := range order.Flags {
		fl = append(fl, string(v), string(v))
	}
	f.Flag = options(c.QueryParam("flag"), fl...)
	basis := c.QueryParam("basis")
	if basis == "" {
		basis = string(order.BasisCreated)
	}
	f.Basis = options(basis, string(order.BasisCreated), "Created in the period", string(order.BasisPaid), "Paid or refunded in the period")
	parts := []string{"Filters"}
	for _, k := range []string{"status", "currency", "flag"} {
		if v := c.QueryParam(k); v != "" {
			parts = append(parts, v)
		}
	}
	if f.Q != "" {
		parts = append(parts, "“"+f.Q+"”")
	}
	switch {
	case f.Today != "":
		parts = append(parts, "today")
	case f.From == "" && f.To == "":
		parts = append(parts, "all time")
	default:
		parts = append(parts, strings.TrimSpace(f.From+" to "+f.To))
	}
	f.Summary = strings.Join(parts, " · ") + " (" + tz + ")"
	return f
}

// dateInputType is "date" for a date (or nothing), "text" for an RFC 3339 time given in the URL,
// which a date input would silently drop.
func dateInputType(v string) string {
	if v == "" {
		return "date"
	}
	if _, err := time.Parse("2006-01-02", v); err == nil {
		return "date"
	}
	return "text"
}

// ctxToday marks a request whose period defaultPeriod chose (today in the page's zone).
const ctxToday = "mospay.today"

// defaultPeriod makes a URL that names neither from nor to mean today in the page's zone, and
// says so in the request's query, so that the form, the period line, the paging and the CSV
// link all carry the period shown. A URL with from= and to= empty means all time.
//
// The form carries the dates it was given as today=FROM/TO. When it comes back with the same
// dates, finance typed none: they still mean today, computed again in the zone the form now
// asks for. Without this, switching the zone to Asia/Phnom_Penh at 17:01 UTC would keep the UTC
// day's dates and show yesterday in Phnom Penh. Dates finance typed differ from the mark and stay
// as typed.
func (h *Handler) defaultPeriod(c echo.Context) error {
	q := c.QueryParams() // Echo's parsed copy of the URL's query, which QueryParam reads
	if mark := q.Get("today"); mark != "" {
		q.Del("today")
		if mark == q.Get("from")+"/"+q.Get("to") {
			q.Del("from")
			q.Del("to")
		}
	}
	if q.Has("from") || q.Has("to") {
		return nil
	}
	tz, err := h.deps.API.ReportTZ(c)
	if err != nil {
		return err
	}
	now := h.deps.Now().In(tz)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, tz)
	q.Set("from", today.Format(time.DateOnly))
	q.Set("to", today.AddDate(0, 0, 1).Format(time.DateOnly))
	c.Set(ctxToday, true)
	return nil
}

// filterQuery is the URL query of the filter the page shows, for its links (paging, CSV, the
// other page): from and to are always present, empty for an open side.
func filterQuery(c echo.Context) url.Values {
	v := url.Values{}
	for _, k := range []string{"status", "currency", "flag", "q", "openid", "basis", "tz", "limit"} {
		if x := c.QueryParam(k); x != "" {
			v.Set(k, x)
		}
	}
	v.Set("from", c.QueryParam("from"))
	v.Set("to", c.QueryParam("to"))
	return v
}

// withQuery is path?query.
func withQuery(path string, q url.Values) string { return path + "?" + q.Encode() }

// periodText says which orders a filter's period selects, as instants in tz.
func periodText(f order.ListFilter, tz *time.Location) string {
	what := "Orders created"
	if f.Basis == order.BasisPaid {
		what = "Orders paid or refunded"
	}
	zone := " (" + tz.String() + ")"
	switch {
	case f.From == nil && f.To == nil:
		return what + " at any time" + zone
	case f.To == nil:
		return what + " from " + showTime(*f.From, tz) + " on" + zone
	case f.From == nil:
		return what + " before " + showTime(*f.To, tz) + zone
	}
	return what + " from " + showTime(*f.From, tz) + " until " + showTime(*f.To, tz) + zone
}

// ordersView is /finance/orders.
type ordersView struct {
	chrome
	Form       filterForm
	Period     string
	Orders     []orderRow
	Empty      bool
	NextURL    string // the next page; "" on the last
	FirstURL   string // the first page, when this is not it
	CSVURL     string
	ReportURL  string
	Summary    *summaryView
	SummaryErr string
	// Exact: the search named one order's outTradeNo or prepayId, shown whatever the period.
	Exact bool
	// Outside says how many orders the search matches outside the period ("7 matches"), and
	// OutsideURL shows them (the same search over all time).
	Outside, OutsideURL string
}

// ordersPage is GET /finance/orders: a page of the orders the URL's filter selects, and under it
// the counts and sums of all of them (the report of the same filter).
func (h *Handler) ordersPage(c echo.Context) error {
	v := ordersView{chrome: h.chrome(c, "orders", "Orders")}
	status, f, tz, err := h.pageFilter(c)
	v.Form = h.filterForm(c, "/finance/orders", tz.String())
	if err != nil {
		v.Error, v.Form.Open = err.Error(), true
		return h.render(c, status, "orders", v)
	}
	ctx := c.Request().Context()
	q := filterQuery(c)
	if f.Search != "" && (f.From != nil || f.To != nil) {
		if v.Exact, err = h.exactMatch(c, f.Search); err != nil {
			status, v.Error = h.errorStatus(c, err)
			return h.render(c, status, "orders", v)
		}
		if v.Exact {
			// One order, named exactly: shown whatever its date.
			f.From, f.To = nil, nil
			q.Set("from", "")
			q.Set("to", "")
		}
	}
	p, err := h.deps.Orders.List(ctx, f)
	if err != nil {
		status, v.Error = h.errorStatus(c, err)
		return h.render(c, status, "orders", v)
	}
	if f.Search != "" && !v.Exact && (f.From != nil || f.To != nil) {
		v.Outside, v.OutsideURL, err = h.outsidePeriod(c, f, q)
		if err != nil {
			status, v.Error = h.errorStatus(c, err)
			return h.render(c, status, "orders", v)
		}
	}
	v.Period = periodText(f, tz)
	v.CSVURL = withQuery("/finance/orders.csv", q)
	v.ReportURL = withQuery("/finance/report", q)
	here := cloneValues(q)
	if f.Cursor != "" {
		here.Set("cursor", f.Cursor)
	}
	back := "&back=" + queryEscape(withQuery("/finance/orders", here))
	for _, o := range p.Orders {
		r := newOrderRow(o, tz)
		r.URL += back
		v.Orders = append(v.Orders, r)
	}
	v.Empty = len(v.Orders) == 0
	if p.NextCursor != "" {
		next := cloneValues(q)
		next.Set("cursor", p.NextCursor)
		v.NextURL = withQuery("/finance/orders", next)
	}
	if f.Cursor != "" {
		v.FirstURL = withQuery("/finance/orders", q)
	}
	r, err := h.deps.Orders.Report(ctx, f)
	if err != nil {
		_, v.SummaryErr = h.errorStatus(c, err)
	} else {
		v.Summary = newSummary(r, tz)
	}
	return h.render(c, http.StatusOK, "orders", v)
}

// exactMatch reports whether search is exactly the outTradeNo or the prepayId of an order.
func (h *Handler) exactMatch(c echo.Context, search string) (bool, error) {
	p, err := h.deps.Orders.List(c.Request().Context(), order.ListFilter{Search: search, Limit: 2})
	if err != nil {
		return false, err
	}
	for _, o := range p.Orders {
		if o.OutTradeNo == search || o.PrepayID == search {
			return true, nil
		}
	}
	return false, nil
}

// outsidePeriod counts the orders a search matches outside f's period, and links to them all (the
// same filter over all time); "" when there are none.
func (h *Handler) outsidePeriod(c echo.Context, f order.ListFilter, q url.Values) (string, string, error) {
	ctx := c.Request().Context()
	count := func(f order.ListFilter) (int64, error) {
		r, err := h.deps.Orders.Report(ctx, f)
		if err != nil {
			return 0, err
		}
		var n int64
		for _, t := range r.Totals {
			n += t.Count
		}
		return n, nil
	}
	in, err := count(f)
	if err != nil {
		return "", "", err
	}
	anyTime := f
	anyTime.From, anyTime.To = nil, nil
	all, err := count(anyTime)
	if err != nil || all <= in {
		return "", "", err
	}
	u := cloneValues(q)
	u.Set("from", "")
	u.Set("to", "")
	u.Del("cursor")
	return plural(all-in, "match", "matches"), withQuery("/finance/orders", u), nil
}

// pageFilter reads the list's and the report's filter from the URL, today being the default
// period, exactly as the JSON API reads it (adminFilter). An error is coded, with its status.
func (h *Handler) pageFilter(c echo.Context) (int, order.ListFilter, *time.Location, error) {
	tz, err := h.deps.API.ReportTZ(c)
	if err != nil {
		return http.StatusBadRequest, order.ListFilter{}, h.deps.API.DefaultZone(), pageErr(err)
	}
	if err := h.defaultPeriod(c); err != nil {
		return http.StatusBadRequest, order.ListFilter{}, tz, pageErr(err)
	}
	f, err := h.deps.API.ListFilter(c)
	if err != nil {
		status, _ := h.errorStatus(c, err)
		return status, f, tz, pageErr(err)
	}
	if f.Basis == "" {
		f.Basis = order.BasisCreated
	}
	return http.StatusOK, f, tz, nil
}

// pageErr is an error whose Error() is its message for people (order.ErrorMessage), for pages
// that show it.
func pageErr(err error) error {
	return order.Errorf(order.ErrorCode(err), "%s", order.ErrorMessage(err))
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// summaryView is order.Report, ready to show.
type summaryView struct {
	Totals       []totalRow
	Money        []moneyRow
	AtRisk       []totalRow
	AtRiskOrders []reviewRow
	// Line is the selection in one line: "24 orders · USD 5,171.82 · KHR 2,435,000".
	Line string
	AsOf string // when the report was made
	// CreatedBasis: the period applies to creation, so its figures still change as late payments
	// and refunds of its orders arrive.
	CreatedBasis bool
}

type totalRow struct {
	Currency, Status, Amount string
	MOSAmount                string // at risk: at MOS's amounts
	Count                    int64
}

type moneyRow struct {
	Currency, Paid, Refunded, Net string
	PaidCount, RefundedCount      int64
}

func newSummary(r *order.Report, tz *time.Location) *summaryView {
	v := &summaryView{AsOf: showTime(r.AsOf, tz)}
	var count int64
	var perCurrency []order.Total
	for _, t := range r.Totals {
		v.Totals = append(v.Totals, totalRow{Currency: string(t.Currency), Status: string(t.Status), Count: t.Count,
			Amount: showNumber(t.Minor, t.Currency)})
		count += t.Count
		if n := len(perCurrency); n > 0 && perCurrency[n-1].Currency == t.Currency {
			perCurrency[n-1].Minor += t.Minor
		} else {
			perCurrency = append(perCurrency, order.Total{Currency: t.Currency, Minor: t.Minor})
		}
	}
	parts := []string{plural(count, "order", "orders")}
	for _, t := range perCurrency {
		parts = append(parts, string(t.Currency)+" "+groupDigits(money.Format(t.Minor, t.Currency)))
	}
	v.Line = strings.Join(parts, " · ")
	for _, m := range r.Money {
		v.Money = append(v.Money, moneyRow{Currency: string(m.Currency), PaidCount: m.PaidCount, RefundedCount: m.RefundedCount,
			Paid: showNumber(m.PaidMinor, m.Currency), Refunded: showNumber(m.RefundedMinor, m.Currency),
			Net: showNumber(m.NetMinor(), m.Currency)})
	}
	for _, t := range r.AtRisk {
		mos := t.Minor
		for _, m := range r.AtRiskMOS {
			if m.Currency == t.Currency && m.Count == t.Count {
				mos = m.Minor
			}
		}
		v.AtRisk = append(v.AtRisk, totalRow{Currency: string(t.Currency), Count: t.Count, Amount: showNumber(t.Minor, t.Currency),
			MOSAmount: showNumber(mos, t.Currency)})
	}
	for _, it := range r.AtRiskOrders {
		v.AtRiskOrders = append(v.AtRiskOrders, newReviewRow(it, tz, r.AsOf))
	}
	v.CreatedBasis = r.Filter.Basis != order.BasisPaid
	return v
}

// showAmount is an amount for a finance page, its digits grouped by thousands: "5,171.82 USD".
// The CSV, the API and the demo keep the plain canonical form.
func showAmount(minor int64, c money.Currency) string {
	return groupDigits(money.Format(minor, c)) + " " + string(c)
}

// showNumber is an amount without its currency (a table with a currency column), digits grouped.
func showNumber(minor int64, c money.Currency) string { return groupDigits(money.Format(minor, c)) }

// groupDigits puts a comma between each three digits of a decimal's whole part.
func groupDigits(dec string) string {
	sign := ""
	if strings.HasPrefix(dec, "-") {
		sign, dec = "-", dec[1:]
	}
	whole, frac, hasFrac := strings.Cut(dec, ".")
	var b strings.Builder
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if hasFrac {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

// plural is "1 order" or "24 orders".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// reviewRow is a flagged order: its active flags and MOS's last answer beside its own amount.
type reviewRow struct {
	orderRow
	Desc        string
	ActiveFlags []flagRow
	MOS         string // MOS's last answer, or that there was none
	MOSDiffers  bool   // MOS's amount or currency is not the order's
}

type flagRow struct {
	Flag, RaisedAt, Note string
	Age                  string // how long ago it was raised: "3 h", "2 d"
	Check                string // what to check and what the outcomes do, in finance's words
}

func newReviewRow(it order.ReviewItem, tz *time.Location, now time.Time) reviewRow {
	r := reviewRow{orderRow: newOrderRow(it.Order, tz), Desc: it.Order.Desc, MOS: "MOS never answered about it"}
	for _, f := range it.Flags {
		r.ActiveFlags = append(r.ActiveFlags, flagRow{Flag: string(f.Flag), RaisedAt: showTime(f.RaisedAt, tz), Note: f.Note,
			Age: age(now.Sub(f.RaisedAt)), Check: flagCheck(f.Flag)})
	}
	if a := it.MOS; a != nil {
		r.MOS = strings.TrimSpace(a.Status+" "+a.TotalAmount+" "+a.Currency) + ", at " + showTime(a.At, tz)
		r.MOSDiffers = !sameAmount(a, it.Order.Amount)
	}
	return r
}

// age is a duration for people, roughly: "12 min", "3 h", "2 d".
func age(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(max(d, 0)/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}

// sameAmount reports whether MOS's answer names the order's amount and currency (MOS's text read
// leniently, as mospay reads MOS).
func sameAmount(a *order.MOSAnswer, want money.Amount) bool {
	cur, err := money.ParseCurrency(a.Currency)
	if err != nil || cur != want.Currency {
		return false
	}
	minor, err := money.ParseLenient(a.TotalAmount, cur)
	return err == nil && minor == want.Minor
}

// reviewView is /finance/review.
type reviewView struct {
	chrome
	Zones    []option
	Flags    []option // the flag filter
	Count    string   // how many orders have an active flag: "3 orders"
	Items    []reviewRow
	Empty    bool
	NextURL  string
	FirstURL string
}

// reviewPage is GET /finance/review: every order with an active flag, oldest flag first, a page
// at a time.
func (h *Handler) reviewPage(c echo.Context) error {
	v := reviewView{chrome: h.chrome(c, "review", "Review")}
	tz, err := h.deps.API.ReportTZ(c)
	if err != nil {
		v.Zones = h.zoneOptions(h.deps.API.DefaultZone().String())
		v.Error = order.ErrorMessage(err)
		return h.render(c, http.StatusBadRequest, "review", v)
	}
	v.Zones = h.zoneOptions(tz.String())
	fl := []string{"", "Every flag"}
	for _, f := range order.Flags {
		fl = append(fl, string(f), string(f))
	}
	v.Flags = options(c.QueryParam("flag"), fl...)
	limit, cursor, err := h.deps.API.PageParams(c)
	var flag order.Flag
	if err == nil {
		flag, err = h.deps.API.ReviewFlag(c)
	}
	if err == nil {
		var n int64
		n, err = h.deps.Orders.ReviewCount(c.Request().Context())
		v.Count = plural(n, "order", "orders")
	}
	if err == nil {
		var p order.ReviewPage
		if p, err = h.deps.Orders.Review(c.Request().Context(), order.ReviewFilter{Flag: flag, Limit: limit, Cursor: cursor}); err == nil {
			back := "&back=" + queryEscape(c.Request().URL.RequestURI())
			for _, it := range p.Items {
				r := newReviewRow(it, tz, h.deps.Now())
				r.URL += back
				v.Items = append(v.Items, r)
			}
			q := url.Values{"tz": {tz.String()}}
			if flag != "" {
				q.Set("flag", string(flag))
			}
			if limit > 0 {
				q.Set("limit", c.QueryParam("limit"))
			}
			if p.NextCursor != "" {
				next := cloneValues(q)
				next.Set("cursor", p.NextCursor)
				v.NextURL = withQuery("/finance/review", next)
			}
			if cursor != "" {
				v.FirstURL = withQuery("/finance/review", q)
			}
		}
	}
	if err != nil {
		status, msg := h.errorStatus(c, err)
		v.Error = msg
		return h.render(c, status, "review", v)
	}
	v.Empty = len(v.Items) == 0
	return h.render(c, http.StatusOK, "review", v)
}

// reportView is /finance/report.
type reportView struct {
	chrome
	Form      filterForm
	Period    string
	Summary   *summaryView
	OrdersURL string
	CSVURL    string
}

// reportPage is GET /finance/report: the reconciliation report of the list's filter.
func (h *Handler) reportPage(c echo.Context) error {
	v := reportView{chrome: h.chrome(c, "report", "Report")}
	status, f, tz, err := h.pageFilter(c)
	v.Form = h.filterForm(c, "/finance/report", tz.String())
	if err != nil {
		v.Error, v.Form.Open = err.Error(), true
		return h.render(c, status, "report", v)
	}
	r, err := h.deps.Orders.Report(c.Request().Context(), f)
	if err != nil {
		status, v.Error = h.errorStatus(c, err)
		return h.render(c, status, "report", v)
	}
	q := filterQuery(c)
	v.Period = periodText(f, tz)
	v.Summary = newSummary(r, tz)
	v.OrdersURL = withQuery("/finance/orders", q)
	v.CSVURL = withQuery("/finance/orders.csv", q)
	return h.render(c, http.StatusOK, "report", v)
}

// auditView is /finance/audit.
type auditView struct {
	chrome
	Actor, From, To string
	ActionChoices   []option // the action filter's choices
	Zones           []option
	Actions         []actionRow
	Empty           bool
	NextURL         string
	FirstURL        string
}

type actionRow struct {
	At, Actor, Action, OutTradeNo, OrderURL, UserID, Detail, RequestID, ClientRequestID string
}

// auditAllActions is the audit page's action filter for every action, sign-ins included; with no
// action the page leaves out the sign-in bookkeeping (order.SignInActions).
const auditAllActions = "all"

// actionOptions are the audit page's choices of action, chosen marked.
func actionOptions(chosen string) []option {
	opts := []option{{Value: "", Label: "All but sign-ins", Selected: chosen == ""},
		{Value: auditAllActions, Label: "All, sign-ins too", Selected: chosen == auditAllActions}}
	for _, a := range order.Actions {
		opts = append(opts, option{Value: a, Label: a, Selected: chosen == a})
	}
	return opts
}

// auditPage is GET /finance/audit: the admin actions, newest first, by actor, action and period;
// sign-ins, refused sign-ins and sign-outs only when asked for (action=all, or one of them).
func (h *Handler) auditPage(c echo.Context) error {
	action := c.QueryParam("action")
	v := auditView{chrome: h.chrome(c, "audit", "Audit"), Actor: c.QueryParam("actor"), From: c.QueryParam("from"),
		To: c.QueryParam("to"), ActionChoices: actionOptions(action)}
	tz, err := h.deps.API.ReportTZ(c)
	if err != nil {
		v.Zones = h.zoneOptions(h.deps.API.DefaultZone().String())
		v.Error = order.ErrorMessage(err)
		return h.render(c, http.StatusBadRequest, "audit", v)
	}
	v.Zones = h.zoneOptions(tz.String())
	var p order.AuditPage
	filterAction := action
	if action == auditAllActions {
		filterAction = ""
	}
	f, err := h.deps.API.AuditFilter(c, filterAction)
	if action == "" {
		f.Except = order.SignInActions
	}
	if err == nil {
		p, err = h.deps.Orders.Audit(c.Request().Context(), f)
	}
	if err != nil {
		status, msg := h.errorStatus(c, err)
		v.Error = msg
		return h.render(c, status, "audit", v)
	}
	for _, a := range p.Actions {
		r := actionRow{At: showTime(a.At, tz), Actor: a.Actor, Action: a.Action, OutTradeNo: a.OutTradeNo, UserID: a.UserID,
			Detail: auditDetail(a.Detail), RequestID: a.RequestID, ClientRequestID: a.ClientRequestID}
		if a.OutTradeNo != "" {
			r.OrderURL = storyURL(a.OutTradeNo, tz.String())
		}
		v.Actions = append(v.Actions, r)
	}
	v.Empty = len(v.Actions) == 0
	q := url.Values{"tz": {tz.String()}, "actor": {v.Actor}, "action": {action}, "from": {v.From}, "to": {v.To}}
	if l := c.QueryParam("limit"); l != "" {
		q.Set("limit", l)
	}
	if p.NextCursor != "" {
		next := cloneValues(q)
		next.Set("cursor", p.NextCursor)
		v.NextURL = withQuery("/finance/audit", next)
	}
	if f.Cursor != "" {
		v.FirstURL = withQuery("/finance/audit", q)
	}
	return h.render(c, http.StatusOK, "audit", v)
}
