package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/mospay/mospay/order"
)

// CreateSession stores a new finance session and its sign-in's audit row in one transaction,
// and drops the sessions that expired a day ago or more (the audit trail keeps their sign-ins):
// the table holds about one row per sign-in of the last day and the open sessions.
func (db *DB) CreateSession(ctx context.Context, fs order.FinanceSession, a order.AdminAction) error {
	return db.InTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", utc(fs.CreatedAt).Add(-24*time.Hour)).Delete(&sessionRow{}).Error; err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO finance_sessions (id, admin, token_fingerprint, remote_ip, user_agent, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, fs.ID, fs.Admin, fs.TokenFingerprint, fs.RemoteIP, fs.UserAgent,
			utc(fs.CreatedAt), utc(fs.ExpiresAt)).Error; err != nil {
			return err
		}
		return auditInsert(&a).exec(tx)
	})
}

// Session returns the finance session with id, open or not.
func (db *DB) Session(ctx context.Context, id string) (*order.FinanceSession, error) {
	var r sessionRow
	err := db.read.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, order.Errorf(order.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, FormatError(err)
	}
	fs := r.session()
	return &fs, nil
}

// OpenSessions lists admin's sessions open at now, newest first.
func (db *DB) OpenSessions(ctx context.Context, admin string, now time.Time) ([]order.FinanceSession, error) {
	var rows []sessionRow
	err := db.read.WithContext(ctx).Where("admin = ? AND ended_at IS NULL AND expires_at > ?", admin, utc(now)).
		Order("created_at DESC").Limit(order.MaxPageSize).Find(&rows).Error
	if err != nil {
		return nil, FormatError(err)
	}
	out := make([]order.FinanceSession, len(rows))
	for i := range rows {
		out[i] = rows[i].session()
	}
	return out, nil
}

// EndSession ends admin's open session id and records a, in one transaction (compare-and-set on
// ended_at: a session ends once).
func (db *DB) EndSession(ctx context.Context, id, admin string, at time.Time, a order.AdminAction) error {
	return db.InTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&sessionRow{}).Where("id = ? AND admin = ? AND ended_at IS NULL", id, admin).
			Updates(map[string]any{"ended_at": utc(at), "ended_by": order.SessionEndLogout})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return order.Errorf(order.ENOTFOUND, "no such open session")
		}
		return auditInsert(&a).exec(tx)
	})
}

// EndSessionsExcept ends every open session whose (admin, token_fingerprint) is not in keep.
func (db *DB) EndSessionsExcept(ctx context.Context, keep []order.SessionToken, at time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&sessionRow{}).Where("ended_at IS NULL")
		for _, k := range keep {
			q = q.Where("NOT (admin = ? AND token_fingerprint = ?)", k.Admin, k.Fingerprint)
		}
		res := q.Updates(map[string]any{"ended_at": utc(at), "ended_by": order.SessionEndTokenRemoved})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
