package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mospay/mospay/money"
)

// The product list is for mini-apps without a backend of their own: finance keeps products with
// a price per currency, and a mini-app orders items of them, so that the price is mospay's, never
// the phone's. An order copies its lines at the prices of its creation: a later price change
// never changes an existing order.

// Product is one thing on sale, with its price in each currency it is sold in (minor units).
type Product struct {
	ID     string
	Name   string
	Prices map[money.Currency]int64
	// Active products are listed to mini-apps and can be ordered; an inactive one is kept for
	// the orders that name it.
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Item is one line of an order priced from the product list, as it was at the order's creation.
type Item struct {
	ProductID string
	Name      string
	Quantity  int
	UnitPrice money.Amount
}

// ItemRequest is one line a mini-app orders: a product and how many.
type ItemRequest struct {
	ProductID string
	Quantity  int
}

// ProductStore keeps the product list. Errors are coded as Store's.
type ProductStore interface {
	// Products lists the products by id; only the active ones when activeOnly.
	Products(ctx context.Context, activeOnly bool) ([]*Product, error)
	// Product returns one product. ENOTFOUND.
	Product(ctx context.Context, id string) (*Product, error)
	// SaveProduct inserts p (create) or replaces its name, prices and activity, recording a (if
	// not nil) in the same transaction. ECONFLICT when creating an id that exists; ENOTFOUND when
	// replacing one that does not.
	SaveProduct(ctx context.Context, p *Product, create bool, a *AdminAction) error
}

// ProductRequest is finance's description of a product: its prices as decimal text per
// currency code. Active nil means active.
type ProductRequest struct {
	ID     string
	Name   string
	Prices map[string]string
	Active *bool
}

var productIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// parseProduct validates a product request.
func (s *Service) parseProduct(r ProductRequest) (*Product, error) {
	if !productIDRe.MatchString(r.ID) {
		return nil, Errorf(EINVALID, "id: 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit")
	}
	name, err := parseDesc("name", r.Name)
	if err != nil {
		return nil, err
	}
	if name == "" || utf8.RuneCountInString(name) > maxProductName {
		return nil, Errorf(EINVALID, "name: 1 to %d characters", maxProductName)
	}
	if len(r.Prices) == 0 {
		return nil, Errorf(EINVALID, "prices: at least one currency's price, such as {\"USD\":\"2.50\"}")
	}
	p := &Product{ID: r.ID, Name: name, Prices: map[money.Currency]int64{}, Active: r.Active == nil || *r.Active}
	for code, text := range r.Prices {
		cur, err := money.ParseCurrency(code)
		if err != nil {
			return nil, Wrap(EINVALID, err, "prices: %s", err.Error())
		}
		minor, err := money.Parse(text, cur, s.cfg.MaxAmount[cur])
		switch {
		case errors.Is(err, money.ErrSyntax):
			return nil, Wrap(EINVALID, err, "prices.%s: %s", code, err.Error())
		case err != nil:
			return nil, Wrap(EUNPROCESSABLE, err, "prices.%s: %s", code, err.Error())
		}
		p.Prices[cur] = minor
	}
	return p, nil
}

// Products lists the product list; only what mini-apps may order when activeOnly.
func (s *Service) Products(ctx context.Context, activeOnly bool) ([]*Product, error) {
	return s.store.Products(ctx, activeOnly)
}

// CreateProduct adds a product, audited as admin's (no one's when admin is "": the sandbox's demo
// products). ECONFLICT when the id exists.
func (s *Service) CreateProduct(ctx context.Context, r ProductRequest, admin, requestID string) (*Product, error) {
	return s.saveProduct(ctx, r, true, admin, requestID)
}

// UpdateProduct replaces a product's name, prices and activity, audited as admin's; orders
// already made keep the prices of their creation. ENOTFOUND.
func (s *Service) UpdateProduct(ctx context.Context, r ProductRequest, admin, requestID string) (*Product, error) {
	return s.saveProduct(ctx, r, false, admin, requestID)
}

func (s *Service) saveProduct(ctx context.Context, r ProductRequest, create bool, admin, requestID string) (*Product, error) {
	p, err := s.parseProduct(r)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	p.CreatedAt, p.UpdatedAt = now, now
	verb := "updated"
	if create {
		verb = "created"
	}
	detail := fmt.Sprintf("product %s %s: %s, %s", p.ID, verb, p.Name, FormatPrices(p.Prices))
	if !p.Active {
		detail += ", inactive"
	}
	var audit *AdminAction
	if admin != "" {
		audit = &AdminAction{Actor: admin, Action: ActionProduct, Detail: detail, RequestID: requestID, At: now}
	}
	if err := s.store.SaveProduct(ctx, p, create, audit); err != nil {
		return nil, err
	}
	return s.store.Product(ctx, p.ID)
}

// FormatPrices writes prices as "2.50 USD, 10000 KHR", currencies in order.
func FormatPrices(prices map[money.Currency]int64) string {
	var parts []string
	for _, cur := range slices.Sorted(maps.Keys(prices)) {
		parts = append(parts, money.Format(prices[cur], cur)+" "+string(cur))
	}
	return strings.Join(parts, ", ")
}

// priceItems totals a mini-app's items at today's prices in the order's currency: each product
// must exist, be active and have a price in it (otherwise EINVALID). The description is the
// request's, or the products' names.
func (s *Service) priceItems(ctx context.Context, r CreateRequest) (money.Amount, string, []Item, error) {
	cur, err := money.ParseCurrency(r.Currency)
	if err != nil {
		return money.Amount{}, "", nil, Wrap(EINVALID, err, "currency: %s", err.Error())
	}
	if len(r.Items) == 0 || len(r.Items) > MaxItemLines {
		return money.Amount{}, "", nil, Errorf(EINVALID, "items: 1 to %d lines", MaxItemLines)
	}
	if r.IdempotencyKey != "" && !idempotencyKeyRe.MatchString(r.IdempotencyKey) {
		return money.Amount{}, "", nil, Errorf(EINVALID, "Idempotency-Key: 1 to 64 characters of A-Z a-z 0-9 _ . : -")
	}
	seen := map[string]bool{}
	items := make([]Item, 0, len(r.Items))
	var total int64
	var names []string
	for i, it := range r.Items {
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return money.Amount{}, "", nil, Errorf(EINVALID, "items[%d].quantity: a whole number from 1 to %d", i, MaxQuantity)
		}
		if seen[it.ProductID] {
			return money.Amount{}, "", nil, Errorf(EINVALID, "items[%d]: product %q is listed twice; give its quantity once", i, it.ProductID)
		}
		seen[it.ProductID] = true
		p, err := s.store.Product(ctx, it.ProductID)
		switch {
		case ErrorCode(err) == ENOTFOUND || (err == nil && !p.Active):
			return money.Amount{}, "", nil, Errorf(EINVALID, "items[%d].productId: no product %q on sale", i, it.ProductID)
		case err != nil:
			return money.Amount{}, "", nil, err
		}
		unit, ok := p.Prices[cur]
		if !ok {
			return money.Amount{}, "", nil, Errorf(EINVALID, "items[%d]: %s has no price in %s", i, p.Name, cur)
		}
		if unit > (math.MaxInt64-total)/int64(it.Quantity) {
			return money.Amount{}, "", nil, Errorf(EUNPROCESSABLE, "the items come to more than any order can hold")
		}
		total += unit * int64(it.Quantity)
		items = append(items, Item{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, UnitPrice: money.Amount{Minor: unit, Currency: cur}})
		name := p.Name
		if it.Quantity > 1 {
			name = fmt.Sprintf("%d × %s", it.Quantity, p.Name)
		}
		names = append(names, name)
	}
	if max := s.cfg.MaxAmount[cur]; max > 0 && total > max {
		return money.Amount{}, "", nil, Errorf(EUNPROCESSABLE, "the items come to %s %s; at most %s %s", money.Format(total, cur), cur,
			money.Format(max, cur), cur)
	}
	desc := r.Desc
	if desc == "" {
		desc = strings.Join(names, ", ")
		if utf8.RuneCountInString(desc) > maxDescRunes {
			desc = strings.TrimSpace(string([]rune(desc)[:maxDescRunes-1])) + "…"
		}
	}
	desc, err = parseDesc("desc", desc)
	if err != nil {
		return money.Amount{}, "", nil, err
	}
	return money.Amount{Minor: total, Currency: cur}, desc, items, nil
}

// itemsHash is what an idempotent request for items asked for, as sent: the lines, not their
// prices (a repeat after a price change is the same request, answered with the order first made).
func itemsHash(cur, desc string, items []ItemRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "items|%s|%s", cur, desc)
	for _, it := range items {
		fmt.Fprintf(&b, "|%s*%d", it.ProductID, it.Quantity)
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:])
}
