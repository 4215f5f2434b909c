package ui

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

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
