package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/mospay/mospay/order"
)

// LoginUser records a login of the user with openid: it makes the user with newID at their first
// login, and updates the language and last login of a known one.
func (db *DB) LoginUser(ctx context.Context, openid, language, newID string, at time.Time) (*order.User, error) {
	at = utc(at)
	var u userRow
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO users (id, openid, language, first_login_at, last_login_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (openid) DO UPDATE SET language = excluded.language, last_login_at = excluded.last_login_at`,
			newID, openid, language, at, at).Error; err != nil {
			return err
		}
		return tx.Where("openid = ?", openid).Take(&u).Error
	})
	if err != nil {
		return nil, err
	}
	return u.user(), nil
}

// User returns the user with id.
func (db *DB) User(ctx context.Context, id string) (*order.User, error) {
	var u userRow
	err := db.read.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, order.Errorf(order.ENOTFOUND, "no such user")
	}
	if err != nil {
		return nil, FormatError(err)
	}
	return u.user(), nil
}

// UsersByOpenID returns the user with openid, if any.
func (db *DB) UsersByOpenID(ctx context.Context, openid string) ([]*order.User, error) {
	var rows []userRow
	if err := db.read.WithContext(ctx).Where("openid = ?", openid).Find(&rows).Error; err != nil {
		return nil, FormatError(err)
	}
	out := make([]*order.User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

// RevokeUser sets the user's tokens_revoked_at and records the admin action in one transaction.
func (db *DB) RevokeUser(ctx context.Context, id string, at time.Time, a order.AdminAction) (*order.User, error) {
	var u userRow
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&userRow{}).Where("id = ?", id).Update("tokens_revoked_at", utc(at))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return order.Errorf(order.ENOTFOUND, "no such user")
		}
		if err := auditInsert(&a).exec(tx); err != nil {
			return err
		}
		return tx.Where("id = ?", id).Take(&u).Error
	})
	if err != nil {
		return nil, err
	}
	return u.user(), nil
}

// AdminActions lists the audit trail newest first, by keyset pagination on the id.
func (db *DB) AdminActions(ctx context.Context, f order.AuditFilter) (order.AuditPage, error) {
	limit := order.PageSize(f.Limit)
	q := db.read.WithContext(ctx).Model(&adminActionRow{})
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.OrderID != 0 {
		q = q.Where("order_id = ?", f.OrderID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if len(f.Except) > 0 {
		q = q.Where("action NOT IN ?", f.Except)
	}
	if f.From != nil {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	rows, next, err := pageOf(q, auditKeys, f.Cursor, limit, func(r *adminActionRow) int64 { return r.ID })
	if err != nil {
		return order.AuditPage{}, err
	}
	page := order.AuditPage{NextCursor: next}
	page.Actions = make([]order.AdminAction, len(rows))
	for i := range rows {
		page.Actions[i] = rows[i].action()
	}
	return page, nil
}

// LastQuery is when the last orderQuery of source about the order was made.
func (db *DB) LastQuery(ctx context.Context, orderID int64, source order.Source) (time.Time, bool, error) {
	var rows []queryRow
	err := db.read.WithContext(ctx).Where("order_id = ? AND source = ?", orderID, string(source)).
		Order("id DESC").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return time.Time{}, false, FormatError(err)
	}
	return rows[0].CreatedAt.UTC(), true, nil
}
