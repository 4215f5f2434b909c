package ui

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// The product list's page: every product with its prices, and a form that adds one or changes
// one (?edit=ID fills it in). Each change goes through the same service call as /admin/products,
// audited under the signed-in admin's name.

// productsPageView is GET /finance/products.
type productsPageView struct {
	chrome
	Products []productRow
	Form     productForm
}

// productRow is a product as the page lists it.
type productRow struct {
	ID, Name, Prices, Updated, EditURL string
	Active                             bool
}

// productForm is the add-or-change form, filled from a product, or from a refused submission.
type productForm struct {
	Action, ID, Name, USD, KHR string
	Active                     bool
	Editing                    bool // the id is fixed: the form changes that product
}

// productsPage is GET /finance/products; ?edit=ID fills the form with that product, ?done= says
// what the last change did.
func (h *Handler) productsPage(c echo.Context) error {
	var notice string
	switch c.QueryParam("done") {
	case "created":
		notice = "Product added."
	case "updated":
		notice = "Product changed; orders already made keep their prices."
	}
	return h.showProducts(c, http.StatusOK, notice, "", nil)
}

// showProducts renders the page with a notice or an error (and status); form, when not nil, is a
// refused submission given back.
func (h *Handler) showProducts(c echo.Context, status int, notice, errMsg string, form *productForm) error {
	ps, err := h.deps.Products.Products(c.Request().Context(), false)
	if err != nil {
		return h.errorPage(c, err)
	}
	tz, err := h.deps.API.ReportTZ(c)
	if err != nil {
		return h.errorPage(c, err)
	}
	v := productsPageView{chrome: h.chrome(c, "products", "Products"), Form: productForm{Action: "/finance/products", Active: true}}
	v.Notice, v.Error = notice, errMsg
	edit := c.QueryParam("edit")
	for _, p := range ps {
		v.Products = append(v.Products, productRow{ID: p.ID, Name: p.Name, Prices: order.FormatPrices(p.Prices),
			Updated: showTime(p.UpdatedAt, tz), Active: p.Active, EditURL: "/finance/products?edit=" + url.QueryEscape(p.ID)})
		if p.ID == edit {
			v.Form = productForm{Action: "/finance/products/" + url.PathEscape(p.ID), ID: p.ID, Name: p.Name, Active: p.Active, Editing: true}
			if m, ok := p.Prices[money.USD]; ok {
				v.Form.USD = money.Format(m, money.USD)
			}
			if m, ok := p.Prices[money.KHR]; ok {
				v.Form.KHR = money.Format(m, money.KHR)
			}
		}
	}
	if form != nil {
		v.Form = *form
	}
	return h.render(c, status, "products", v)
}

// productSubmission reads the form: a price left empty is no price in that currency.
func productSubmission(c echo.Context) (order.ProductRequest, productForm) {
	f := productForm{ID: c.FormValue("id"), Name: c.FormValue("name"), USD: c.FormValue("usd"), KHR: c.FormValue("khr"),
		Active: c.FormValue("active") == "on"}
	r := order.ProductRequest{ID: f.ID, Name: f.Name, Prices: map[string]string{}, Active: &f.Active}
	if f.USD != "" {
		r.Prices[string(money.USD)] = f.USD
	}
	if f.KHR != "" {
		r.Prices[string(money.KHR)] = f.KHR
	}
	return r, f
}

// createProductAction is POST /finance/products: add a product, then back to the list.
func (h *Handler) createProductAction(c echo.Context) error {
	r, f := productSubmission(c)
	if _, err := h.deps.Products.CreateProduct(c.Request().Context(), r, adminOf(c), h.requestID(c)); err != nil {
		status, msg := h.errorStatus(c, err)
		f.Action = "/finance/products"
		return h.showProducts(c, status, "", "The product was not added: "+msg, &f)
	}
	return c.Redirect(http.StatusSeeOther, "/finance/products?done=created")
}

// updateProductAction is POST /finance/products/{id}: change the product, then back to the list.
func (h *Handler) updateProductAction(c echo.Context) error {
	r, f := productSubmission(c)
	r.ID, f.ID, f.Editing = c.Param("id"), c.Param("id"), true
	if _, err := h.deps.Products.UpdateProduct(c.Request().Context(), r, adminOf(c), h.requestID(c)); err != nil {
		status, msg := h.errorStatus(c, err)
		f.Action = "/finance/products/" + url.PathEscape(r.ID)
		return h.showProducts(c, status, "", "The product was not changed: "+msg, &f)
	}
	return c.Redirect(http.StatusSeeOther, "/finance/products?done=updated")
}
