package store

import (
	"context"
	"encoding/json"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"gorm.io/gorm"
)

// CreateMerchantOrder inserts a merchant's order with its first transition and the audit row of
// its creation, in one transaction. The unique index on (merchant, reference) makes a second
// insert of the same reference ECONFLICT, on every instance sharing the database.
func (db *DB) CreateMerchantOrder(ctx context.Context, o *order.Order, t order.Transition, a order.AdminAction) error {
	return db.InTx(ctx, func(tx *gorm.DB) error {
		id, err := insertOrder(tx, toRow(o))
		if err != nil {
			return err
		}
		o.ID = id
		if err := transitionInsert(&transitionRow{OrderID: id, Version: t.Version, FromStatus: string(t.From),
			ToStatus: string(t.To), Source: string(t.Source), Reason: t.Reason, MOSStatus: t.MOSStatus,
			RequestID: t.RequestID, CreatedAt: utc(t.At)}).exec(tx); err != nil {
			return err
		}
		a.OrderID = &id
		return auditInsert(&a).exec(tx)
	})
}

// OrderByReference returns the merchant's order with that reference.
func (db *DB) OrderByReference(ctx context.Context, merchant, reference string) (*order.Order, error) {
	return db.orderWhere(ctx, db.read, "merchant = ? AND reference = ?", merchant, reference)
}

// merchantFiltered adds a filter's merchant and reference to q (a query on orders).
func merchantFiltered(q *gorm.DB, f order.ListFilter) *gorm.DB {
	if f.Merchant != "" {
		q = q.Where("merchant = ?", f.Merchant)
	}
	if f.Reference != "" {
		q = q.Where("reference = ?", f.Reference)
	}
	return q
}

// itemJSON is an order's line as the items column holds it.
type itemJSON struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitMinor int64  `json:"unitMinor"`
	Currency  string `json:"currency"`
}

func itemsText(items []order.Item) string {
	if len(items) == 0 {
		return ""
	}
	rows := make([]itemJSON, len(items))
	for i, it := range items {
		rows[i] = itemJSON{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, UnitMinor: it.UnitPrice.Minor,
			Currency: string(it.UnitPrice.Currency)}
	}
	b, _ := json.Marshal(rows) // plain values always marshal
	return string(b)
}

func itemsOf(text string) []order.Item {
	if text == "" {
		return nil
	}
	var rows []itemJSON
	if json.Unmarshal([]byte(text), &rows) != nil {
		return nil // the column is written only by itemsText
	}
	out := make([]order.Item, len(rows))
	for i, r := range rows {
		out[i] = order.Item{ProductID: r.ProductID, Name: r.Name, Quantity: r.Quantity,
			UnitPrice: money.Amount{Minor: r.UnitMinor, Currency: money.Currency(r.Currency)}}
	}
	return out
}

func metadataText(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

func metadataOf(text string) map[string]string {
	if text == "" {
		return nil
	}
	var m map[string]string
	if json.Unmarshal([]byte(text), &m) != nil {
		return nil // the column is written only by metadataText
	}
	return m
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
