package ui

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

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
