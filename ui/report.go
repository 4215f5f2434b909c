package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

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
