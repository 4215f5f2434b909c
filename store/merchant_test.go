package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// TestMerchantOrders: a merchant's order keeps its merchant, reference, metadata and lines; the
// reference is unique per merchant in the schema (another merchant may use it); lists and the
// search find orders by reference; the creation's audit row commits with the order.
func TestMerchantOrders(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		tr := order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: t0}
		audit := func(o *order.Order) order.AdminAction {
			return order.AdminAction{Actor: o.Merchant, Action: order.ActionCreate, OutTradeNo: o.OutTradeNo, At: t0}
		}
		o := newOrder(1, "u1")
		o.Merchant, o.Reference, o.Metadata = "shop", "ORD-1", map[string]string{"cart": "c-1", "note": "é"}
		o.Items = []order.Item{{ProductID: "coffee", Name: "Iced coffee", Quantity: 2, UnitPrice: money.Amount{Minor: 250, Currency: money.USD}}}
		if err := db.CreateMerchantOrder(ctx, o, tr, audit(o)); err != nil {
			t.Fatal(err)
		}
		got, err := db.OrderByReference(ctx, "shop", "ORD-1")
		if err != nil || got.ID != o.ID || got.Merchant != "shop" || got.Reference != "ORD-1" || !reflect.DeepEqual(got.Metadata, o.Metadata) ||
			!reflect.DeepEqual(got.Items, o.Items) {
			t.Fatalf("by reference: %+v %v", got, err)
		}
		if _, err := db.OrderByReference(ctx, "other", "ORD-1"); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("another merchant's reference: %v", err)
		}

		dup := newOrder(2, "u1")
		dup.Merchant, dup.Reference = "shop", "ORD-1"
		if err := db.CreateMerchantOrder(ctx, dup, tr, audit(dup)); order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("the same merchant's reference again: %v, want conflict", err)
		}
		theirs := newOrder(3, "u1")
		theirs.Merchant, theirs.Reference = "other", "ORD-1"
		if err := db.CreateMerchantOrder(ctx, theirs, tr, audit(theirs)); err != nil {
			t.Fatalf("another merchant's same reference: %v", err)
		}
		plain := create(t, db, newOrder(4, "u1"))
		if p, err := db.Order(ctx, plain.OutTradeNo); err != nil || p.Merchant != "" || p.Reference != "" || p.Metadata != nil || p.Items != nil {
			t.Fatalf("a mini-app's order: %+v %v", p, err)
		}

		for _, tc := range []struct {
			name string
			f    order.ListFilter
			want []int64
		}{
			{"merchant", order.ListFilter{Merchant: "shop"}, []int64{o.ID}},
			{"merchant and reference", order.ListFilter{Merchant: "other", Reference: "ORD-1"}, []int64{theirs.ID}},
			{"search by reference", order.ListFilter{Search: "ORD-1"}, []int64{theirs.ID, o.ID}},
			{"no such reference", order.ListFilter{Reference: "ORD-2"}, nil},
		} {
			p, err := db.Orders(ctx, tc.f)
			var ids []int64
			for _, o := range p.Orders {
				ids = append(ids, o.ID)
			}
			if err != nil || !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("%s: %v %v, want %v", tc.name, ids, err, tc.want)
			}
		}
		page, err := db.AdminActions(ctx, order.AuditFilter{Actor: "shop"})
		if err != nil || len(page.Actions) != 1 || page.Actions[0].Action != order.ActionCreate || page.Actions[0].OrderID == nil ||
			*page.Actions[0].OrderID != o.ID {
			t.Fatalf("the creation's audit: %+v %v (the refused duplicate must have left none)", page.Actions, err)
		}
	})
}

// TestProducts: products and their prices, created, replaced (a currency dropped), listed active
// or all; an id twice is a conflict, an unknown one not found; each change is audited with it.
func TestProducts(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		a := &order.AdminAction{Actor: "finance", Action: order.ActionProduct, At: t0}
		p := &order.Product{ID: "coffee", Name: "Iced coffee", Active: true, CreatedAt: t0, UpdatedAt: t0,
			Prices: map[money.Currency]int64{money.USD: 250, money.KHR: 10000}}
		if err := db.SaveProduct(ctx, p, true, a); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveProduct(ctx, p, true, a); order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("the same id again: %v, want conflict", err)
		}
		tea := &order.Product{ID: "tea", Name: "Tea", Active: false, CreatedAt: t0, UpdatedAt: t0, Prices: map[money.Currency]int64{money.USD: 100}}
		if err := db.SaveProduct(ctx, tea, true, nil); err != nil {
			t.Fatal(err)
		}
		p.Name, p.Prices, p.UpdatedAt = "Iced coffee (large)", map[money.Currency]int64{money.USD: 300}, t0.Add(1)
		if err := db.SaveProduct(ctx, p, false, a); err != nil {
			t.Fatal(err)
		}
		got, err := db.Product(ctx, "coffee")
		if err != nil || got.Name != "Iced coffee (large)" || !reflect.DeepEqual(got.Prices, p.Prices) || !got.Active || !got.CreatedAt.Equal(t0) {
			t.Fatalf("after the change: %+v %v", got, err)
		}
		if err := db.SaveProduct(ctx, &order.Product{ID: "nope", Name: "x", Prices: p.Prices}, false, a); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("changing an unknown product: %v", err)
		}
		if _, err := db.Product(ctx, "nope"); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("an unknown product: %v", err)
		}
		for _, tc := range []struct {
			active bool
			want   []string
		}{{true, []string{"coffee"}}, {false, []string{"coffee", "tea"}}} {
			ps, err := db.Products(ctx, tc.active)
			var ids []string
			for _, p := range ps {
				ids = append(ids, p.ID)
			}
			if err != nil || !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("products (active only %v): %v %v", tc.active, ids, err)
			}
		}
		page, err := db.AdminActions(ctx, order.AuditFilter{Actor: "finance"})
		if err != nil || len(page.Actions) != 2 {
			t.Fatalf("product audit: %+v %v, want the creation and the change (not the refused ones)", page.Actions, err)
		}
	})
}
