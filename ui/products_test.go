package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
)

// TestFinanceProductsPage: finance lists the product list, adds a product and changes one with
// CSRF-guarded forms (a refused form is given back with the reason, and changes nothing), and
// every change is in the audit trail under the admin's name.
func TestFinanceProductsPage(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)

	page := f.Get(t, "/finance/products")
	wantPage(t, page, http.StatusOK, "Iced coffee", "2.50 USD", "8000 KHR", "T-shirt", "Add a product", `href="/finance/products?edit=coffee"`)
	csrf := page.CSRF(t)

	wantPage(t, f.Post(t, "/finance/products", url.Values{"id": {"cake"}, "name": {"Cake"}, "usd": {"3.50"}, "active": {"on"}}), http.StatusForbidden)
	refused := f.Post(t, "/finance/products", url.Values{"csrf": {csrf}, "id": {"cake"}, "name": {"Cake <b>"}, "usd": {"3.505"}, "active": {"on"}})
	wantPage(t, refused, http.StatusUnprocessableEntity, "The product was not added: prices.USD", `value="Cake <b>"`)
	if strings.Contains(refused.Body, "<b>") {
		t.Fatal("a refused name reached the page unescaped")
	}
	wantPage(t, f.Post(t, "/finance/products", url.Values{"csrf": {csrf}, "id": {"cake"}, "name": {"Cake"}}), http.StatusBadRequest,
		"The product was not added: prices: at least one")
	wantPage(t, f.Post(t, "/finance/products", url.Values{"csrf": {csrf}, "id": {"coffee"}, "name": {"Coffee"}, "usd": {"1.00"}}),
		http.StatusConflict, "The product was not added")

	added := f.Post(t, "/finance/products", url.Values{"csrf": {csrf}, "id": {"cake"}, "name": {"Cake"}, "usd": {"3.50"}, "khr": {"14000"}, "active": {"on"}})
	wantRedirect(t, added, "/finance/products?done=created")
	wantPage(t, f.Get(t, added.Location), http.StatusOK, "Product added.", "Cake", "14000 KHR, 3.50 USD")

	edit := f.Get(t, "/finance/products?edit=coffee")
	wantPage(t, edit, http.StatusOK, "Change coffee", `action="/finance/products/coffee"`, `value="2.50"`)
	changed := f.Post(t, "/finance/products/coffee", url.Values{"csrf": {csrf}, "name": {"Iced coffee"}, "usd": {"3.00"}})
	wantRedirect(t, changed, "/finance/products?done=updated")
	wantPage(t, f.Get(t, changed.Location), http.StatusOK, "Product changed", "3.00 USD")
	var list struct {
		Products []struct {
			ID     string
			Active bool
		}
	}
	h.Admin(t, "/admin/products").Decode(t, &list)
	if len(list.Products) != 4 || list.Products[1].ID != "coffee" || list.Products[1].Active {
		t.Fatalf("products after the change: %+v, want coffee off sale (its box unticked)", list.Products)
	}
	wantPage(t, f.Post(t, "/finance/products/nope", url.Values{"csrf": {csrf}, "name": {"X"}, "usd": {"1.00"}}), http.StatusNotFound,
		"The product was not changed")

	wantPage(t, f.Get(t, "/finance/audit?actor=finance"), http.StatusOK, ">product<", "product cake created: Cake, 14000 KHR, 3.50 USD",
		"product coffee updated: Iced coffee, 3.00 USD, inactive")
}
