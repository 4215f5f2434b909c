package ui

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// What several pages show, ready for their templates: times in the page's zone, amounts with
// their digits grouped, order rows, the counts and sums. Each page reads its URL exactly as the
// JSON API reads the same question (API.ListFilter, API.PageParams, API.ReportTZ), asks the order
// service once or twice, and turns the answer into a view of display-ready strings for its
// template: the templates only lay text out, and html/template escapes every bit of it.

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// queryEscape escapes a query value (url.QueryEscape, named for the reader).
func queryEscape(v string) string { return url.QueryEscape(v) }

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

// withQuery is path?query.
func withQuery(path string, q url.Values) string { return path + "?" + q.Encode() }

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
