package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/mospay/mospay/order"
)

// logPricing says at start which ways an order's price may come in: the merchant API (with
// merchant keys), the product list (always), and amounts a mini-app chooses (only with
// MOSPAY_CLIENT_AMOUNTS). The keys' names are logged, never the keys.
func (a *App) logPricing() {
	var names []string
	for _, k := range a.cfg.MerchantKeys {
		if !slices.Contains(names, k.Name) {
			names = append(names, k.Name)
		}
	}
	a.log.Info("pricing paths", "merchant_api", len(names) > 0, "merchant_keys", names, "product_list", true,
		"client_amounts", a.cfg.ClientAmounts)
	if a.cfg.ClientAmounts && !a.cfg.Sandbox {
		a.log.Warn("MOSPAY_CLIENT_AMOUNTS is on: any mini-app user can choose what an order costs")
	}
}

// DemoProducts are the sandbox demo's shop: `serve --sandbox` puts them on the product list when
// they are missing, so that the demo mini-app and the quick start order from it.
var DemoProducts = []order.ProductRequest{
	{ID: "coffee", Name: "Iced coffee", Prices: map[string]string{"USD": "2.50"}},
	{ID: "noodles", Name: "Noodle soup", Prices: map[string]string{"KHR": "8000"}},
	{ID: "tshirt", Name: "T-shirt", Prices: map[string]string{"USD": "16.99"}},
}

// seedProducts adds the demo's products that are not on the product list yet (a product finance
// changed is left as it is). It is the sandbox's set-up, not an admin's action: not audited.
func (a *App) seedProducts(ctx context.Context) error {
	have, err := a.service().Products(ctx, false)
	if err != nil {
		return fmt.Errorf("sandbox products: %w", err)
	}
	known := map[string]bool{}
	for _, p := range have {
		known[p.ID] = true
	}
	for _, p := range DemoProducts {
		if known[p.ID] {
			continue
		}
		if _, err := a.service().CreateProduct(ctx, p, "", ""); err != nil && order.ErrorCode(err) != order.ECONFLICT {
			return fmt.Errorf("sandbox products: %s: %w", p.ID, err)
		}
	}
	return nil
}
