package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// The filter the orders page and the report share: read from the URL (today by default), shown
// as a form, and carried by their links.

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

// pageFilter reads the list's and the report's filter from the URL, today being the default
// period, exactly as the JSON API reads it (API.ListFilter). An error is coded, with its status.
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
