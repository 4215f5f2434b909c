package ui

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// An order's story as one timeline: what happened to it, oldest first, whoever recorded it.
// The story's parts (transitions, notifications, queries, flags, admin actions, order events)
// are separate tables, because each is written by another part of mospay; finance reads them as
// one sequence of events, so they are merged here.

// Timeline entry kinds, and their order among entries of the same instant: what an admin asked,
// then what MOS said (a notification, then the query that confirmed it), then what mospay did
// about it (the transition, a flag), then what mospay told others (order events).
const (
	kindAction = iota
	kindNotification
	kindQuery
	kindTransition
	kindFlagRaised
	kindFlagResolved
	kindEvent
)

var kindNames = map[int]string{kindAction: "admin", kindNotification: "notification", kindQuery: "query",
	kindTransition: "status", kindFlagRaised: "flag", kindFlagResolved: "resolved", kindEvent: "event"}

// timelineEntry is one line of the timeline.
type timelineEntry struct {
	at    time.Time
	kind  int
	query string // a query's identity: source, status, amount, currency, error

	At      string   // when, in the page's zone
	Kind    string   // what kind of entry (a CSS class and a label)
	Title   string   // one line saying what happened
	Details []string // further lines
	Raw     string   // a notification's body as received, folded away
	RawType string   // its content type
	Count   int      // identical consecutive queries collapsed into this one (1: none)
	LastAt  string   // when the last of them was made
}

// Repeated is whether the entry stands for several identical queries.
func (e timelineEntry) Repeated() bool { return e.Count > 1 }

// repeated says how often a notification's signed content was received again, "" when never.
func repeated(n order.NotificationRecord) string {
	switch {
	case n.Repeats == 0:
		return ""
	case n.Repeats == 1:
		return "received once more"
	}
	return fmt.Sprintf("received %d more times", n.Repeats)
}

// buildTimeline merges the story's parts into one timeline, oldest first, and collapses
// identical consecutive queries (the reconciler asking again and again, with the same answer)
// into one entry counting them. A flag's resolution is shown once, as the flag's (with the
// admin's note): the admin action that recorded it would only repeat it.
func buildTimeline(st *order.Story, tz *time.Location) []timelineEntry {
	var all []timelineEntry
	add := func(at time.Time, kind int, title string, details ...string) *timelineEntry {
		all = append(all, timelineEntry{at: at, kind: kind, Kind: kindNames[kind], Title: title, Details: nonEmpty(details), Count: 1})
		return &all[len(all)-1]
	}
	for _, t := range st.Transitions {
		title := "Created as " + string(t.To)
		switch {
		case t.From == t.To:
			title = string(t.To) + " kept"
		case t.From != "":
			title = string(t.From) + " → " + string(t.To)
		}
		add(t.At, kindTransition, title+" ("+string(t.Source)+")", t.Reason, labelled("MOS status", t.MOSStatus),
			labelled("request id", t.RequestID))
	}
	for _, n := range st.Notifications {
		e := add(n.ReceivedAt, kindNotification, "Notification from MOS: "+orDefault(n.MOSStatus, "no status"),
			labelled("orderQuery answered", n.QueriedStatus), labelled("outcome", n.Outcome),
			labelled("differs from MOS's answer", n.Disagreement), labelled("request id", n.RequestID),
			repeated(n))
		e.Raw, e.RawType = n.RawBody, n.ContentType
		if n.BodySize > int64(len(n.RawBody)) {
			e.Raw += fmt.Sprintf("\n… (first %d of %d bytes; SHA-256 %s)", len(n.RawBody), n.BodySize, n.BodyHash)
		}
	}
	for _, q := range st.Queries {
		answer := strings.TrimSpace(q.MOSStatus + " " + q.TotalAmount + " " + q.Currency)
		title := "orderQuery (" + string(q.Source) + "): " + orDefault(answer, "no answer")
		if q.Error != "" {
			title = "orderQuery (" + string(q.Source) + ") failed"
		}
		e := add(q.At, kindQuery, title, labelled("error", q.Error))
		e.query = strings.Join([]string{string(q.Source), q.MOSStatus, q.TotalAmount, q.Currency, q.Error}, "\x00")
	}
	for _, f := range st.Flags {
		add(f.RaisedAt, kindFlagRaised, "Flag "+string(f.Flag)+" raised", f.Note)
		if f.ResolvedAt != nil {
			add(*f.ResolvedAt, kindFlagResolved, "Flag "+string(f.Flag)+" resolved by "+orDefault(f.ResolvedBy, "an admin"),
				labelled("outcome", outcomeName(f.Outcome)), f.Resolution)
		}
	}
	for _, a := range st.Actions {
		if a.Action == order.ActionResolve {
			continue // shown as the flag's resolution
		}
		add(a.At, kindAction, actionTitle(a), auditDetail(a.Detail), labelled("request id", a.RequestID))
	}
	for _, ev := range st.Events {
		add(ev.At, kindEvent, "Order event "+string(ev.Type)+" ("+ev.ID+")", deliveriesText(ev.Deliveries))
	}
	slices.SortStableFunc(all, func(a, b timelineEntry) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.kind, b.kind))
	})
	out := make([]timelineEntry, 0, len(all))
	for _, e := range all {
		if n := len(out); n > 0 && e.kind == kindQuery && out[n-1].kind == kindQuery && out[n-1].query == e.query {
			out[n-1].Count++
			out[n-1].LastAt = showTime(e.at, tz)
			continue
		}
		e.At = showTime(e.at, tz)
		out = append(out, e)
	}
	return out
}

// actionTitle says what an admin did.
func actionTitle(a order.AdminAction) string {
	switch a.Action {
	case order.ActionReconcile:
		return a.Actor + " asked MOS now (reconcile)"
	case order.ActionRedeliver:
		return a.Actor + " sent an order event again"
	case order.ActionClose:
		return a.Actor + " closed the stuck order as not paid"
	}
	return a.Actor + ": " + a.Action
}

// auditDetail is an admin action's detail for a page: an outcome's detail (a JSON object, see
// order's actionDetail) in words, "amount_mismatch · accept MOS's answer · MOS answered: SUCCESS
// 1.69 USD · the note"; any other detail as recorded.
func auditDetail(detail string) string {
	var d struct {
		Flag, Outcome, MOS, Note string
	}
	if !strings.HasPrefix(detail, "{") || json.Unmarshal([]byte(detail), &d) != nil || d.Outcome == "" {
		return detail
	}
	return strings.Join(nonEmpty([]string{d.Flag, outcomeName(order.Outcome(d.Outcome)), labelled("MOS answered", d.MOS), d.Note}), " · ")
}

// deliveriesText sums up an event's deliveries: "delivered to 1 of 2 endpoints; 1 pending".
func deliveriesText(ds []order.Delivery) string {
	if len(ds) == 0 {
		return "no endpoint configured"
	}
	count := map[order.DeliveryStatus]int{}
	for _, d := range ds {
		count[d.Status]++
	}
	parts := []string{fmt.Sprintf("delivered to %d of %d endpoints", count[order.DeliveryDelivered], len(ds))}
	for _, st := range []order.DeliveryStatus{order.DeliveryPending, order.DeliveryFailed, order.DeliveryAbandoned} {
		if count[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[st], st))
		}
	}
	return strings.Join(parts, "; ")
}

// labelled is "label: v", or "" when v is.
func labelled(label, v string) string {
	if v == "" {
		return ""
	}
	return label + ": " + v
}

func nonEmpty(ss []string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}

// storyPageView is /finance/orders/{outTradeNo}.
type storyPageView struct {
	chrome
	Order        storyHeader
	Flags        []flagForm
	Timeline     []timelineEntry
	ReconcileURL string
	CloseURL     string // set when the order is stuck: finance may close it
	CloseDraft   string
	Zones        []option
	ListURL      string
	ListLabel    string
	ReviewURL    string // "Next to review", after a resolution
	MaxNote      int
}

// storyHeader is the order at the top of its story.
type storyHeader struct {
	OutTradeNo, Amount, Status, Desc, OpenID, PrepayID, UserID string
	Created, Expires, PaidAt, RefundedAt, Updated              string
	Settled                                                    string // what MOS settled, if finance accepted another amount
	Flags                                                      []string
	Sandbox                                                    bool
	// Merchant and Reference say which merchant's backend made the order, and its id there;
	// Metadata is the merchant's map, and Items the product list's lines, in order.
	Merchant, Reference string
	Metadata            []metaPair
	Items               []string
}

// metaPair is one key of a merchant's metadata and its value.
type metaPair struct{ Key, Value string }

// flagForm is an active flag with the form that resolves it.
type flagForm struct {
	Flag, RaisedAt, Note string
	Check                string // what to check, in finance's words
	Action               string // the form's URL
	Draft                string // the note typed before an error, given back
	MaxNote              int
	Outcomes             []outcomeOption
}

// outcomeOption is one outcome a flag's form offers, the default checked.
type outcomeOption struct {
	Value, Label, Does string
	Checked            bool
}

// outcomeName is an outcome in finance's words.
func outcomeName(o order.Outcome) string {
	switch o {
	case order.OutcomeAcceptMOS:
		return "accept MOS's answer"
	case order.OutcomeClose:
		return "close as not paid"
	case order.OutcomeWatch:
		return "keep watching"
	}
	return ""
}

// outcomeDoes says what an outcome will do to the order, in finance's words.
func outcomeDoes(o order.Outcome, mos *order.MOSAnswer) string {
	switch o {
	case order.OutcomeAcceptMOS:
		if mos != nil {
			return "the order takes MOS's answer (" + strings.TrimSpace(mos.Status+" "+mos.TotalAmount+" "+mos.Currency) +
				"); a different amount is recorded beside the order's own and the money figures use it"
		}
		return "the order takes MOS's answer"
	case order.OutcomeClose:
		return "the order is CLOSED as not paid; if MOS later reports a payment, a new flag asks you again"
	}
	return "nothing changes; mospay goes on asking MOS and raises a new flag if MOS's answer changes"
}

// flagCheck says, in finance's words, what to check for a flag.
func flagCheck(f order.Flag) string {
	switch f {
	case order.FlagAmountMismatch:
		return "MOS reports another amount or currency than the order's. Check what the customer paid in MOS's merchant portal."
	case order.FlagLatePayment:
		return "MOS took a payment after the order had failed or closed here; it is now PAID. Check whether the goods were delivered."
	case order.FlagMOSDisagrees:
		return "MOS now reports this paid or refunded order differently. Check the order in MOS's merchant portal."
	case order.FlagUnknownStatus:
		return "MOS answered a status mospay does not know. Check the order in MOS's merchant portal."
	case order.FlagRefundUnpaid:
		return "MOS refunded a payment mospay never saw. The money came in and went back out; check with MOS if unsure."
	}
	return ""
}

// draftNote is a resolution note that was refused, to give back in its form.
type draftNote struct {
	flag      order.Flag
	note      string
	closeNote string
	resolved  bool // the page follows a resolution: offer the next order to review
}

// doneCookie carries, once, what the last action on an order did: the story after the action's
// redirect shows it and deletes it, so that reloading the page does not say it again.
const doneCookie = "mospay_finance_done"

// storyPage is GET /finance/orders/{outTradeNo}; the done cookie says what the last action did.
func (h *Handler) storyPage(c echo.Context) error {
	notice, resolved := "", false
	if ck, err := c.Cookie(doneCookie); err == nil {
		c.SetCookie(h.cookie(doneCookie, "", -1))
		if b, err := base64.RawURLEncoding.DecodeString(ck.Value); err == nil && utf8.Valid(b) {
			kind, text, _ := strings.Cut(string(b), "\n")
			if what, outTradeNo, ok := strings.Cut(kind, " "); ok && outTradeNo == c.Param("outTradeNo") {
				notice, resolved = text, what == "resolved"
			}
		}
	}
	return h.showStory(c, http.StatusOK, notice, "", draftNote{resolved: resolved})
}

// backToStory is the 303 after an action: the order's page, in the zone and with its way back,
// and, once, the notice saying what was done (what: resolved, closed, reconciled).
func (h *Handler) backToStory(c echo.Context, what, notice string) error {
	c.SetCookie(h.cookie(doneCookie, base64.RawURLEncoding.EncodeToString([]byte(what+" "+c.Param("outTradeNo")+"\n"+notice)), time.Minute))
	u := storyURL(c.Param("outTradeNo"), c.QueryParam("tz")) + "&done=" + what
	if back := backURL(c); back != "" {
		u += "&back=" + queryEscape(back)
	}
	return c.Redirect(http.StatusSeeOther, u)
}

// backURL is where the story's "← Orders" leads: the list or the review page the story was opened
// from (its back parameter), or "" when it names none of them.
func backURL(c echo.Context) string {
	b := c.QueryParam("back")
	for _, p := range []string{"/finance/orders", "/finance/review"} {
		if b == p || strings.HasPrefix(b, p+"?") {
			return b
		}
	}
	return ""
}

// showStory renders an order's story with a notice or an error (and status), giving back a
// refused note in its flag's form.
func (h *Handler) showStory(c echo.Context, status int, notice, errMsg string, draft draftNote) error {
	tz, err := h.deps.API.ReportTZ(c)
	if err != nil {
		return h.errorPage(c, err)
	}
	st, err := h.deps.Orders.Story(c.Request().Context(), c.Param("outTradeNo"))
	if err != nil {
		return h.errorPage(c, err)
	}
	o := st.Order
	v := storyPageView{chrome: h.chrome(c, "orders", "Order "+o.OutTradeNo), Zones: h.zoneOptions(tz.String()),
		Timeline: buildTimeline(st, tz), ListURL: "/finance/orders?tz=" + queryEscape(tz.String()), ListLabel: "← Orders"}
	v.Notice, v.Error = notice, errMsg
	if back := backURL(c); back != "" {
		v.ListURL, v.ListLabel = back, "← Orders"
		if strings.HasPrefix(back, "/finance/review") {
			v.ListLabel = "← Review"
		}
	}
	if draft.resolved {
		v.ReviewURL = "/finance/review?tz=" + queryEscape(tz.String())
		if strings.HasPrefix(v.ListURL, "/finance/review") {
			v.ReviewURL = v.ListURL
		}
	}
	v.Order = storyHeader{OutTradeNo: o.OutTradeNo, Amount: showAmount(o.Amount.Minor, o.Amount.Currency),
		Status: string(o.Status), Desc: o.Desc, OpenID: o.OpenID, PrepayID: o.PrepayID, UserID: o.UserID,
		Created: showTime(o.CreatedAt, tz), Expires: showTime(o.ExpireAt, tz), PaidAt: showTimePtr(o.PaidAt, tz),
		RefundedAt: showTimePtr(o.RefundedAt, tz), Updated: showTime(o.UpdatedAt, tz), Sandbox: o.Sandbox,
		Merchant: o.Merchant, Reference: o.Reference}
	for _, k := range slices.Sorted(maps.Keys(o.Metadata)) {
		v.Order.Metadata = append(v.Order.Metadata, metaPair{Key: k, Value: o.Metadata[k]})
	}
	for _, it := range o.Items {
		v.Order.Items = append(v.Order.Items, fmt.Sprintf("%d × %s (%s) at %s %s", it.Quantity, it.Name, it.ProductID,
			it.UnitPrice, it.UnitPrice.Currency))
	}
	zone := "?tz=" + queryEscape(tz.String())
	if back := backURL(c); back != "" {
		zone += "&back=" + queryEscape(back)
	}
	base := "/finance/orders/" + url.PathEscape(o.OutTradeNo)
	v.ReconcileURL = base + "/reconcile" + zone
	if o.Settled != nil {
		v.Order.Settled = showAmount(o.Settled.Minor, o.Settled.Currency)
	}
	choices, stuck, err := h.deps.Orders.Choices(c.Request().Context(), o)
	if err != nil {
		return h.errorPage(c, err)
	}
	v.MaxNote = order.MaxNote
	if stuck {
		v.CloseURL, v.CloseDraft = base+"/close"+zone, draft.closeNote
	}
	var mos *order.MOSAnswer
	if n := len(st.Queries); n > 0 {
		for i := n - 1; i >= 0; i-- {
			if q := st.Queries[i]; q.Error == "" && q.MOSStatus != "" {
				mos = &order.MOSAnswer{Status: q.MOSStatus, TotalAmount: q.TotalAmount, Currency: q.Currency}
				break
			}
		}
	}
	for _, f := range o.Flags {
		v.Order.Flags = append(v.Order.Flags, string(f))
		ff := flagForm{Flag: string(f), Action: base + "/flags/" + url.PathEscape(string(f)) + "/resolve" + zone, MaxNote: order.MaxNote,
			Check: flagCheck(f)}
		for i, oc := range choices[f] {
			ff.Outcomes = append(ff.Outcomes, outcomeOption{Value: string(oc), Label: outcomeName(oc), Does: outcomeDoes(oc, mos),
				Checked: i == 0})
		}
		if rec := activeRecord(st.Flags, f); rec != nil {
			ff.RaisedAt, ff.Note = showTime(rec.RaisedAt, tz), rec.Note
		}
		if draft.flag == f {
			ff.Draft = draft.note
		}
		v.Flags = append(v.Flags, ff)
	}
	return h.render(c, status, "story", v)
}

// activeRecord is the unresolved record of flag f, if the story has one.
func activeRecord(recs []order.FlagRecord, f order.Flag) *order.FlagRecord {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Flag == f && recs[i].ResolvedAt == nil {
			return &recs[i]
		}
	}
	return nil
}

// reconcileAction is POST /finance/orders/{outTradeNo}/reconcile: ask MOS now, as the signed-in
// admin (audited), then back to the story.
func (h *Handler) reconcileAction(c echo.Context) error {
	ctx := c.Request().Context()
	before, err := h.deps.Orders.Story(ctx, c.Param("outTradeNo"))
	if err != nil {
		return h.errorPage(c, err)
	}
	after, err := h.deps.Orders.ReconcileNow(ctx, c.Param("outTradeNo"), adminOf(c), h.requestID(c))
	if err != nil {
		status, msg := h.errorStatus(c, err)
		return h.showStory(c, status, "", "Reconcile failed: "+msg, draftNote{})
	}
	answer := "MOS gave no answer"
	if st, err := h.deps.Orders.Story(ctx, c.Param("outTradeNo")); err == nil && len(st.Queries) > 0 {
		q := st.Queries[len(st.Queries)-1]
		switch {
		case q.Error != "":
			answer = "MOS could not answer (" + q.Error + ")"
		default:
			answer = "MOS answered " + strings.TrimSpace(q.MOSStatus+" "+q.TotalAmount+" "+q.Currency)
		}
	}
	return h.backToStory(c, "reconciled", answer+"; "+whatChanged(before.Order, after)+".")
}

// whatChanged says what a reconcile did to the order: its status, new flags, or nothing.
func whatChanged(before, after *order.Order) string {
	var parts []string
	if before.Status != after.Status {
		parts = append(parts, "the order went "+string(before.Status)+" → "+string(after.Status))
	}
	for _, f := range after.Flags {
		if !before.HasFlag(f) {
			parts = append(parts, "flag "+string(f)+" raised")
		}
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, ", ")
}

// resolveAction is POST /finance/orders/{outTradeNo}/flags/{flag}/resolve (note): resolve the
// flag with the admin's note, then back to the story; a refused note or a flag no longer active
// shows the story with the error and the note given back, and changes nothing.
func (h *Handler) resolveAction(c echo.Context) error {
	note := c.FormValue("note")
	flag, err := order.ParseFlag(c.Param("flag"))
	if err == nil {
		_, err = h.deps.Orders.ResolveFlag(c.Request().Context(), c.Param("outTradeNo"), flag, order.Outcome(c.FormValue("outcome")),
			note, adminOf(c), h.requestID(c))
	}
	if err != nil {
		status, msg := h.errorStatus(c, err)
		return h.showStory(c, status, "", "The flag was not resolved: "+msg, draftNote{flag: flag, note: note})
	}
	notice := "Flag " + string(flag) + " resolved"
	if o := order.Outcome(c.FormValue("outcome")); outcomeName(o) != "" {
		notice += " (" + outcomeName(o) + ")"
	} else {
		notice += " (" + outcomeName(order.OutcomeWatch) + ")"
	}
	return h.backToStory(c, "resolved", notice+": "+strings.TrimSpace(note))
}

// closeAction is POST /finance/orders/{outTradeNo}/close (note): close a stuck order as not paid
// with the admin's note, then back to the story; a refusal shows the story with the error and the
// note given back, and changes nothing.
func (h *Handler) closeAction(c echo.Context) error {
	note := c.FormValue("note")
	if _, err := h.deps.Orders.CloseStuck(c.Request().Context(), c.Param("outTradeNo"), note, adminOf(c), h.requestID(c)); err != nil {
		status, msg := h.errorStatus(c, err)
		return h.showStory(c, status, "", "The order was not closed: "+msg, draftNote{closeNote: note})
	}
	return h.backToStory(c, "closed", "The order was closed as not paid: "+strings.TrimSpace(note))
}
