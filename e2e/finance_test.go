package e2e

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mospay/mospay/app/apptest"
)

// financeBook is a day of orders across currencies and statuses, as the finance pages show them.
type financeBook struct {
	paidUSD, paidKHR, pending, failed, closed, refunded apptest.Order
	flagged                                             apptest.Order // amount_mismatch: MOS says 0.10, the order is 1.00
	all                                                 []apptest.Order
}

// newFinanceBook makes ten orders with the sandbox: paid, pending, failed, closed, refunded and
// flagged, in USD and KHR.
func newFinanceBook(t *testing.T, h *apptest.Stack) financeBook {
	t.Helper()
	alice, bob := h.Login(t, "alice"), h.Login(t, "bob")
	var b financeBook
	keep := func(o apptest.Order) apptest.Order { b.all = append(b.all, o); return o }
	b.paidUSD = keep(h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "T-shirt"}))
	keep(h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "2.50", Currency: "USD", Desc: "Coffee"}))
	b.paidKHR = keep(h.PaidOrder(t, bob, apptest.CreateBody{TotalAmount: "8000", Currency: "KHR", Desc: "Noodles"}))
	keep(h.PaidOrder(t, bob, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Tea"}))
	b.pending = keep(h.CreateOrder(t, alice, apptest.CreateBody{TotalAmount: "5", Currency: "USD", Desc: "Cake"}, ""))
	keep(h.CreateOrder(t, bob, apptest.CreateBody{TotalAmount: "12000", Currency: "KHR", Desc: "Rice"}, ""))

	b.failed = keep(h.CreateOrder(t, alice, apptest.CreateBody{TotalAmount: "3.00", Currency: "USD", Desc: "Juice"}, ""))
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+b.failed.OutTradeNo+"/fail", nil)
	b.failed = h.WaitStatus(t, alice, b.failed.OutTradeNo, "FAILED")

	b.closed = keep(h.CreateOrder(t, bob, apptest.CreateBody{TotalAmount: "6000", Currency: "KHR", Desc: "Soup"}, ""))
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+b.closed.OutTradeNo+"/close", nil) // MOS sends nothing: ask it
	h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+b.closed.OutTradeNo+"/reconcile", nil, apptest.Bearer(apptest.AdminToken))
	b.closed = h.WaitStatus(t, bob, b.closed.OutTradeNo, "CLOSED")

	b.refunded = keep(h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "9.99", Currency: "USD", Desc: "Book"}))
	h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+b.refunded.OutTradeNo+"/refund", nil)
	b.refunded = h.WaitStatus(t, alice, b.refunded.OutTradeNo, "REFUNDED")

	b.flagged = keep(h.FlaggedOrder(t, bob, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "Water"}, "0.10"))
	return b
}

// The finance pages' elements, as the test finds them.
const (
	finH1       = "main h1"
	finNotice   = "main .notice"
	finError    = "main .error"
	finRows     = "table.orders tbody tr"
	finRowLink  = "table.orders a.order"
	finShow     = "form.filters button[type=submit]"
	finCSV      = "a.button[href^='/finance/orders.csv']"
	finNavAudit = "header nav a[href^='/finance/audit']"
)

// TestFinanceInBrowser walks finance's pages in Chromium as finance would: sign in through the
// form, filter the list to PAID, open an order, resolve a flagged order's flag with a note (an
// empty note refused first), find the resolution in the audit trail, run the report, download
// the CSV and read it; reach an order with the keyboard alone; then every page at phone width
// without sideways scrolling, and sign out. No page logs an error (CSP refusals and a missing
// favicon included).
//
// It runs with mospay's clock stopped on both sides of the day boundaries of the zones it uses
// (apptest.DayBoundaries), never on the wall clock: "today" on the list is today in the zone the
// list shows, and switching the zone with the default dates moves "today" with it.
func TestFinanceInBrowser(t *testing.T) {
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) { financeWalk(t, at) })
	}
}

func financeWalk(t *testing.T, at time.Time) {
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
	book := newFinanceBook(t, h)
	phnomPenh, err := time.LoadLocation("Asia/Phnom_Penh")
	if err != nil {
		t.Fatal(err)
	}
	b := apptest.StartBrowser(t)

	// First visit: the list sends the browser to sign in, and back after.
	b.Open(t, h.URL+"/finance/orders?status=PAID")
	b.WaitText(t, finH1, "Sign in")
	b.NoHorizontalScroll(t)
	b.Type(t, "input[name=token]", apptest.FinanceToken)
	b.Press(t, kb.Enter)
	b.WaitURL(t, "/finance/orders?status=PAID")
	b.WaitText(t, finH1, "Orders")
	b.WaitText(t, "header .who", "finance")
	statuses := apptest.Eval[[]string](t, b, `[...document.querySelectorAll("table.orders td[data-label=Status]")].map(e => e.innerText.trim())`)
	if len(statuses) != 4 || slices.ContainsFunc(statuses, func(s string) bool { return s != "PAID" }) {
		t.Fatalf("status=PAID lists %v, want the 4 paid orders", statuses)
	}

	// Filter with the form: all statuses, then PAID again, in Phnom Penh's time.
	b.Open(t, h.URL+"/finance/orders")
	b.WaitText(t, ".period", "Orders created from "+at.Format(time.DateOnly)+" 00:00:00 +00:00")
	b.WaitText(t, ".period", "(UTC)")
	if n := apptest.Eval[int](t, b, `document.querySelectorAll("`+finRows+`").length`); n != len(book.all) {
		t.Fatalf("today's list has %d orders, want %d", n, len(book.all))
	}
	b.Run(t, chromedp.SetValue(chromedp.CSS("select[name=status]"), "PAID"),
		chromedp.SetValue(chromedp.CSS("select[name=tz]"), "Asia/Phnom_Penh"))
	b.Click(t, finShow)
	b.WaitURL(t, "status=PAID")
	b.WaitText(t, ".period", "Orders created from "+at.In(phnomPenh).Format(time.DateOnly)+" 00:00:00 +07:00")
	b.WaitText(t, ".period", "+07:00 (Asia/Phnom_Penh)")
	b.WaitText(t, "table.orders", book.paidUSD.OutTradeNo)
	b.NoHorizontalScroll(t)

	// The CSV of what the page shows, downloaded in the page's session.
	name, file := b.Download(t, finCSV)
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(file), "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 5 {
		t.Fatalf("CSV %s: %v, %d rows, want a header and the 4 paid orders:\n%s", name, err, len(rows), file)
	}
	col := func(name string) int { return slices.Index(rows[0], name) }
	i := slices.IndexFunc(rows, func(r []string) bool { return r[col("outTradeNo")] == book.paidUSD.OutTradeNo })
	if i < 0 || rows[i][col("status")] != "PAID" || rows[i][col("totalAmount")] != "16.99" || rows[i][col("currency")] != "USD" {
		t.Fatalf("CSV row of %s: %v\n%s", book.paidUSD.OutTradeNo, rows, file)
	}

	// An order from the list: its story, in the zone the list was in.
	b.Click(t, `a.order[href^="/finance/orders/`+book.paidKHR.OutTradeNo+`"]`)
	b.WaitText(t, finH1, book.paidKHR.OutTradeNo)
	b.WaitText(t, "dl.facts", "8,000 KHR")
	b.WaitText(t, "ol.timeline", "PENDING → PAID (notify)")
	b.WaitText(t, "ol.timeline", "+07:00")
	b.NoHorizontalScroll(t)

	// The review queue leads to the flagged order; a blank note is refused, a note resolves it.
	b.Click(t, "header nav a[href^='/finance/review']")
	b.WaitText(t, finH1, "Review")
	b.WaitText(t, "table.review", "SUCCESS 0.10 USD")
	b.Click(t, `table.review a.order[href^="/finance/orders/`+book.flagged.OutTradeNo+`"]`)
	b.WaitText(t, finH1, book.flagged.OutTradeNo)
	b.WaitText(t, "dl.facts", "amount_mismatch")
	b.Type(t, "form.resolve textarea[name=note]", "   ")
	b.Click(t, "form.resolve button[type=submit]")
	b.WaitText(t, finError, "The flag was not resolved: note: say why")
	b.Answered(t, http.StatusBadRequest)
	note := "MOS charged 0.10 by mistake; customer refunded by hand"
	apptest.Eval[string](t, b, `document.querySelector("form.resolve textarea[name=note]").value = ""`)
	b.Type(t, "form.resolve textarea[name=note]", note)
	b.Click(t, "form.resolve button[type=submit]")
	b.WaitText(t, finNotice, "Flag amount_mismatch resolved")
	b.WaitText(t, "ol.timeline", "Flag amount_mismatch resolved by finance")
	b.WaitGone(t, "form.resolve")
	b.Click(t, "form[action*='/reconcile'] button")
	b.WaitText(t, finNotice, "MOS answered SUCCESS 0.10 USD; nothing changed.")

	// The audit trail has the resolution with its note and the reconcile; the sign-in only when
	// asked for.
	b.Click(t, finNavAudit)
	b.WaitText(t, finH1, "Audit")
	audit := b.WaitText(t, "table.audit", note)
	for _, want := range []string{"resolve", "reconcile", book.flagged.OutTradeNo} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit page lacks %q:\n%s", want, audit)
		}
	}
	if strings.Contains(audit, "login") {
		t.Errorf("the audit page shows sign-ins by default:\n%s", audit)
	}
	b.Run(t, chromedp.SetValue(chromedp.CSS("select[name=action]"), "all"))
	b.Click(t, finShow)
	b.WaitURL(t, "action=all")
	b.WaitText(t, "table.audit", "login")

	// Finance's open sessions: this one, marked.
	b.Click(t, "header nav a[href^='/finance/sessions']")
	b.WaitText(t, finH1, "Sessions")
	b.WaitText(t, "table.sessions", "(this one)")
	b.NoHorizontalScroll(t)

	// The report of today: money per currency, and nothing left at risk.
	b.Click(t, "header nav a[href^='/finance/report']")
	b.WaitText(t, finH1, "Report")
	money := b.WaitText(t, "#money-h ~ table", "USD")
	if !strings.Contains(money, "29.48 (3)") || !strings.Contains(money, "9.99 (1)") || !strings.Contains(money, "19.49") ||
		!strings.Contains(money, "12,000 (2)") {
		t.Errorf("the report's money:\n%s\nwant USD paid 29.48 by 3 orders, refunded 9.99, net 19.49; KHR paid 12000 by 2", money)
	}
	b.WaitText(t, "main", "None: nothing in this selection waits for finance.")
	b.NoHorizontalScroll(t)

	// The keyboard alone: Tab reaches an order's link, the focus shows, Enter opens it.
	b.Open(t, h.URL+"/finance/orders?status=PENDING")
	b.TabTo(t, finRowLink, 40)
	if style := apptest.Eval[string](t, b, `getComputedStyle(document.activeElement).outlineStyle`); style == "none" {
		t.Error("the focused row link has no visible outline")
	}
	focused := apptest.Eval[string](t, b, `document.activeElement.innerText.trim()`)
	b.Press(t, kb.Enter)
	b.WaitText(t, finH1, focused)

	// A phone: every page fits its width.
	b.SetViewport(t, apptest.Phone())
	for _, page := range []string{
		"/finance/orders", "/finance/orders?from=&to=&status=PAID",
		"/finance/orders/" + book.flagged.OutTradeNo, "/finance/orders/" + book.paidUSD.OutTradeNo + "?tz=Asia/Tokyo",
		"/finance/review", "/finance/report", "/finance/audit", "/finance/audit?action=all", "/finance/sessions",
	} {
		b.Open(t, h.URL+page)
		b.WaitVisible(t, finH1)
		b.NoHorizontalScroll(t)
	}
	b.Open(t, h.URL+"/finance/orders")
	b.Click(t, "details.fold > summary") // the filters fold behind their summary on a phone
	b.WaitVisible(t, "input[name=q]")
	b.Run(t, chromedp.SetValue(chromedp.CSS("input[name=q]"), "no such order"))
	b.Click(t, finShow)
	b.WaitText(t, "main .empty", "No orders match; widen the period")
	b.NoHorizontalScroll(t)
	b.Click(t, "details.fold > summary")
	b.WaitVisible(t, "input[name=from]")
	b.Run(t, chromedp.SetValue(chromedp.CSS("input[name=from]"), "2026-12-31"),
		chromedp.SetValue(chromedp.CSS("input[name=to]"), "2026-01-01"))
	b.Click(t, finShow)
	b.WaitText(t, finError, "from must be before to")
	b.Answered(t, http.StatusBadRequest)
	b.WaitVisible(t, "form.filters")
	b.NoHorizontalScroll(t)

	// Sign out: back to the sign-in form, and the pages need it again.
	b.Click(t, "form.signout button")
	b.WaitText(t, finH1, "Sign in")
	b.NoHorizontalScroll(t)
	b.Open(t, h.URL+"/finance/review")
	b.WaitText(t, finH1, "Sign in")
}
