package store

import (
	"context"
	"errors"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"gorm.io/gorm"
)

type productRow struct {
	ID        string `gorm:"primaryKey"`
	Name      string
	Active    bool
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"`
}

func (productRow) TableName() string { return "products" }

type priceRow struct {
	ProductID   string
	Currency    string
	AmountMinor int64
}

func (priceRow) TableName() string { return "product_prices" }

// Products lists the products by id with their prices; only the active ones when activeOnly.
func (db *DB) Products(ctx context.Context, activeOnly bool) ([]*order.Product, error) {
	q := db.read.WithContext(ctx).Order("id")
	if activeOnly {
		q = q.Where("active = ?", true)
	}
	var rows []productRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, FormatError(err)
	}
	return db.withPrices(ctx, rows)
}

// Product returns one product with its prices.
func (db *DB) Product(ctx context.Context, id string) (*order.Product, error) {
	var r productRow
	err := db.read.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, order.Errorf(order.ENOTFOUND, "no such product")
	}
	if err != nil {
		return nil, FormatError(err)
	}
	ps, err := db.withPrices(ctx, []productRow{r})
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

func (db *DB) withPrices(ctx context.Context, rows []productRow) ([]*order.Product, error) {
	out := make([]*order.Product, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]string, len(rows))
	byID := map[string]*order.Product{}
	for i, r := range rows {
		ids[i] = r.ID
		out[i] = &order.Product{ID: r.ID, Name: r.Name, Active: r.Active, Prices: map[money.Currency]int64{},
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
		byID[r.ID] = out[i]
	}
	var prices []priceRow
	if err := db.read.WithContext(ctx).Where("product_id IN ?", ids).Find(&prices).Error; err != nil {
		return nil, FormatError(err)
	}
	for _, p := range prices {
		byID[p.ProductID].Prices[money.Currency(p.Currency)] = p.AmountMinor
	}
	return out, nil
}

// SaveProduct inserts or replaces a product and its prices, with the audit row if any, in one
// transaction.
func (db *DB) SaveProduct(ctx context.Context, p *order.Product, create bool, a *order.AdminAction) error {
	return db.InTx(ctx, func(tx *gorm.DB) error {
		if create {
			if err := tx.Exec(`INSERT INTO products (id, name, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
				p.ID, p.Name, p.Active, utc(p.CreatedAt), utc(p.UpdatedAt)).Error; err != nil {
				return err
			}
		} else {
			res := tx.Exec(`UPDATE products SET name = ?, active = ?, updated_at = ? WHERE id = ?`, p.Name, p.Active, utc(p.UpdatedAt), p.ID)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return order.Errorf(order.ENOTFOUND, "no such product")
			}
			if err := tx.Exec(`DELETE FROM product_prices WHERE product_id = ?`, p.ID).Error; err != nil {
				return err
			}
		}
		for cur, minor := range p.Prices {
			if err := tx.Exec(`INSERT INTO product_prices (product_id, currency, amount_minor) VALUES (?, ?, ?)`,
				p.ID, string(cur), minor).Error; err != nil {
				return err
			}
		}
		if a == nil {
			return nil
		}
		return auditInsert(a).exec(tx)
	})
}
