package store

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
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
	// inMemory keeps the queue's leases on SQLite in the process (DB.leases) rather than in the
	// rows, so that a claim is a read and takes nothing from the one writer (see memLeases).
	inMemory bool
}

var (
	orderQueue    = leaseQueue{table: "orders", due: "next_check_at"}
	deliveryQueue = leaseQueue{table: "deliveries", due: "next_attempt_at", inMemory: true}
)

// memLeases are a queue's leases on SQLite, held in the process. A row's lease only has to keep
// other claimers away until its owner records what came of the work, and on SQLite every claimer
// is in this process: the database file's lock (Open) lets no other process at it. So a lease
// need not be written: the deliverer's claims, a write transaction per batch on the one writer
// under load, became reads. A crash loses nothing a written lease kept: on SQLite the leases a
// dead process left were cleared at the next start anyway (RecoverLeases).
type memLeases struct {
	// mu is held across a claim's read, so that a lease released after its row's new state
	// commits (release) is never missing from a claim whose read began before that commit.
	mu   sync.Mutex
	held map[int64]memLease
}

type memLease struct {
	owner string
	until time.Time
}

// memory returns the leases in memory lq's claims take on db, nil where they are written into
// the rows (PostgreSQL, or a queue not kept inMemory).
func (lq leaseQueue) memory(db *DB) *memLeases {
	if lq.inMemory {
		return db.leases
	}
	return nil
}

// busy returns the ids leased at now (the json_each list a claim leaves out), forgetting
// leases that ran out. The caller holds mu.
func (m *memLeases) busy(now time.Time) string {
	ids := make([]byte, 0, 8*len(m.held)+2)
	ids = append(ids, '[')
	for id, l := range m.held {
		if l.until.Before(now) {
			delete(m.held, id)
			continue
		}
		if len(ids) > 1 {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, id, 10)
	}
	return string(append(ids, ']'))
}

// owned returns those of ids whose lease owner holds.
func (m *memLeases) owned(owner string, ids []int64) []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int64
	for _, id := range ids {
		if l, ok := m.held[id]; ok && l.owner == owner {
			out = append(out, id)
		}
	}
	return out
}

// release ends owner's leases on ids (each once its row's new state has committed).
func (m *memLeases) release(owner string, ids []int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if l, ok := m.held[id]; ok && l.owner == owner {
			delete(m.held, id)
		}
	}
}

// renew extends owner's leases on ids to until and reports how many it extended.
func (m *memLeases) renew(owner string, ids []int64, until time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, id := range ids {
		if l, ok := m.held[id]; ok && l.owner == owner {
			m.held[id] = memLease{owner: owner, until: until}
			n++
		}
	}
	return n
}

// claim leases to owner until until up to limit rows due at now that also meet where (a
// condition on q, the table's alias, with args), earliest due first, and scans them into dst (a
// pointer to a slice of the table's rows). On PostgreSQL the rows are picked with FOR UPDATE
// SKIP LOCKED on the database's clock, and the lease lasts until - now by it, so that two
// instances never claim the same row and their clocks need not agree; on SQLite there is one
// writer, so a transaction is enough (a queue kept inMemory claims with claimInMemory there).
func (lq leaseQueue) claim(ctx context.Context, db *DB, where string, args []any, now time.Time, limit int, owner string, until time.Time, dst any) error {
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

// claimInMemory is claim on SQLite for a queue kept inMemory: it reads cols (of q and the tables
// join adds) of the due rows no lease holds, earliest due first, hands them to scan, which
// returns the ids of the rows it read, and leases those in db.leases. One read, and nothing
// written; scan reads the rows straight through database/sql.
func (lq leaseQueue) claimInMemory(ctx context.Context, db *DB, cols, join, where string, args []any, now time.Time, limit int, owner string, until time.Time, scan func(*sql.Rows) ([]int64, error)) error {
	m := lq.memory(db)
	m.mu.Lock()
	defer m.mu.Unlock()
	pool, err := db.read.DB()
	if err != nil {
		return err
	}
	rows, err := pool.QueryContext(ctx, lq.freeSQL(cols, join, where)+" LIMIT ?", append(append([]any{now.UTC(), m.busy(now)}, args...), limit)...)
	if err != nil {
		return FormatError(err)
	}
	defer rows.Close()
	ids, err := scan(rows)
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return FormatError(err)
	}
	for _, id := range ids {
		m.held[id] = memLease{owner: owner, until: until}
	}
	return nil
}

// freeSQL selects cols of the rows due that no lease in memory holds (its arguments: now, the
// leased ids as a JSON array, then where's), earliest due first, on SQLite; the caller adds the
// LIMIT. One statement text whatever is leased, so that SQLite keeps it compiled.
func (lq leaseQueue) freeSQL(cols, join, where string) string {
	q := "SELECT " + cols + " FROM " + lq.table + " AS q " + join + " WHERE q." + lq.due + " <= ? AND q.id NOT IN (SELECT value FROM json_each(?))"
	if where != "" {
		q += " AND " + where
	}
	return q + " ORDER BY q." + lq.due
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
	if m := lq.memory(db); m != nil {
		return m.renew(owner, ids, until), nil
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
