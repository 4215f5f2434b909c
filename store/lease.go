package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// leaseQueue is a table whose rows are work claimed under a lease (lease_owner, lease_until):
// orders for the reconciler, deliveries for the deliverer. A row is due when its due column is
// past and no unexpired lease holds it. Both queues claim and renew through it, so that the two
// dialects' SQL is written once.
type leaseQueue struct {
	table string // the table; claims read it as q
	due   string // the column a row falls due by, and the order claims take due rows in
	// readFirst asks the readers whether anything is due before a claim on SQLite, so that an
	// idle poll takes no write transaction from the one writer.
	readFirst bool
}

var (
	orderQueue    = leaseQueue{table: "orders", due: "next_check_at"}
	deliveryQueue = leaseQueue{table: "deliveries", due: "next_attempt_at", readFirst: true}
)

// claim leases to owner until until up to limit rows due at now that also meet where (a
// condition on q, the table's alias, with args), earliest due first, and scans them into dst (a
// pointer to a slice of the table's rows). On PostgreSQL the rows are picked with FOR UPDATE
// SKIP LOCKED on the database's clock, and the lease lasts until - now by it, so that two
// instances never claim the same row and their clocks need not agree; on SQLite there is one
// writer, so a transaction is enough.
func (lq leaseQueue) claim(ctx context.Context, db *DB, where string, args []any, now time.Time, limit int, owner string, until time.Time, dst any) error {
	if db.Dialect == SQLite && lq.readFirst {
		var due []int64
		if err := db.read.WithContext(ctx).Raw(lq.dueSQL(where)+" LIMIT 1", append([]any{now.UTC(), now.UTC()}, args...)...).
			Scan(&due).Error; err != nil {
			return FormatError(err)
		}
		if len(due) == 0 {
			return nil
		}
	}
	return db.InTx(ctx, func(tx *gorm.DB) error {
		if db.Dialect == Postgres {
			cond := "q." + lq.due + " <= now() AND (q.lease_until IS NULL OR q.lease_until < now())"
			if where != "" {
				cond += " AND " + where
			}
			return tx.Raw(`UPDATE `+lq.table+` SET lease_owner = ?, lease_until = now() + make_interval(secs => ?)
				WHERE id IN (SELECT q.id FROM `+lq.table+` q WHERE `+cond+`
					ORDER BY q.`+lq.due+` LIMIT ? FOR UPDATE SKIP LOCKED)
				RETURNING *`, append(append([]any{owner, until.Sub(now).Seconds()}, args...), limit)...).Scan(dst).Error
		}
		// One statement, as on PostgreSQL: reading the ids, leasing them and reading the rows
		// again were three, and a tenth of the deliverer's cost on the one writer.
		return tx.Raw(`UPDATE `+lq.table+` SET lease_owner = ?, lease_until = ? WHERE id IN (`+lq.dueSQL(where)+` LIMIT ?) RETURNING *`,
			append(append([]any{owner, until.UTC(), now.UTC(), now.UTC()}, args...), limit)...).Scan(dst).Error
	})
}

// dueSQL selects the ids of the rows due (its arguments: now twice, then where's), earliest due
// first, on SQLite; the caller adds the LIMIT.
func (lq leaseQueue) dueSQL(where string) string {
	q := "SELECT q.id FROM " + lq.table + " AS q WHERE q." + lq.due + " <= ? AND (q.lease_until IS NULL OR q.lease_until < ?)"
	if where != "" {
		q += " AND " + where
	}
	return q + " ORDER BY q." + lq.due
}

// renew extends owner's leases on ids to until (on PostgreSQL, to until - now from the database's
// clock, as claim measures them) and reports how many it extended. A row whose lease owner
// changed (released, or claimed by another after the lease ran out) is left alone.
func (lq leaseQueue) renew(ctx context.Context, db *DB, owner string, ids []int64, now, until time.Time) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		var res *gorm.DB
		if db.Dialect == Postgres {
			res = tx.Exec(`UPDATE `+lq.table+` SET lease_until = now() + make_interval(secs => ?) WHERE id IN ? AND lease_owner = ?`,
				until.Sub(now).Seconds(), ids, owner)
		} else {
			res = tx.Table(lq.table).Where("id IN ? AND lease_owner = ?", ids, owner).Update("lease_until", until.UTC())
		}
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
