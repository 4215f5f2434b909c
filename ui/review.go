package ui

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

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
