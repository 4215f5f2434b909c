package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
)

// The demo's and the payment sheet's elements, as the test finds them.
const (
	demoWho     = "#who"
	demoStatus  = "#receipt-status"
	demoOrder   = "#receipt-order"
	demoNote    = "#receipt-note"
	demoHistory = "#history"
	sheet       = "dialog.mos-sandbox-sheet"
	sheetPay    = sheet + ` button[value="pay"]`
	sheetFail   = sheet + ` button[value="fail"]`
	sheetLose   = "#mos-sandbox-lose"
)

// buyButton is the demo's Buy button of an item.
func buyButton(item string) string { return `#items button[data-item="` + item + `"]` }

// TestDemoInBrowser walks the sandbox's demo mini-app in Chromium at phone width, as a front-end
// developer would with `make run`, opened at localhost: log in as the sandbox's user-1, buy, pay in the sheet, see
// PAID on the receipt and the order in finance's story; buy again with the notification lost
// and still see PAID, through /query alone (the shop orders from the product list: no amount comes
// from the page); fail a payment and see the failure; cancel one with
// the keyboard; switch to another sandbox user. No page logs an error, and none scrolls
// sideways, on a phone or a laptop.
func TestDemoInBrowser(t *testing.T) {
	// The demo's shop orders from the product list: it works with client-chosen amounts off.
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.ClientAmounts = false }})
	b := apptest.StartBrowser(t)
	b.SetViewport(t, apptest.Phone())
	// Opened at localhost, where a newcomer types it: mospay allows both spellings of the
	// sandbox's origin (the laptop below opens it at 127.0.0.1).
	b.Open(t, strings.Replace(h.SandboxURL, "127.0.0.1", "localhost", 1)+"/sandbox/demo")
	b.WaitText(t, demoWho, "Signed in as user-1")
	b.NoHorizontalScroll(t)

	// The stand-in's shapes, as MOS documents them, and its refusals (the sandbox's own).
	shapes := apptest.Eval[map[string]string](t, b, `(async () => {
		const refused = (p) => p.then(() => "resolved", (err) => err.message);
		const res = await mos.login("`+h.AppKey+`");
		return {
			lang: (await mos.getLanguage()).lang,
			code: typeof res.data.code === "string" && res.data.code.length > 0 ? "a code" : JSON.stringify(res),
			wrongKey: await refused(mos.login("not-the-app-key")),
			noPrepay: await refused(mos.pay({amount: "1.00", currency: "USD", appKey: "`+h.AppKey+`"})),
		};
	})()`)
	if shapes["lang"] != "en_US" || shapes["code"] != "a code" ||
		!strings.Contains(shapes["wrongKey"], "is not this sandbox's") || !strings.Contains(shapes["noPrepay"], "prepayId is missing") {
		t.Fatalf("mos stand-in: %v", shapes)
	}

	// Pay: the notification reaches mospay as usual.
	b.Click(t, buyButton("coffee"))
	b.WaitVisible(t, sheet)
	b.WaitText(t, sheet, "2.50 USD")
	b.WaitFocus(t, sheetPay) // the sheet takes the focus
	b.NoHorizontalScroll(t)
	b.Click(t, sheetPay)
	b.WaitText(t, demoStatus, "PAID")
	paid := b.Text(t, demoOrder)
	story := demoStory(t, h, paid)
	if o := story.Order; o.Status != "PAID" || o.OpenID != "user-1" || o.TotalAmount != "2.50" || o.Currency != "USD" || o.Desc != "Iced coffee" {
		t.Fatalf("finance's story of %s: %+v, want user-1's PAID 2.50 USD Iced coffee", paid, o)
	}
	if n := len(story.Transitions); n == 0 || story.Transitions[n-1].To != "PAID" {
		t.Fatalf("finance's story of %s: transitions %+v, want the last to PAID", paid, story.Transitions)
	}
	b.WaitText(t, demoHistory, paid)

	// Pay with the notification lost: only /query can tell mospay, and the receipt still says PAID.
	dropped := h.Sandbox.Stats().NotificationsDropped
	b.Click(t, buyButton("noodles"))
	b.WaitText(t, sheet, "8000 KHR")
	b.Click(t, sheetLose)
	b.Click(t, sheetPay)
	b.WaitText(t, demoStatus, "PAID")
	lost := b.Text(t, demoOrder)
	if lost == paid {
		t.Fatalf("the second purchase shows the first order %s", paid)
	}
	h.WantTransitions(t, lost,
		apptest.Transition{From: "", To: "CREATED", Source: "api"},
		apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"},
		apptest.Transition{From: "PENDING", To: "PAID", Source: "api"})
	if got := h.Sandbox.Stats().NotificationsDropped - dropped; got != 1 {
		t.Fatalf("the sandbox dropped %d notifications, want 1", got)
	}
	if ns := h.Notifications(t, lost); len(ns) != 0 {
		t.Fatalf("mospay received %d notifications of %s, whose notification was lost", len(ns), lost)
	}

	// Fail, with notifications delivered again: the setting is remembered until unticked.
	b.Click(t, buyButton("tshirt"))
	b.WaitText(t, sheet, "16.99 USD")
	if !apptest.Eval[bool](t, b, `document.querySelector("`+sheetLose+`").checked`) {
		t.Fatal("the sheet forgot the lost-notification setting")
	}
	b.Click(t, sheetLose)
	b.Click(t, sheetFail)
	b.WaitText(t, demoStatus, "FAILED")
	b.WaitText(t, demoNote, "The payment failed")
	failed := b.Text(t, demoOrder)
	h.WaitStatus(t, h.Login(t, "user-1"), failed, "FAILED")
	b.WaitText(t, demoHistory, failed)

	// The keyboard alone: Enter on a Buy button opens the sheet, Tab moves within it, Escape
	// cancels; the focus then lands on the receipt.
	b.Run(t, chromedp.Focus(chromedp.CSS(buyButton("coffee"))))
	b.Press(t, kb.Enter)
	b.WaitVisible(t, sheet)
	b.WaitFocus(t, sheetPay)
	b.Press(t, kb.Tab)
	b.WaitFocus(t, sheetFail)
	b.Press(t, kb.Escape)
	b.WaitGone(t, sheet)
	b.WaitText(t, demoNote, "You cancelled the payment")
	b.WaitText(t, demoStatus, "PENDING")
	b.WaitFocus(t, "#receipt-title")
	b.NoHorizontalScroll(t)

	// A laptop, and a fresh start of the mini-app: the history is the user's, from mospay.
	b.SetViewport(t, apptest.Laptop())
	b.Open(t, h.SandboxURL+"/sandbox/demo")
	b.WaitText(t, demoHistory, paid)
	b.WaitText(t, demoHistory, lost)
	b.NoHorizontalScroll(t)

	// Another sandbox user: the page starts afresh, logged in as user-2, who has no orders.
	apptest.Eval[bool](t, b, `(() => { const s = document.querySelector("#mos-sandbox-user");
		s.value = "user-2"; return s.dispatchEvent(new Event("change")); })()`)
	b.WaitText(t, demoWho, "Signed in as user-2")
	b.WaitText(t, "#history-empty", "No orders yet.")

	// Finance sees the demo's order on its own page: sign in, and the story says PAID.
	b.Open(t, h.URL+"/finance/orders/"+paid)
	b.WaitText(t, "main h1", "Sign in")
	b.Type(t, "input[name=token]", apptest.FinanceToken)
	b.Press(t, kb.Enter)
	b.WaitText(t, "main h1", paid)
	b.WaitText(t, "main", "PAID")
	b.WaitText(t, "main", "Iced coffee")
	b.NoHorizontalScroll(t)
}

// TestDemoFromDevServer: a developer's own dev server, on another origin, serves a copy of the
// demo that loads mos.js from the sandbox; listing that origin in MOSPAY_CORS_ORIGINS is all
// mospay needs, and the sandbox's control API answers any origin. Logging in and paying work
// from there, with no error in the browser.
func TestDemoFromDevServer(t *testing.T) {
	var h *apptest.Stack
	files := map[string]string{} // path on the dev server -> content
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		types := map[string]string{"/": "text/html", "/demo.js": "text/javascript", "/demo.css": "text/css", "/favicon.svg": "image/svg+xml"}
		w.Header().Set("Content-Type", types[r.URL.Path])
		io.WriteString(w, body)
	}))
	defer dev.Close()
	h = apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.CORSOrigins = []string{dev.URL} }})
	get := func(path string) string {
		r := h.Must(t, http.MethodGet, h.SandboxURL+path, nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d", path, r.Status)
		}
		return string(r.Body)
	}
	files["/"] = strings.NewReplacer(
		`src="/sandbox/mos.js"`, `src="`+h.SandboxURL+`/sandbox/mos.js"`,
		"/sandbox/demo/", "/",
	).Replace(get("/sandbox/demo"))
	for _, f := range []string{"demo.js", "demo.css", "favicon.svg"} {
		files["/"+f] = get("/sandbox/demo/" + f)
	}

	b := apptest.StartBrowser(t)
	b.SetViewport(t, apptest.Phone())
	b.Open(t, dev.URL+"/")
	b.WaitText(t, demoWho, "Signed in as user-1")
	b.Click(t, buyButton("tshirt"))
	b.WaitText(t, sheet, "16.99 USD")
	b.Click(t, sheetPay)
	b.WaitText(t, demoStatus, "PAID")
	b.WaitText(t, demoHistory, b.Text(t, demoOrder))
	b.NoHorizontalScroll(t)
}

// demoStoryBody is the part of GET /admin/orders/{o} the demo test reads.
type demoStoryBody struct {
	Order struct {
		Status, OpenID, TotalAmount, Currency, Desc string
	}
	Transitions []struct{ From, To, Source string }
}

// demoStory reads an order's story as finance does.
func demoStory(t *testing.T, h *apptest.Stack, outTradeNo string) demoStoryBody {
	t.Helper()
	r := h.Admin(t, "/admin/orders/"+outTradeNo)
	if r.Status != http.StatusOK {
		t.Fatalf("finance's story of %s: HTTP %d %s", outTradeNo, r.Status, r.Body)
	}
	var s demoStoryBody
	r.Decode(t, &s)
	return s
}

// TestDemoOriginRefused: the demo opened on an origin mospay does not allow (a dev server that
// passes the sandbox's pages through, with MOSPAY_CORS_ORIGINS unset) is refused by the API's
// CORS. The demo says which origin, and what to do, instead of a bare "Failed to fetch"; mospay
// logs the refused preflight with that origin. At phone and laptop widths.
func TestDemoOriginRefused(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.ClientAmounts = false }})
	sbx, err := url.Parse(h.SandboxURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(sbx)
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Origin") // the sandbox sees its pages' calls as the dev server's own
		proxy.ServeHTTP(w, r)
	}))
	defer dev.Close()

	b := apptest.StartBrowser(t)
	for _, v := range []apptest.Viewport{apptest.Phone(), apptest.Laptop()} {
		b.SetViewport(t, v)
		b.Open(t, dev.URL+"/sandbox/demo")
		b.WaitText(t, "#error", "did not answer this page's origin, "+dev.URL)
		b.WaitText(t, "#error", "add "+dev.URL+" to MOSPAY_CORS_ORIGINS")
		b.WaitText(t, demoWho, "Not signed in.")
		b.NoHorizontalScroll(t)
		b.CORSRefused(t, h.URL)
	}
	want := `"origin":"` + dev.URL + `"`
	if !apptest.Within(apptest.WaitFor, func() bool {
		log := h.Logs.String()
		return strings.Contains(log, `"msg":"CORS preflight refused`) && strings.Contains(log, want)
	}) {
		t.Fatalf("mospay did not log the refused preflight with %s:\n%s", want, h.Logs.Tail(4<<10))
	}
}

// demoEntry is the demo's entry of an order in "Your orders".
func demoEntry(outTradeNo string) string { return `#history li[data-order="` + outTradeNo + `"]` }

// demoStep opens an order's "What happened" in the demo and waits until it lists step.
func demoStep(t *testing.T, b *apptest.Browser, outTradeNo, step string) string {
	t.Helper()
	story := demoEntry(outTradeNo) + " details.story"
	if !apptest.Eval[bool](t, b, `document.querySelector('`+story+`').open`) {
		b.Click(t, story+" summary")
	}
	return b.WaitText(t, story, step)
}

// TestDemoOrderHistory: each order in the demo's list says what happened to it (the calls the
// page made, mos.pay's result, whether MOS's notification or a query confirmed the outcome),
// offers "Pay now" while it is PENDING, and links to it in the finance pages. At phone and at
// laptop width, opened at localhost, with no console error and no sideways scroll.
func TestDemoOrderHistory(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.ClientAmounts = false }})
	demo := strings.Replace(h.SandboxURL, "127.0.0.1", "localhost", 1) + "/sandbox/demo"
	b := apptest.StartBrowser(t)
	var paid string
	for _, v := range []apptest.Viewport{apptest.Phone(), apptest.Laptop()} {
		b.SetViewport(t, v)
		b.Open(t, demo)
		b.WaitText(t, demoWho, "Signed in as user-1")

		// Cancelled: the order stays PENDING, and its entry offers Pay now.
		b.Click(t, buyButton("coffee"))
		b.WaitVisible(t, sheet)
		b.Press(t, kb.Escape)
		b.WaitText(t, demoStatus, "PENDING")
		pending := b.Text(t, demoOrder)
		entry := demoEntry(pending)
		b.WaitText(t, entry, "PENDING")
		b.WaitVisible(t, entry+" button.pay-now")
		demoStep(t, b, pending, "POST /mp/orders: PENDING, prepayId ")
		demoStep(t, b, pending, "mos.pay: CANCEL")
		b.NoHorizontalScroll(t)

		// Pay now, with the notification lost: the same order is paid, and only a query can
		// have confirmed it.
		b.Click(t, entry+" button.pay-now")
		b.WaitText(t, sheet, "2.50 USD")
		b.WaitText(t, sheet, "Order "+pending)
		b.Click(t, sheetLose)
		b.Click(t, sheetPay)
		b.WaitText(t, demoStatus, "PAID")
		if got := b.Text(t, demoOrder); got != pending {
			t.Fatalf("Pay now on %s paid %s", pending, got)
		}
		b.WaitText(t, entry, "PAID")
		b.WaitGone(t, entry+" button.pay-now")
		demoStep(t, b, pending, "Pay now")
		demoStep(t, b, pending, "mos.pay: SUCCESS")
		demoStep(t, b, pending, "PAID, confirmed by a query (mospay asked MOS")
		h.WantTransitions(t, pending,
			apptest.Transition{From: "", To: "CREATED", Source: "api"},
			apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"},
			apptest.Transition{From: "PENDING", To: "PAID", Source: "api"})

		// Paid with the notification delivered: the entry says which confirmed it, as mospay's
		// transitions do. (A notification that lands between the page's read and its query is
		// said as the query, which answered the outcome.)
		b.Click(t, buyButton("tshirt"))
		b.WaitText(t, sheet, "16.99 USD")
		b.Click(t, sheetLose) // remembered from the last sheet: untick it
		b.Click(t, sheetPay)
		b.WaitText(t, demoStatus, "PAID")
		paid = b.Text(t, demoOrder)
		b.WaitText(t, demoEntry(paid), "PAID")
		story := demoStep(t, b, paid, "PAID, confirmed by ")
		ts := demoStory(t, h, paid).Transitions
		if strings.Contains(story, "confirmed by MOS's notification") && ts[len(ts)-1].Source != "notify" {
			t.Fatalf("the demo says the notification confirmed %s; mospay's transitions: %+v", paid, ts)
		}
		if !strings.Contains(story, "confirmed by MOS's notification") && !strings.Contains(story, "confirmed by a query") {
			t.Fatalf("the demo says neither a notification nor a query confirmed %s: %q", paid, story)
		}
		b.NoHorizontalScroll(t)
	}

	// The finance link: finance signs in and sees the order's page.
	link := demoEntry(paid) + " a.finance"
	if href := apptest.Eval[string](t, b, `document.querySelector('`+link+`').href`); href != h.URL+"/finance/orders/"+paid {
		t.Fatalf("the finance link is %s, want %s", href, h.URL+"/finance/orders/"+paid)
	}
	b.Click(t, link)
	b.WaitText(t, "main h1", "Sign in")
	b.Type(t, "input[name=token]", apptest.FinanceToken)
	b.Press(t, kb.Enter)
	b.WaitText(t, "main h1", paid)
	b.WaitText(t, "main", "PAID")
	b.NoHorizontalScroll(t)
}

// TestFrontendExample runs docs/frontend.md's example as written, as its text says: pasted into
// the demo's page (opened at localhost), with mospay's address the test's; the user pays in the
// sheet it opens, and it ends with SUCCESS and PAID.
func TestFrontendExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/frontend.md")
	if err != nil {
		t.Fatal(err)
	}
	_, code, ok := strings.Cut(string(doc), "```js\n")
	code, _, ok2 := strings.Cut(code, "```")
	if !ok || !ok2 || !strings.Contains(code, "const API = 'http://127.0.0.1:8080';") {
		t.Fatalf("docs/frontend.md has no js example setting API to make run's address")
	}
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.ClientAmounts = false }})
	code = strings.Replace(code, "'http://127.0.0.1:8080'", "'"+h.URL+"'", 1)
	b := apptest.StartBrowser(t)
	for _, v := range []apptest.Viewport{apptest.Phone(), apptest.Laptop()} {
		b.SetViewport(t, v)
		b.Open(t, strings.Replace(h.SandboxURL, "127.0.0.1", "localhost", 1)+"/sandbox/demo")
		b.WaitText(t, demoWho, "Signed in as user-1")
		// Pasted into the console: its own scope, top-level await, run while the test pays.
		apptest.Eval[bool](t, b, "window.example = (async () => {\n"+code+
			"\nreturn { result, status: paid.status, outTradeNo: order.outTradeNo };\n})(); true")
		b.WaitText(t, sheet, "2.50 USD")
		b.Click(t, sheetPay)
		got := apptest.Eval[struct{ Result, Status, OutTradeNo string }](t, b, "window.example")
		if got.Result != "SUCCESS" || got.Status != "PAID" {
			t.Fatalf("the example at %s ended with %+v, want SUCCESS and PAID", v.Name, got)
		}
		if o := demoStory(t, h, got.OutTradeNo).Order; o.TotalAmount != "2.50" || o.Desc != "Coffee" {
			t.Fatalf("the example's order: %+v", o)
		}
	}
}
