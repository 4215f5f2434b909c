package ui_test

import (
	"encoding/csv"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
)

// TestFinanceOrdersPage: the list's filters are the URL's, read as the JSON API reads them;
// the default period is today in the zone, said on the page; a bad filter is a 400 page with
// the reason; paging, search, the CSV link and the empty state.
//
// It runs at instants on both sides of the day boundaries (apptest.DayBoundaries), with mospay's
// clock stopped there.
func TestFinanceOrdersPage(t *testing.T) {
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) { financeOrdersPage(t, at) })
	}
}

func financeOrdersPage(t *testing.T, at time.Time) {
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
	alice := h.Login(t, "alice")
	paid := h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Coffee"})
	khr := h.PaidOrder(t, alice, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Noodles"})
	pending := h.CreateOrder(t, alice, apptest.CreateBody{TotalAmount: "5", Currency: "USD", Desc: "<script>alert(1)</script>"}, "")
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)

	today := at.Format(time.DateOnly)
	tomorrow := at.AddDate(0, 0, 1).Format(time.DateOnly)
	all := f.Get(t, "/finance/orders")
	wantPage(t, all, http.StatusOK, `name="from" value="`+today+`"`, `name="to" value="`+tomorrow+`"`,
		"Orders created from "+today+" 00:00:00 +00:00 until "+tomorrow+" 00:00:00 +00:00 (UTC)",
		paid.OutTradeNo, khr.OutTradeNo, pending.OutTradeNo, "16.99 USD", "4,000 KHR", "3 orders · KHR 4,000 · USD 21.99", `href="/finance/orders/`+paid.OutTradeNo+`?tz=UTC&back=%2Ffinance%2Forders%3F`)
	if strings.Contains(all.Body, "<script>") {
		t.Fatal("an order's description reached the page unescaped")
	}
	wantPage(t, f.Get(t, "/finance/orders?tz=Asia/Phnom_Penh"), http.StatusOK, "+07:00 (Asia/Phnom_Penh)",
		`<option value="Asia/Phnom_Penh" selected>`)

	paidOnly := f.Get(t, "/finance/orders?status=PAID&currency=USD")
	wantPage(t, paidOnly, http.StatusOK, paid.OutTradeNo)
	if strings.Contains(paidOnly.Body, khr.OutTradeNo) || strings.Contains(paidOnly.Body, pending.OutTradeNo) {
		t.Fatal("status=PAID&currency=USD shows other orders")
	}
	wantPage(t, f.Get(t, "/finance/orders?q="+khr.PrepayID), http.StatusOK, khr.OutTradeNo)
	wantPage(t, f.Get(t, "/finance/orders?from=&to="), http.StatusOK, "Orders created at any time (UTC)", paid.OutTradeNo)
	wantPage(t, f.Get(t, "/finance/orders?q=nothing-like-this"), http.StatusOK, "No orders match; widen the period")

	// Bad filters: the page, the form and the reason, never a blank page.
	for q, msg := range map[string]string{
		"status=NOPE":                   `unknown order status "NOPE"`,
		"currency=EUR":                  "currency: ",
		"flag=nope":                     `unknown flag "nope"`,
		"basis=someday":                 "basis: created or paid",
		"tz=Mars/Olympus":               `tz: unknown time zone "Mars/Olympus"`,
		"from=2026-13-01":               "from: a date such as",
		"from=2026-02-02&to=2026-02-01": "from must be before to",
		"limit=0":                       "limit: a whole number",
	} {
		wantPage(t, f.Get(t, "/finance/orders?"+q), http.StatusBadRequest, msg, `<form method="get" action="/finance/orders"`)
	}

	// Paging: two at a time, every order once.
	first := f.Get(t, "/finance/orders?limit=2&from=&to=")
	wantPage(t, first, http.StatusOK, "Next page")
	next := html.UnescapeString(between(t, first.Body, `<a href="`, `" rel="next">`, "Next page"))
	second := f.Get(t, next)
	wantPage(t, second, http.StatusOK, paid.OutTradeNo, "First page")
	if strings.Contains(second.Body, "Next page") || strings.Contains(first.Body, paid.OutTradeNo) {
		t.Fatalf("paging: the oldest order is not alone on the second page")
	}

	// The CSV link carries the filter, and the session gets the file.
	paidOnly = f.Get(t, "/finance/orders?status=PAID&tz=Asia/Phnom_Penh")
	link := html.UnescapeString(between(t, paidOnly.Body, `<a class="button" href="`, `"`, ""))
	lu, err := url.Parse(link)
	if err != nil || lu.Path != "/finance/orders.csv" || lu.Query().Get("status") != "PAID" || lu.Query().Get("tz") != "Asia/Phnom_Penh" ||
		lu.Query().Get("from") == "" || lu.Query().Get("to") == "" {
		t.Fatalf("CSV link %q does not carry the page's filter", link)
	}
	file := f.Get(t, link)
	if file.Status != http.StatusOK || !strings.HasPrefix(file.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: HTTP %d %s", file.Status, file.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(file.Body, "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV of the PAID orders: %v\n%s", err, file.Body)
	}
	if !strings.Contains(file.Body, paid.OutTradeNo) || !strings.Contains(file.Body, khr.OutTradeNo) {
		t.Fatalf("CSV lacks the paid orders:\n%s", file.Body)
	}
	wantRedirect(t, h.FinanceClient(t).Get(t, link), "/finance/login?next="+url.QueryEscape(link))
}

// TestFinanceDefaultPeriod: with no dates in the URL, the list and the report show today in
// their zone; the form marks dates it chose itself, and when they come back unchanged with
// another zone they become today in that zone; dates finance typed stay as typed. Each instant
// of apptest.DayBoundaries, with mospay's clock stopped there.
func TestFinanceDefaultPeriod(t *testing.T) {
	pp, err := time.LoadLocation("Asia/Phnom_Penh")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range apptest.DayBoundaries {
		t.Run(at.Format("15:04Z"), func(t *testing.T) {
			h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
			paid := h.PaidOrder(t, h.Login(t, "dara"), apptest.CreateBody{TotalAmount: "2.50", Currency: "USD", Desc: "Coffee"})
			f := h.FinanceClient(t)
			f.MustSignIn(t, apptest.FinanceToken)
			day := func(t time.Time) string { return t.Format(time.DateOnly) }
			utcFrom, utcTo := day(at), day(at.AddDate(0, 0, 1))
			ppFrom, ppTo := day(at.In(pp)), day(at.In(pp).AddDate(0, 0, 1))
			mark := url.QueryEscape(utcFrom + "/" + utcTo)
			for _, tc := range []struct {
				name, path       string
				from, to, offset string
				listed           bool // the order made now is in the period
				marked           bool // the form says the dates are today's
			}{
				{"UTC by default", "/finance/orders", utcFrom, utcTo, "+00:00", true, true},
				{"the zone's today", "/finance/orders?tz=Asia/Phnom_Penh", ppFrom, ppTo, "+07:00", true, true},
				{"unchanged dates follow the zone", "/finance/orders?tz=Asia/Phnom_Penh&from=" + utcFrom + "&to=" + utcTo + "&today=" + mark,
					ppFrom, ppTo, "+07:00", true, true},
				{"typed dates stay", "/finance/orders?tz=Asia/Phnom_Penh&from=" + utcFrom + "&to=" + utcTo,
					utcFrom, utcTo, "+07:00", utcFrom == ppFrom, false},
				{"changed dates stay", "/finance/orders?tz=Asia/Phnom_Penh&from=2026-03-01&to=2026-03-02&today=" + mark,
					"2026-03-01", "2026-03-02", "+07:00", false, false},
				{"the report's today", "/finance/report?tz=Asia/Phnom_Penh&from=" + utcFrom + "&to=" + utcTo + "&today=" + mark,
					ppFrom, ppTo, "+07:00", true, true},
			} {
				p := f.Get(t, tc.path)
				wantPage(t, p, http.StatusOK, `name="from" value="`+tc.from+`"`, `name="to" value="`+tc.to+`"`,
					"created from "+tc.from+" 00:00:00 "+tc.offset+" until "+tc.to+" 00:00:00 "+tc.offset)
				if got := strings.Contains(p.Body, `name="today"`); got != tc.marked {
					t.Errorf("%s: the form marks its dates as today's: %v, want %v", tc.name, got, tc.marked)
				}
				if strings.HasPrefix(tc.path, "/finance/orders") && strings.Contains(p.Body, paid.OutTradeNo) != tc.listed {
					t.Errorf("%s (%s): the order made at %s listed: %v, want %v", tc.name, tc.path, at, !tc.listed, tc.listed)
				}
			}
		})
	}
}
