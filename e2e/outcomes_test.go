package e2e

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/store/pgtest"
)

// outcomeStory is what these tests read of GET /admin/orders/{outTradeNo}.
type outcomeStory struct {
	Order       apptest.Order
	Transitions []struct{ From, To, Source, Reason, MOSStatus string }
	Flags       []struct{ Flag, ResolvedBy, Resolution, Outcome string }
	Actions     []struct{ Action, Actor, Detail string }
}

// TestResolveMismatchWithOutcome: finance resolves an amount mismatch by accepting MOS's answer
// (the order becomes PAID at MOS's amount) and another by closing it as not paid; each is a
// transition row, an audited action, an event, and shows in the report's money and the story.
func TestResolveMismatchWithOutcome(t *testing.T) {
	rc := apptest.NewEventReceiver(t, nil)
	h := apptest.Start(t, apptest.Options{Config: apptest.WithEvents(nil, rc)})
	token := h.Login(t, "user-outcome")
	post := func(path string, body any) apptest.Response {
		t.Helper()
		return h.Must(t, http.MethodPost, h.URL+path, body, apptest.Bearer(apptest.FinanceToken))
	}
	story := func(outTradeNo string) outcomeStory {
		t.Helper()
		var s outcomeStory
		h.Admin(t, "/admin/orders/"+outTradeNo).Decode(t, &s)
		return s
	}

	// Accept MOS's answer: MOS took 1.69 USD for a 16.99 USD order.
	paid := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Accepted"}, "1.69")
	for q, want := range map[string]int{"": 1, "?flag=any": 1, "?flag=amount_mismatch": 1, "?flag=late_payment": 0} {
		var review struct{ Orders []apptest.Order }
		h.Admin(t, "/admin/review"+q).Decode(t, &review)
		if len(review.Orders) != want {
			t.Errorf("/admin/review%s: %d orders, want %d", q, len(review.Orders), want)
		}
	}
	h.Must(t, http.MethodGet, h.URL+"/admin/review?flag=bogus", nil, apptest.Bearer(apptest.FinanceToken)).WantError(t, 400, "invalid_request")
	resolve := "/admin/orders/" + paid.OutTradeNo + "/flags/amount_mismatch/resolve"
	post(resolve, map[string]string{"note": "x", "outcome": "refund"}).WantError(t, 400, "invalid_request")
	post(resolve, map[string]string{"note": "x", "outcome": "close"}).WantError(t, 409, "conflict") // MOS says SUCCESS
	r := post(resolve, map[string]string{"note": "Customer paid 1.69; goods withheld", "outcome": "accept_mos"})
	var got struct {
		apptest.Order
		SettledAmount, SettledCurrency string
	}
	r.Decode(t, &got)
	if r.Status != 200 || got.Status != "PAID" || got.SettledAmount != "1.69" || got.SettledCurrency != "USD" || len(got.Flags) != 0 {
		t.Fatalf("accept_mos: HTTP %d %s", r.Status, r.Body)
	}
	s := story(paid.OutTradeNo)
	last := s.Transitions[len(s.Transitions)-1]
	if last.From != "PENDING" || last.To != "PAID" || last.Source != "admin" || last.MOSStatus != "SUCCESS" ||
		!strings.Contains(last.Reason, "finance") || !strings.Contains(last.Reason, "goods withheld") {
		t.Fatalf("accept_mos transition: %+v", last)
	}
	if len(s.Flags) != 1 || s.Flags[0].Outcome != "accept_mos" || s.Flags[0].ResolvedBy != "finance" {
		t.Fatalf("accept_mos flag: %+v", s.Flags)
	}
	if len(s.Actions) != 1 || s.Actions[0].Action != "resolve" || !strings.Contains(s.Actions[0].Detail, `"outcome":"accept_mos"`) {
		t.Fatalf("accept_mos audit: %+v", s.Actions)
	}

	// Close as not paid: MOS reports the order unpaid, at another amount.
	closed := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "20.00", Currency: "USD", Desc: "Closed"}, "")
	h.SandboxPost(t, http.MethodPatch, "/sandbox/orders/"+closed.OutTradeNo, map[string]any{"totalAmount": "2.00"})
	var rec apptest.Order
	post("/admin/orders/"+closed.OutTradeNo+"/reconcile", nil).Decode(t, &rec)
	if !rec.HasFlag("amount_mismatch") {
		t.Fatalf("no mismatch: %+v", rec)
	}
	r = post("/admin/orders/"+closed.OutTradeNo+"/flags/amount_mismatch/resolve",
		map[string]string{"note": "Wrong amount at MOS; customer will order again", "outcome": "close"})
	got.SettledAmount = ""
	r.Decode(t, &got)
	if r.Status != 200 || got.Status != "CLOSED" || got.SettledAmount != "" {
		t.Fatalf("close: HTTP %d %s", r.Status, r.Body)
	}
	s = story(closed.OutTradeNo)
	last = s.Transitions[len(s.Transitions)-1]
	if last.From != "PENDING" || last.To != "CLOSED" || last.Source != "admin" || last.MOSStatus != "PENDING" ||
		!strings.Contains(last.Reason, "customer will order again") {
		t.Fatalf("close transition: %+v", last)
	}
	if len(s.Actions) != 2 || s.Actions[1].Action != "resolve" || !strings.Contains(s.Actions[1].Detail, `"outcome":"close"`) {
		t.Fatalf("close audit: %+v", s.Actions)
	}

	// The events: each resolution says its outcome, and the status it reached is an event too.
	seen := func(es []apptest.ReceivedEvent) map[string]bool {
		got := map[string]bool{}
		for _, e := range es {
			body := string(e.Body)
			switch {
			case e.Type == "order.flag_resolved" && strings.Contains(body, paid.OutTradeNo):
				got["resolved accept_mos"] = strings.Contains(body, `"outcome":"accept_mos"`)
			case e.Type == "order.flag_resolved" && strings.Contains(body, closed.OutTradeNo):
				got["resolved close"] = strings.Contains(body, `"outcome":"close"`)
			case e.Type == "order.paid" && strings.Contains(body, paid.OutTradeNo):
				got["paid at MOS's amount"] = strings.Contains(body, `"settledAmount":"1.69"`)
			case e.Type == "order.closed" && strings.Contains(body, closed.OutTradeNo):
				got["closed"] = true
			}
		}
		return got
	}
	events := rc.WaitFor(t, "the outcomes' events", func(es []apptest.ReceivedEvent) bool { return len(seen(es)) == 4 })
	for k, ok := range seen(events) {
		if !ok {
			t.Errorf("event %s: wrong body", k)
		}
	}
	for _, e := range events {
		if e.Type == "order.flag_resolved" {
			apptest.CheckSchema(t, "EventPayload", e.Body)
		}
	}

	// The report's money: the accepted order at MOS's 1.69; the closed one is no money.
	var rep struct {
		Money []struct {
			Currency string
			Paid     struct {
				Count  int
				Amount string
			}
			Net string
		}
		AtRisk []struct{ Count int }
		AsOf   string
	}
	h.Admin(t, "/admin/reports/reconciliation?from=&to=").Decode(t, &rep)
	if len(rep.Money) != 1 || rep.Money[0].Paid.Count != 1 || rep.Money[0].Paid.Amount != "1.69" || rep.Money[0].Net != "1.69" ||
		len(rep.AtRisk) != 0 || rep.AsOf == "" {
		t.Fatalf("report: %+v", rep)
	}

	// The finance pages say it in words.
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	page := f.Get(t, "/finance/orders/"+paid.OutTradeNo)
	for _, w := range []string{"MOS settled", "1.69 USD", "outcome: accept MOS&#39;s answer", "PENDING → PAID (admin)"} {
		if !strings.Contains(page.Body, w) {
			t.Errorf("the accepted order's story lacks %q", w)
		}
	}
	if page = f.Get(t, "/finance/orders/"+closed.OutTradeNo); !strings.Contains(page.Body, "outcome: close as not paid") {
		t.Error("the closed order's story lacks its outcome")
	}
	if page = f.Get(t, "/finance/audit"); !strings.Contains(page.Body, "amount_mismatch · accept MOS&#39;s answer") {
		t.Error("the audit page lacks the outcome")
	}
}

// TestCloseStuckOrder: an order still PENDING past its expiry, MOS not answering, is closed by
// finance with a note; one not yet expired, or already paid, is refused.
func TestCloseStuckOrder(t *testing.T) {
	clock := apptest.ClockAt(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	rc := apptest.NewEventReceiver(t, nil)
	h := apptest.Start(t, apptest.Options{Clock: clock, Config: apptest.WithEvents(nil, rc)})
	token := h.Login(t, "user-stuck")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "5.00", Currency: "USD", Desc: "Stuck"}, "")
	paid := h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "6.00", Currency: "USD", Desc: "Paid"})
	closeOrder := func(outTradeNo, note string) apptest.Response {
		t.Helper()
		return h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+outTradeNo+"/close", map[string]string{"note": note},
			apptest.Bearer(apptest.FinanceToken))
	}
	closeOrder(o.OutTradeNo, "too early").WantError(t, 409, "conflict")

	h.SandboxPost(t, "PUT", "/sandbox/faults", map[string]any{"errorRate": map[string]float64{"orderQuery": 1}})
	clock.Advance(2 * time.Hour)
	closeOrder(o.OutTradeNo, " ").WantError(t, 400, "invalid_request")
	closeOrder(paid.OutTradeNo, "paid already").WantError(t, 409, "conflict")
	r := closeOrder(o.OutTradeNo, "MOS down all day; customer paid cash")
	var got apptest.Order
	r.Decode(t, &got)
	if r.Status != 200 || got.Status != "CLOSED" {
		t.Fatalf("close: HTTP %d %s", r.Status, r.Body)
	}
	closeOrder(o.OutTradeNo, "again").WantError(t, 409, "conflict")
	var s outcomeStory
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &s)
	last := s.Transitions[len(s.Transitions)-1]
	if last.To != "CLOSED" || last.Source != "admin" || !strings.Contains(last.Reason, "customer paid cash") {
		t.Fatalf("transition: %+v", last)
	}
	if len(s.Actions) != 1 || s.Actions[0].Action != "close" || !strings.Contains(s.Actions[0].Detail, `"outcome":"close"`) {
		t.Fatalf("audit: %+v", s.Actions)
	}
	rc.WaitFor(t, "order.closed", func(es []apptest.ReceivedEvent) bool {
		for _, e := range es {
			if e.Type == "order.closed" && strings.Contains(string(e.Body), o.OutTradeNo) {
				return true
			}
		}
		return false
	})

	// The story page offers the close for a stuck order only.
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	token = h.Login(t, "user-stuck")
	stuck := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "7.00", Currency: "USD", Desc: "Stuck too"}, "")
	if page := f.Get(t, "/finance/orders/"+stuck.OutTradeNo); strings.Contains(page.Body, "Close as not paid") {
		t.Error("an order not yet expired offers Close")
	}
	clock.Advance(2 * time.Hour)
	page := f.Get(t, "/finance/orders/"+stuck.OutTradeNo+"?tz=UTC")
	if !strings.Contains(page.Body, "Close as not paid") {
		t.Fatal("a stuck order does not offer Close")
	}
	done := f.Post(t, "/finance/orders/"+stuck.OutTradeNo+"/close?tz=UTC", map[string][]string{"csrf": {page.CSRF(t)}, "note": {"gave up"}})
	if done.Status != http.StatusSeeOther {
		t.Fatalf("close form: HTTP %d", done.Status)
	}
	if page := f.Get(t, done.Location); !strings.Contains(page.Body, "closed the stuck order as not paid") ||
		!strings.Contains(page.Body, "CLOSED") {
		t.Error("the story does not show the close")
	}
}

// TestFinanceOutcomesInBrowser walks, in Chromium at one instant, what finance does to finish its
// work: from Review, resolve a mismatch by accepting MOS's answer (the outcomes offered, the
// default preselected), see the note and the way back to Review; find an order of another day
// from the default view by its outTradeNo; choose a date shortcut, keeping the filters; and, on a
// phone, open the filters folded behind their summary. No page logs an error.
func TestFinanceOutcomesInBrowser(t *testing.T) {
	clock := apptest.ClockAt(apptest.DayBoundaries[1])
	h := apptest.Start(t, apptest.Options{Clock: clock})
	token := h.Login(t, "user-browser-outcome")
	old := h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "1234.50", Currency: "USD", Desc: "Old order"})
	clock.Advance(3 * 24 * time.Hour)
	token = h.Login(t, "user-browser-outcome")
	flagged := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Mismatch"}, "1.69")
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "2.00", Currency: "USD", Desc: "Today"})

	b := apptest.StartBrowser(t)
	b.Open(t, h.URL+"/finance/review")
	b.Type(t, "input[name=token]", apptest.FinanceToken)
	b.Press(t, "\r")
	b.WaitText(t, finH1, "Review")
	b.WaitText(t, "header nav", "Review (1)")
	b.WaitText(t, "table.review", "Mismatch")
	b.WaitText(t, "table.review", "customer user-browser-outcome")
	b.Click(t, `table.review a.order[href^="/finance/orders/`+flagged.OutTradeNo+`"]`)
	b.WaitText(t, finH1, flagged.OutTradeNo)
	b.WaitText(t, "a.back", "← Review")
	if got := apptest.Eval[string](t, b, `document.querySelector("form.resolve input[name=outcome]:checked").value`); got != "watch" {
		t.Errorf("the preselected outcome is %q, want watch", got)
	}
	offered := apptest.Eval[[]string](t, b, `[...document.querySelectorAll("form.resolve input[name=outcome]")].map(e => e.value)`)
	if !slices.Equal(offered, []string{"watch", "accept_mos"}) {
		t.Errorf("outcomes offered while MOS says SUCCESS: %v, want watch and accept_mos (close refused)", offered)
	}
	b.Click(t, "form.resolve input[value=accept_mos]")
	b.Type(t, "form.resolve textarea[name=note]", "Customer paid 1.69; goods withheld")
	b.Click(t, "form.resolve button[type=submit]")
	b.WaitText(t, finNotice, "Flag amount_mismatch resolved (accept MOS's answer): Customer paid 1.69; goods withheld")
	b.WaitText(t, "dl.facts", "MOS settled")
	b.WaitText(t, "dl.facts", "1.69 USD")
	b.WaitText(t, "ol.timeline", "PENDING → PAID (admin)")
	b.WaitText(t, "ol.timeline", "outcome: accept MOS's answer")
	b.Click(t, "p.next a")
	b.WaitURL(t, "/finance/review")
	b.WaitText(t, "main .empty", "Nothing to review")

	// The default view (today) finds an order of three days ago by its outTradeNo.
	b.Open(t, h.URL+"/finance/orders")
	b.WaitText(t, ".total-line", "2 orders · USD 18.99")
	b.Run(t, chromedp.SetValue(chromedp.CSS("input[name=q]"), old.OutTradeNo))
	b.Click(t, finShow)
	b.WaitText(t, "main .notice", "whatever its date")
	b.WaitText(t, "table.orders", old.OutTradeNo)
	b.WaitText(t, "table.orders", "1,234.50 USD")
	// An openid keeps the period, and offers its matches of other days.
	b.Open(t, h.URL+"/finance/orders?q=user-browser-outcome")
	b.WaitText(t, "main .notice", "1 match outside this period: show them")
	if n := apptest.Eval[int](t, b, `document.querySelectorAll("`+finRows+`").length`); n != 2 {
		t.Errorf("today's orders of the openid: %d rows, want 2", n)
	}
	b.Click(t, "main .notice a")
	b.WaitText(t, "table.orders", old.OutTradeNo)
	b.WaitText(t, ".period", "at any time")

	// A date shortcut keeps the other filters.
	b.Open(t, h.URL+"/finance/orders?status=PAID")
	b.Click(t, `form.filters .buttons a[href*="status=PAID"]`) // Yesterday
	b.WaitURL(t, "status=PAID")
	yesterday := clock.Now().AddDate(0, 0, -1).Format(time.DateOnly)
	b.WaitText(t, ".period", "Orders created from "+yesterday)
	b.NoProblems(t)

	// The audit trail at 1366 px: Who and Action are whole words on one line.
	b.SetViewport(t, apptest.Laptop())
	b.Open(t, h.URL+"/finance/audit")
	b.WaitText(t, "table.audit", "accept MOS's answer")
	if broken := apptest.Eval[int](t, b, `[...document.querySelectorAll('table.audit td[data-label="Who"], table.audit td[data-label="Action"]')]`+
		`.filter(e => { const r = document.createRange(); r.selectNodeContents(e);`+
		` return e.scrollWidth > e.clientWidth || r.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(e).lineHeight) }).length`); broken != 0 {
		t.Errorf("%d Who or Action cells of the audit page are cut or broken: %s", broken, apptest.Eval[string](t, b,
			`JSON.stringify([...document.querySelectorAll('table.audit td[data-label="Who"], table.audit td[data-label="Action"]')].map(e => [e.innerText, e.scrollWidth, e.clientWidth]))`))
	}
	b.NoHorizontalScroll(t)

	// A phone: the filters fold behind their one-line summary; the cards start with the amount.
	b.SetViewport(t, apptest.Phone())
	b.Open(t, h.URL+"/finance/orders?from=&to=")
	b.WaitText(t, "details.fold > summary", "Filters · all time (UTC)")
	if apptest.Eval[bool](t, b, `document.querySelector("form.filters").checkVisibility()`) {
		t.Error("the filter form is open on a phone")
	}
	if first := apptest.Eval[string](t, b, `[...document.querySelector("table.orders tbody tr").children]
		.filter(e => e.getClientRects().length > 0).sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)[0].dataset.label`); first != "Amount" {
		t.Errorf("a card starts with %q, want Amount", first)
	}
	if apptest.Eval[int](t, b, `document.querySelectorAll("table.orders td.blank")`+
		`.values().filter(e => e.getClientRects().length > 0).toArray().length`) != 0 {
		t.Error("a card shows an empty field")
	}
	b.Click(t, "details.fold > summary")
	b.WaitVisible(t, "form.filters input[name=q]")
	b.NoHorizontalScroll(t)
	b.NoProblems(t)
}

// TestSummaryEqualsReport: for the same selection, the orders page's summary shows the report's
// figures, and the money is what MOS settled: a refund of a payment mospay never saw counts on
// both sides, an accepted mismatch at MOS's amount, a PENDING order not at all.
// On SQLite and on PostgreSQL.
func TestSummaryEqualsReport(t *testing.T) {
	pgtest.ForEachDB(t, summaryEqualsReport)
}

func summaryEqualsReport(t *testing.T, dbURL string) {
	clock := apptest.ClockAt(apptest.DayBoundaries[0])
	h := apptest.Start(t, apptest.Options{Clock: clock, DBURL: dbURL})
	token := h.Login(t, "user-summary")
	admin := func(path string) apptest.Order {
		t.Helper()
		var o apptest.Order
		r := h.Must(t, http.MethodPost, h.URL+path, map[string]string{"note": "checked with MOS", "outcome": "accept_mos"},
			apptest.Bearer(apptest.FinanceToken))
		r.Decode(t, &o)
		if r.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", path, r.Status, r.Body)
		}
		return o
	}
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "1000.00", Currency: "USD", Desc: "Paid"})
	h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Paid KHR"})
	refunded := h.PaidOrder(t, token, apptest.CreateBody{TotalAmount: "5.00", Currency: "USD", Desc: "Refunded"})
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+refunded.OutTradeNo+"/refund", nil)
	admin("/admin/orders/" + refunded.OutTradeNo + "/reconcile")
	mismatch := h.FlaggedOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Mismatch"}, "1.69")
	admin("/admin/orders/" + mismatch.OutTradeNo + "/flags/amount_mismatch/resolve")
	h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "7.00", Currency: "USD", Desc: "Pending"}, "")

	// A refund of a payment mospay never saw: MOS's notification is lost, then MOS refunds.
	h.SandboxPost(t, "PUT", "/sandbox/faults", map[string]any{"dropNotifications": 1})
	unseen := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "3.00", Currency: "USD", Desc: "Unseen"}, "")
	h.Pay(t, unseen.OutTradeNo)
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+unseen.OutTradeNo+"/refund", nil)
	if o := admin("/admin/orders/" + unseen.OutTradeNo + "/reconcile"); o.Status != "REFUNDED" || !o.HasFlag("refund_not_paid") {
		t.Fatalf("the unseen payment's refund: %+v", o)
	}
	h.SandboxPost(t, "DELETE", "/sandbox/faults", nil)

	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	for _, q := range []string{"from=&to=", "from=&to=&status=PAID", "from=&to=&status=REFUNDED", "from=&to=&currency=USD",
		"from=&to=&flag=any", "from=&to=&basis=paid", "", "basis=paid"} {
		var rep struct {
			Money []struct {
				Currency string
				Paid     struct {
					Count  int
					Amount string
				}
				Refunded struct {
					Count  int
					Amount string
				}
				Net string
			}
		}
		h.Admin(t, "/admin/reports/reconciliation?"+q).Decode(t, &rep)
		page := f.Get(t, "/finance/orders?"+q)
		if page.Status != 200 {
			t.Fatalf("%s: HTTP %d", q, page.Status)
		}
		rows := strings.Count(page.Body[strings.Index(page.Body, `id="money-h"`):], `<td data-label="Net"`)
		if rows != len(rep.Money) {
			t.Errorf("%s: the page shows %d money lines, the report %d", q, rows, len(rep.Money))
		}
		for _, m := range rep.Money {
			want := `<td data-label="Currency">` + m.Currency + `</td><td data-label="Paid" class="num">` + group(m.Paid.Amount) +
				" (" + itoa(m.Paid.Count) + `)</td><td data-label="Refunded" class="num">` + group(m.Refunded.Amount) +
				" (" + itoa(m.Refunded.Count) + `)</td><td data-label="Net" class="num">` + group(m.Net) + "</td>"
			if !strings.Contains(page.Body, want) {
				t.Errorf("%s: the page lacks the report's money line %s", q, want)
			}
		}
		if q == "from=&to=&currency=USD" {
			// Paid: 1000.00 + 5.00 + 1.69 (MOS's amount) + 3.00 (the unseen payment); refunded: 5.00
			// + 3.00; net: what MOS kept, 1001.69. The PENDING 7.00 is no money.
			if len(rep.Money) != 1 || rep.Money[0].Paid.Amount != "1009.69" || rep.Money[0].Paid.Count != 4 ||
				rep.Money[0].Refunded.Amount != "8.00" || rep.Money[0].Net != "1001.69" {
				t.Errorf("USD money: %+v", rep.Money)
			}
		}
		if q == "from=&to=&status=PAID" && (len(rep.Money) != 2 || rep.Money[1].Paid.Count != 2 || rep.Money[1].Refunded.Count != 0) {
			t.Errorf("PAID money counts other statuses: %+v", rep.Money)
		}
	}
}

// group is a canonical amount as the finance pages show it, thousands grouped.
func group(dec string) string {
	whole, frac, ok := strings.Cut(dec, ".")
	for i := len(whole) - 3; i > 0 && whole[i-1] != '-'; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	if ok {
		return whole + "." + frac
	}
	return whole
}

func itoa(n int) string { return strconv.Itoa(n) }
