package api

import (
	"context"
	"maps"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// Products is the product list as the handlers use it (order.Service implements it).
type Products interface {
	Products(ctx context.Context, activeOnly bool) ([]*order.Product, error)
	CreateProduct(ctx context.Context, r order.ProductRequest, admin, requestID string) (*order.Product, error)
	UpdateProduct(ctx context.Context, r order.ProductRequest, admin, requestID string) (*order.Product, error)
}

// ProductJSON is a product: its prices as decimal text by currency. Active and the times are in
// admin views only.
type ProductJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Prices    map[string]string `json:"prices"`
	Active    *bool             `json:"active,omitempty"`
	CreatedAt string            `json:"createdAt,omitempty"`
	UpdatedAt string            `json:"updatedAt,omitempty"`
}

// ProductsJSON is a list of products.
type ProductsJSON struct {
	Products []ProductJSON `json:"products"`
}

func productView(p *order.Product, admin bool) ProductJSON {
	v := ProductJSON{ID: p.ID, Name: p.Name, Prices: map[string]string{}}
	for _, cur := range slices.Sorted(maps.Keys(p.Prices)) {
		v.Prices[string(cur)] = money.Format(p.Prices[cur], cur)
	}
	if admin {
		active := p.Active
		v.Active, v.CreatedAt, v.UpdatedAt = &active, rfc3339(p.CreatedAt), rfc3339(p.UpdatedAt)
	}
	return v
}

func productsView(ps []*order.Product, admin bool) ProductsJSON {
	out := ProductsJSON{Products: make([]ProductJSON, 0, len(ps))}
	for _, p := range ps {
		out.Products = append(out.Products, productView(p, admin))
	}
	return out
}

// productBody is POST /admin/products and PUT /admin/products/{id}.
type productBody struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Prices map[string]string `json:"prices"`
	Active *bool             `json:"active"`
}

// mpProducts is GET /mp/products: what a logged-in user may order, at today's prices.
func (s *Server) mpProducts(c echo.Context) error {
	ps, err := s.deps.Products.Products(c.Request().Context(), true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, productsView(ps, false))
}

// adminProducts is GET /admin/products: every product, active or not.
func (s *Server) adminProducts(c echo.Context) error {
	ps, err := s.deps.Products.Products(c.Request().Context(), false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, productsView(ps, true))
}

// adminCreateProduct is POST /admin/products: 201 with the new product; 409 if its id exists.
func (s *Server) adminCreateProduct(c echo.Context) error {
	var b productBody
	if err := bindStrict(c, &b); err != nil {
		return err
	}
	p, err := s.deps.Products.CreateProduct(c.Request().Context(), order.ProductRequest(b), adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, productView(p, true))
}

// adminUpdateProduct is PUT /admin/products/{id}: the product's name, prices and activity are
// replaced; orders already made keep their prices. The body's id, if given, must be the path's.
func (s *Server) adminUpdateProduct(c echo.Context) error {
	var b productBody
	if err := bindStrict(c, &b); err != nil {
		return err
	}
	id := c.Param("id")
	if b.ID != "" && b.ID != id {
		return order.Errorf(order.EINVALID, "id: the body's id differs from the path's")
	}
	b.ID = id
	p, err := s.deps.Products.UpdateProduct(c.Request().Context(), order.ProductRequest(b), adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, productView(p, true))
}

// UnmarshalJSON reads one line of POST /mp/orders's items by bindStrict's rules: a key it does not
// know (a "price", say) is refused, not ignored.
func (b *itemBody) UnmarshalJSON(data []byte) error {
	type plain itemBody // without this method
	var p plain
	if err := decodeStrict(data, &p); err != nil {
		return err
	}
	*b = itemBody(p)
	return nil
}
