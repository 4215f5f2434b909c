package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
)

// product is a product as the API shows it.
type product struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Prices map[string]string `json:"prices"`
	Active *bool             `json:"active"`
}

// itemOrder is an order priced from the product list.
type itemOrder struct {
	apptest.Order
	Items []struct {
		ProductID, Name, UnitPrice string
		Quantity                   int
	} `json:"items"`
}

// TestProductList: with client-chosen amounts off, a mini-app orders items of the product list;
// mospay totals them at today's prices and keeps the lines on the order, so that a later price
// change leaves the order as it was (and a repeat under its Idempotency-Key answers with it).
// Finance manages the list through /admin/products, audited; what is not on sale, not priced in
// the currency, or out of bounds is refused, and a totalAmount is refused 403 with no prepay.
func TestProductList(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.ClientAmounts = false }})
	token := h.Login(t, "user-products")
	admin := func(method, path string, body any) apptest.Response {
		return h.Must(t, method, h.URL+path, body, apptest.Bearer(apptest.FinanceToken))
	}

	// The sandbox's demo products are there from the start.
	var list struct{ Products []product }
	h.Must(t, http.MethodGet, h.URL+"/mp/products", nil, apptest.Bearer(token)).Decode(t, &list)
	if len(list.Products) != 3 || list.Products[0].ID != "coffee" || list.Products[0].Prices["USD"] != "2.50" ||
		list.Products[1].Prices["KHR"] != "8000" || list.Products[2].Name != "T-shirt" || list.Products[0].Active != nil {
		t.Fatalf("the demo's products: %+v", list.Products)
	}
	h.Must(t, http.MethodGet, h.URL+"/mp/products", nil, nil).WantError(t, http.StatusUnauthorized, "unauthorized")

	// Finance adds a product with two prices, and one not on sale.
	r := admin(http.MethodPost, "/admin/products", map[string]any{"id": "cake", "name": "Cake", "prices": map[string]string{"USD": "3.50", "KHR": "14000"}})
	var cake product
	r.Decode(t, &cake)
	if r.Status != http.StatusCreated || cake.Prices["KHR"] != "14000" || cake.Active == nil || !*cake.Active {
		t.Fatalf("create a product: HTTP %d %s", r.Status, r.Body)
	}
	admin(http.MethodPost, "/admin/products", map[string]any{"id": "cake", "name": "Cake", "prices": map[string]string{"USD": "1.00"}}).
		WantError(t, http.StatusConflict, "conflict")
	if r := admin(http.MethodPost, "/admin/products", map[string]any{"id": "old", "name": "Old stock", "prices": map[string]string{"USD": "1.00"}, "active": false}); r.Status != http.StatusCreated {
		t.Fatalf("create an inactive product: HTTP %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		name string
		body any
	}{
		{"no prices", map[string]any{"id": "x", "name": "X", "prices": map[string]string{}}},
		{"an unknown currency", map[string]any{"id": "x", "name": "X", "prices": map[string]string{"EUR": "1.00"}}},
		{"a price as a number", `{"id":"x","name":"X","prices":{"USD":1}}`},
		{"three decimals", map[string]any{"id": "x", "name": "X", "prices": map[string]string{"USD": "1.001"}}},
		{"an id with a space", map[string]any{"id": "x y", "name": "X", "prices": map[string]string{"USD": "1.00"}}},
		{"a name with '='", map[string]any{"id": "x", "name": "a=b", "prices": map[string]string{"USD": "1.00"}}},
		{"no name", map[string]any{"id": "x", "prices": map[string]string{"USD": "1.00"}}},
	} {
		if r := admin(http.MethodPost, "/admin/products", tc.body); r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: HTTP %d %s, want 400 or 422", tc.name, r.Status, r.Body)
		}
	}
	h.Must(t, http.MethodGet, h.URL+"/mp/products", nil, apptest.Bearer(token)).Decode(t, &list)
	if len(list.Products) != 4 {
		t.Fatalf("on sale: %+v, want the demo's three and the cake", list.Products)
	}

	// A client's amount is refused before anything reaches MOS.
	r, err := h.Create(token, apptest.CreateBody{TotalAmount: "0.01", Currency: "USD", Desc: "iPhone"}, "")
	if err != nil {
		t.Fatal(err)
	}
	r.WantError(t, http.StatusForbidden, "client_amount_refused")
	if n := h.Sandbox.Stats().Calls["prepay"]; n != 0 {
		t.Fatalf("%d prepays after a refused amount", n)
	}

	// Items, totalled at today's prices, the lines kept.
	items := map[string]any{"items": []map[string]any{{"productId": "coffee", "quantity": 2}, {"productId": "cake", "quantity": 1}}, "currency": "USD"}
	r, err = h.Create(token, items, "basket-1")
	if err != nil {
		t.Fatal(err)
	}
	var o itemOrder
	r.Decode(t, &o)
	if r.Status != http.StatusCreated || o.TotalAmount != "8.50" || o.Currency != "USD" || o.Desc != "2 × Iced coffee, Cake" || len(o.Items) != 2 ||
		o.Items[0].UnitPrice != "2.50" || o.Items[0].Quantity != 2 || o.Items[1].Name != "Cake" {
		t.Fatalf("order of items: HTTP %d %s", r.Status, r.Body)
	}
	if v, _ := h.Sandbox.Order(o.OutTradeNo); v.TotalAmount != "8.50" {
		t.Fatalf("MOS was asked for %q, want 8.50", v.TotalAmount)
	}
	r, _ = h.Create(token, map[string]any{"items": []map[string]any{{"productId": "noodles", "quantity": 3}}, "currency": "KHR", "desc": "Lunch"}, "")
	var khr itemOrder
	r.Decode(t, &khr)
	if r.Status != http.StatusCreated || khr.TotalAmount != "24000" || khr.Desc != "Lunch" {
		t.Fatalf("order in KHR: HTTP %d %s", r.Status, r.Body)
	}

	// A price change leaves the order alone; a repeat of its request answers with it.
	r = admin(http.MethodPut, "/admin/products/coffee", map[string]any{"name": "Iced coffee", "prices": map[string]string{"USD": "3.00"}})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"USD":"3.00"`) {
		t.Fatalf("change a price: HTTP %d %s", r.Status, r.Body)
	}
	admin(http.MethodPut, "/admin/products/nope", map[string]any{"name": "X", "prices": map[string]string{"USD": "1.00"}}).WantError(t, http.StatusNotFound, "not_found")
	admin(http.MethodPut, "/admin/products/coffee", map[string]any{"id": "tea", "name": "X", "prices": map[string]string{"USD": "1.00"}}).
		WantError(t, http.StatusBadRequest, "invalid_request")
	var before itemOrder
	h.Must(t, http.MethodGet, h.URL+"/mp/orders/"+o.OutTradeNo, nil, apptest.Bearer(token)).Decode(t, &before)
	if before.TotalAmount != "8.50" || before.Items[0].UnitPrice != "2.50" {
		t.Fatalf("the order after the price change: %+v", before)
	}
	r, _ = h.Create(token, items, "basket-1")
	var repeat itemOrder
	r.Decode(t, &repeat)
	if r.Status != http.StatusOK || repeat.OutTradeNo != o.OutTradeNo || repeat.TotalAmount != "8.50" {
		t.Fatalf("repeat after the price change: HTTP %d %s", r.Status, r.Body)
	}
	if r := admin(http.MethodPut, "/admin/products/cake", map[string]any{"name": "Cake", "prices": map[string]string{"USD": "3.50"}, "active": false}); r.Status != http.StatusOK {
		t.Fatalf("take the cake off sale: HTTP %d %s", r.Status, r.Body)
	}
	r, _ = h.Create(token, items, "basket-1")
	r.Decode(t, &repeat)
	if r.Status != http.StatusOK || repeat.OutTradeNo != o.OutTradeNo {
		t.Fatalf("repeat after a product went off sale: HTTP %d %s, want the order first made", r.Status, r.Body)
	}
	r, _ = h.Create(token, map[string]any{"items": []map[string]any{{"productId": "coffee", "quantity": 1}}, "currency": "USD"}, "")
	var now itemOrder
	r.Decode(t, &now)
	if r.Status != http.StatusCreated || now.TotalAmount != "3.00" {
		t.Fatalf("an order at the new price: HTTP %d %s", r.Status, r.Body)
	}

	// The user pays the basket at its price.
	h.Pay(t, o.OutTradeNo)
	if paid := h.WaitStatus(t, token, o.OutTradeNo, "PAID"); paid.TotalAmount != "8.50" || paid.HasFlag("amount_mismatch") {
		t.Fatalf("paid: %+v", paid)
	}

	// Refusals: nothing stored.
	orders := h.Count(t, `SELECT COUNT(*) FROM orders`)
	for _, tc := range []struct {
		name string
		body any
		code int
	}{
		{"an unknown product", `{"items":[{"productId":"nope","quantity":1}],"currency":"USD"}`, 400},
		{"an inactive product", `{"items":[{"productId":"old","quantity":1}],"currency":"USD"}`, 400},
		{"no price in the currency", `{"items":[{"productId":"noodles","quantity":1}],"currency":"USD"}`, 400},
		{"quantity 0", `{"items":[{"productId":"coffee","quantity":0}],"currency":"USD"}`, 400},
		{"quantity 100", `{"items":[{"productId":"coffee","quantity":100}],"currency":"USD"}`, 400},
		{"a product twice", `{"items":[{"productId":"coffee","quantity":1},{"productId":"coffee","quantity":1}],"currency":"USD"}`, 400},
		{"no items", `{"items":[],"currency":"USD"}`, 400},
		{"items and an amount", `{"items":[{"productId":"coffee","quantity":1}],"totalAmount":"1.00","currency":"USD"}`, 400},
		{"neither", `{"currency":"USD","desc":"x"}`, 400},
		{"quantity as text", `{"items":[{"productId":"coffee","quantity":"1"}],"currency":"USD"}`, 400},
		{"an unknown item field", `{"items":[{"productId":"coffee","quantity":1,"price":"0.01"}],"currency":"USD"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.Create(token, tc.body, "")
			if err != nil {
				t.Fatal(err)
			}
			r.WantError(t, tc.code, "invalid_request")
		})
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM orders`); n != orders {
		t.Fatalf("refused orders were stored: %d, want %d", n, orders)
	}

	// Every change finance made is in the audit trail.
	var audit struct {
		Actions []struct{ Actor, Action, Detail string }
	}
	admin(http.MethodGet, "/admin/audit?actor=finance", nil).Decode(t, &audit)
	var changes []string
	for _, a := range audit.Actions {
		if a.Action == "product" {
			changes = append(changes, a.Detail)
		}
	}
	if len(changes) != 4 || !strings.Contains(changes[0], "cake updated") || !strings.Contains(changes[1], "coffee updated") || !strings.Contains(changes[1], "3.00 USD") ||
		!strings.Contains(changes[3], "cake created") {
		t.Fatalf("product changes in the audit: %q", changes)
	}
}

// TestProductsAndReferencesInBrowser: finance changes a price on the products page in Chromium,
// and reads a merchant's order (reference, metadata) and an order of items on their stories, at
// laptop and phone widths, with no console error and no sideways scrolling.
func TestProductsAndReferencesInBrowser(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-browser")
	_, who := verifyUser(t, h, token)
	r := merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/orders", map[string]any{"userId": who["userId"],
		"totalAmount": "42.50", "currency": "USD", "desc": "Order 1001", "reference": "ORD-1001",
		"metadata": map[string]string{"cart": "c-77", "note": strings.Repeat("a long note without spaces ", 3) + strings.Repeat("x", 120)}})
	var mo merchantOrder
	r.Decode(t, &mo)
	r, _ = h.Create(token, map[string]any{"items": []map[string]any{{"productId": "tshirt", "quantity": 2}}, "currency": "USD"}, "")
	var io itemOrder
	r.Decode(t, &io)
	if mo.OutTradeNo == "" || io.OutTradeNo == "" {
		t.Fatal("the orders were not made")
	}

	b := apptest.StartBrowser(t)
	for _, v := range []apptest.Viewport{apptest.Laptop(), apptest.Phone()} {
		b.SetViewport(t, v)
		b.Open(t, h.URL+"/finance/products")
		if b.Text(t, finH1) == "Sign in" { // the first time: back to the products after signing in
			b.Type(t, "input[name=token]", apptest.FinanceToken)
			b.Press(t, kb.Enter)
		}
		b.WaitText(t, finH1, "Products")
		b.WaitText(t, "table.products", "16.99 USD")
		b.NoHorizontalScroll(t)
		b.Open(t, h.URL+"/finance/orders/"+mo.OutTradeNo)
		b.WaitText(t, "dl.facts", "ORD-1001")
		b.WaitText(t, "dl.facts", "c-77")
		b.NoHorizontalScroll(t)
		b.Open(t, h.URL+"/finance/orders/"+io.OutTradeNo)
		b.WaitText(t, "dl.facts", "2 × T-shirt (tshirt) at 16.99 USD")
		b.NoHorizontalScroll(t)
		b.Open(t, h.URL+"/finance/orders?q=ORD-1001")
		b.WaitText(t, "table.orders", "ORD-1001")
		b.NoHorizontalScroll(t)
	}
	// Change a price with the form.
	b.Open(t, h.URL+"/finance/products?edit=noodles")
	b.WaitText(t, "main h2", "Change noodles")
	b.Run(t, chromedp.SetValue(chromedp.CSS("input[name=khr]"), "9000"))
	b.Click(t, "form.product button[type=submit]")
	b.WaitText(t, finNotice, "Product changed")
	b.WaitText(t, "table.products", "9000 KHR")
	b.NoHorizontalScroll(t)
}
