package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"gorm.io/gorm"
)

// Compile-time check: DB is the order service's Store.
var _ order.Store = (*DB)(nil)

// CreateOrder inserts o with its first transition in one transaction.
func (db *DB) CreateOrder(ctx context.Context, o *order.Order, t order.Transition) error {
	first := transitionInsert(&transitionRow{Version: t.Version, FromStatus: string(t.From),
		ToStatus: string(t.To), Source: string(t.Source), Reason: t.Reason, MOSStatus: t.MOSStatus,
		RequestID: t.RequestID, CreatedAt: utc(t.At)})
	if db.Dialect == Postgres {
		return db.createOneStatement(ctx, o, first)
	}
	return db.InTx(ctx, func(tx *gorm.DB) error {
		id, err := insertOrder(tx, toRow(o))
		if err != nil {
			return err
		}
		o.ID = id
		first.args[0] = id
		return first.exec(tx)
	})
}

// createOneStatement is CreateOrder on PostgreSQL as one statement, its own transaction: one
// round trip instead of four (BEGIN, two INSERTs, COMMIT), as Save's is.
func (db *DB) createOneStatement(ctx context.Context, o *order.Order, first insert) error {
	ins := orderInsert(toRow(o))
	// The transition takes the order's new id from the CTE (its first column, order_id).
	q := `WITH o AS (` + ins.sql() + ` RETURNING id),
		t AS (INSERT INTO transitions (` + strings.Join(first.cols, ", ") + `) SELECT o.id, ` +
		placeholders(len(first.cols)-1) + ` FROM o)
		SELECT id FROM o`
	args := append(ins.args, first.args[1:]...)
	return db.writeOne(func() error {
		return db.batch.do(ctx, db.Rebind(q), args, &o.ID)
	})
}

// Order returns the order with that outTradeNo and its active flags.
func (db *DB) Order(ctx context.Context, outTradeNo string) (*order.Order, error) {
	return db.orderWhere(ctx, db.read, "out_trade_no = ?", outTradeNo)
}

// OrderByIdempotencyKey returns openid's order created under key.
func (db *DB) OrderByIdempotencyKey(ctx context.Context, openid, key string) (*order.Order, error) {
	return db.orderWhere(ctx, db.read, "openid = ? AND idempotency_key = ?", openid, key)
}

func (db *DB) orderWhere(ctx context.Context, g *gorm.DB, query string, args ...any) (*order.Order, error) {
	// One statement, one round trip: the order and the flags it carries, joined (an order has
	// none, or a few). A GET of one's order, a notification's and the reconciler's reads are this,
	// scanned straight through database/sql (GORM's reflection was a fifth of a GET's CPU).
	pool, err := g.DB()
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + orderSelect + `, f.id, f.flag, f.note, f.mos_answer, f.raised_at, f.resolved_at, f.resolved_by,
		f.resolution, f.outcome
		FROM orders LEFT JOIN order_flags f ON f.order_id = orders.id AND (f.resolved_at IS NULL OR f.mos_answer <> '')
		WHERE ` + query + ` ORDER BY f.id`
	rows, err := pool.QueryContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return nil, FormatError(err)
	}
	defer rows.Close()
	var r orderFlagRow
	var fs flagSet
	n := 0
	for rows.Next() {
		f := &r.F
		if err := rows.Scan(append(r.Order.dests(), &f.ID, &f.Flag, &f.Note, &f.MOSAnswer, &f.RaisedAt, &f.ResolvedAt,
			&f.ResolvedBy, &f.Resolution, &f.Outcome)...); err != nil {
			return nil, FormatError(err)
		}
		if fl := r.flag(); fl != nil {
			fs.add(fl)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, FormatError(err)
	}
	if n == 0 {
		return nil, order.Errorf(order.ENOTFOUND, "no such order")
	}
	return fromRow(&r.Order, fs), nil
}

// flagsOf loads the flags the orders carry: the active ones, and those resolved for an answer of
// MOS (the state machine does not raise those again for the same answer).
func (db *DB) flagsOf(ctx context.Context, g *gorm.DB, ids []int64) (map[int64]flagSet, error) {
	out := map[int64]flagSet{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []flagRow
	err := g.WithContext(ctx).Where("order_id IN ? AND (resolved_at IS NULL OR mos_answer <> '')", ids).Order("id").Find(&rows).Error
	if err != nil {
		return nil, FormatError(err)
	}
	for i := range rows {
		fs := out[rows[i].OrderID]
		fs.add(&rows[i])
		out[rows[i].OrderID] = fs
	}
	return out, nil
}

// Orders lists orders newest first, by keyset pagination on the id (stable under inserts).
func (db *DB) Orders(ctx context.Context, f order.ListFilter) (order.Page, error) {
	limit := order.PageSize(f.Limit)
	rows, next, err := pageOf(filtered(db.read.WithContext(ctx).Model(&orderRow{}), f), ordersKeys, f.Cursor, limit,
		func(r *orderRow) int64 { return r.ID })
	if err != nil {
		return order.Page{}, err
	}
	out := order.Page{NextCursor: next}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	flags, err := db.flagsOf(ctx, db.read, ids)
	if err != nil {
		return order.Page{}, err
	}
	out.Orders = make([]*order.Order, len(rows))
	for i := range rows {
		out.Orders[i] = fromRow(&rows[i], flags[rows[i].ID])
	}
	return out, nil
}

// filtered adds f's conditions to q (a query on orders): the one statement of which orders a
// filter selects, shared by the list, the CSV and the report (its totals and its money), so that
// their counts agree.
func filtered(q *gorm.DB, f order.ListFilter) *gorm.DB {
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.OpenID != "" {
		q = q.Where("openid = ?", f.OpenID)
	}
	if f.Search != "" {
		q = q.Where("(out_trade_no = ? OR prepay_id = ? OR openid = ? OR reference = ?)", f.Search, f.Search, f.Search, f.Search)
	}
	q = merchantFiltered(q, f)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Currency != "" {
		q = q.Where("currency = ?", string(f.Currency))
	}
	switch {
	case f.Flag != "":
		q = q.Where("id IN (SELECT order_id FROM order_flags WHERE flag = ? AND resolved_at IS NULL)", string(f.Flag))
	case f.AnyFlag:
		q = q.Where("id IN (SELECT order_id FROM order_flags WHERE resolved_at IS NULL)")
	}
	if f.Basis == order.BasisPaid {
		// Money moved in the period: paid in it, or refunded in it.
		paid, pargs := period("paid_at", f.From, f.To)
		refunded, rargs := period("refunded_at", f.From, f.To)
		return q.Where("(("+paid+") OR ("+refunded+"))", append(pargs, rargs...)...)
	}
	if f.From != nil {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	return q
}

// period is the condition that column falls in [from, to), either side open when nil; a NULL
// column is in no period.
func period(column string, from, to *time.Time) (string, []any) {
	conds, args := []string{column + " IS NOT NULL"}, []any{}
	if from != nil {
		conds, args = append(conds, column+" >= ?"), append(args, from.UTC())
	}
	if to != nil {
		conds, args = append(conds, column+" < ?"), append(args, to.UTC())
	}
	return strings.Join(conds, " AND "), args
}

// Save applies one write atomically. The order's columns are written from w.After(), the one
// statement of what a write does, and only if the order's version is still the one the writer
// read; the transition, new flags, and the notification and query rows commit with it or not at
// all. The lease is not the order's state (claims and renewals change it without a version):
// Save only ever clears it, when the write releases it.
//
// On SQLite the statements run in one transaction of the group commit. On PostgreSQL they are one
// statement: the UPDATE in a WITH clause and each INSERT selecting from its RETURNING, so that a
// stale version inserts nothing, and the whole write costs one round trip instead of five (the
// reconciliation pass's bottleneck on PostgreSQL, docs/benchmarks.md "One reconciliation pass").
func (db *DB) Save(ctx context.Context, w order.Write) (*order.Order, error) {
	after := w.After()
	var update map[string]any
	if w.Touches() {
		update = map[string]any{
			"status": string(after.Status), "prepay_id": after.PrepayID, "version": after.Version,
			"updated_at": utc(after.UpdatedAt), "next_check_at": utcPtr(after.NextCheckAt),
			"check_attempts": after.CheckAttempts, "check_failures": after.CheckFailures, "paid_at": utcPtr(after.PaidAt), "refunded_at": utcPtr(after.RefundedAt),
		}
		if w.Change.Settle != nil {
			update["settled_minor"], update["settled_currency"] = settledColumns(after.Settled)
		}
		if w.ReleaseLease {
			update["lease_owner"], update["lease_until"] = nil, nil
		}
	}
	var rows []insert
	if w.Touches() {
		at := utc(w.At)
		// Every status change has its row; so has every resolution, whatever its outcome (who,
		// why and MOS's answer then).
		if ch := w.Change; ch.Moves() || ch.Resolve != nil {
			rows = append(rows, transitionInsert(&transitionRow{OrderID: after.ID, Version: after.Version, FromStatus: string(ch.From),
				ToStatus: string(ch.To), Source: string(w.Observation.Source), Reason: ch.Reason, MOSStatus: w.Observation.MOSStatus,
				RequestID: w.Observation.RequestID, CreatedAt: at}))
		}
		for _, f := range w.Change.Raise {
			// An already active flag of the kind (a racing writer raised it) stays as it is.
			rows = append(rows, insert{table: "order_flags", cols: []string{"order_id", "flag", "note", "mos_answer", "raised_at"},
				args: []any{after.ID, string(f.Flag), f.Note, f.Answer, at}, onConflictNothing: true})
		}
	}
	if n := w.Notification; n != nil {
		rows = append(rows, notificationInsert(notificationToRow(n)))
	}
	if q := w.Query; q != nil {
		rows = append(rows, queryInsert(queryToRow(q)))
	}
	if a := w.Audit; a != nil {
		rows = append(rows, auditInsert(a))
	}
	for i := range w.Events {
		rows = append(rows, eventRows(&w.Events[i])...)
	}
	var err error
	// A resolution updates a flag row, which the one-statement form does not do; it is rare.
	if db.Dialect == Postgres && update != nil && w.Change.Resolve == nil {
		err = db.saveOneStatement(ctx, after.ID, w.Order.Version, update, rows)
	} else {
		err = db.InTx(ctx, func(tx *gorm.DB) error {
			if update != nil {
				set, args := updateSet(update)
				res, err := execSQL(tx, "UPDATE orders SET "+set+" WHERE id = ? AND version = ?", append(args, after.ID, w.Order.Version)...)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 0 {
					return errStale
				}
			}
			if r := w.Change.Resolve; r != nil {
				res := tx.Exec(`UPDATE order_flags SET resolved_at = ?, resolved_by = ?, resolution = ?, outcome = ?,
					mos_answer = CASE WHEN ? <> '' THEN ? ELSE mos_answer END
					WHERE order_id = ? AND flag = ? AND resolved_at IS NULL`,
					utc(w.At), r.By, r.Note, string(r.Outcome), r.Answer, r.Answer, after.ID, string(r.Flag))
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected != 1 {
					return errStale
				}
			}
			for _, r := range rows {
				if err := r.exec(tx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	return after, nil
}

// errStale is a write whose version another writer moved first.
var errStale = order.Errorf(order.ECONFLICT, "the order changed concurrently")

// saveOneStatement is Save's write on PostgreSQL: the version-guarded UPDATE and every INSERT in
// one statement (its own transaction), each INSERT taking the order's id from the UPDATE's
// RETURNING, so that nothing is inserted when the version moved.
func (db *DB) saveOneStatement(ctx context.Context, id, version int64, update map[string]any, rows []insert) error {
	set, args := updateSet(update)
	var q strings.Builder
	q.WriteString("WITH u AS (UPDATE orders SET " + set + " WHERE id = ? AND version = ? RETURNING id)")
	args = append(args, id, version)
	i := 0
	for _, r := range rows {
		// A row per INSERT: PostgreSQL would take a UNION's parameters as text.
		for _, one := range r.split() {
			fmt.Fprintf(&q, ", i%d AS (%s)", i, one.selectFrom("u"))
			args = append(args, one.args...)
			i++
		}
	}
	q.WriteString(" SELECT count(*) FROM u")
	// Straight through database/sql: GORM's statement machinery cost a quarter of this write.
	stmt := db.Rebind(q.String())
	return db.writeOne(func() error {
		var n int64
		if err := db.batch.do(ctx, stmt, args, &n); err != nil {
			return err
		}
		if n == 0 {
			return errStale
		}
		return nil
	})
}

// updateSet is an UPDATE's SET list for the columns in update, in a fixed order (so that the
// statement's text, and its prepared statement, is the same each time), and their values.
func updateSet(update map[string]any) (string, []any) {
	cols := slices.Sorted(maps.Keys(update))
	args := make([]any, len(cols), len(cols)+16)
	for i, c := range cols {
		args[i] = update[c]
		cols[i] += " = ?"
	}
	return strings.Join(cols, ", "), args
}

// execSQL runs one statement (with ? placeholders) on tx straight through database/sql: GORM's
// statement machinery was a quarter of a write's CPU, spent on SQLite's one writer.
func execSQL(tx *gorm.DB, query string, args ...any) (sql.Result, error) {
	if tx.Dialector.Name() == string(Postgres) {
		query = rebind(query)
	}
	return tx.Statement.ConnPool.ExecContext(tx.Statement.Context, query, args...)
}

func notificationToRow(n *order.NotificationRecord) *notificationRow {
	return &notificationRow{OrderID: n.OrderID, OutTradeNo: n.OutTradeNo, Signed: n.Signed, SignedHash: n.SignedHash,
		ContentType: n.ContentType, RawBody: n.RawBody, BodySize: n.BodySize, MOSStatus: n.MOSStatus,
		QueriedStatus: n.QueriedStatus, Outcome: n.Outcome, BodyHash: n.BodyHash, Disagreement: n.Disagreement,
		RequestID: n.RequestID, ReceivedAt: utc(n.ReceivedAt)}
}

func (n *notificationRow) record() order.NotificationRecord {
	r := order.NotificationRecord{OrderID: n.OrderID, OutTradeNo: n.OutTradeNo, Signed: n.Signed, SignedHash: n.SignedHash,
		ContentType: n.ContentType, RawBody: n.RawBody, BodySize: n.BodySize, MOSStatus: n.MOSStatus,
		QueriedStatus: n.QueriedStatus, Outcome: n.Outcome, BodyHash: n.BodyHash, Disagreement: n.Disagreement,
		RequestID: n.RequestID, ReceivedAt: n.ReceivedAt.UTC(), Repeats: n.Repeats}
	if n.LastRepeatAt != nil {
		at := n.LastRepeatAt.UTC()
		r.LastRepeatAt = &at
	}
	return r
}

func queryToRow(q *order.QueryRecord) *queryRow {
	return &queryRow{OrderID: q.OrderID, Source: string(q.Source), MOSStatus: q.MOSStatus, TotalAmount: q.TotalAmount,
		Currency: q.Currency, Error: q.Error, DurationMS: q.DurationMS, CreatedAt: utc(q.At)}
}

// RecordNotification stores a verified notification that changes no order, or counts it on the
// row of its signed content.
func (db *DB) RecordNotification(ctx context.Context, n order.NotificationRecord) error {
	ins := notificationInsert(notificationToRow(&n))
	ins.onConflict = notificationUpsert(true)
	return db.InTx(ctx, func(tx *gorm.DB) error { return ins.exec(tx) })
}

// DeferNotification records a notification held back by the notification window on its row and
// brings the order's next check forward to checkAt, in one transaction. The order's version is left alone:
// the next check is the reconciler's timetable, not the order's state (a write racing this one
// may set a later one, and then the check at the window's end is the service's timer alone).
func (db *DB) DeferNotification(ctx context.Context, n order.NotificationRecord, checkAt time.Time) error {
	// The order first, then the notification, in the order Save takes them (PostgreSQL would
	// otherwise find a deadlock between the two).
	return db.InTx(ctx, func(tx *gorm.DB) error {
		if n.OrderID != nil {
			at := checkAt.UTC()
			if err := tx.Model(&orderRow{}).Where("id = ? AND (next_check_at IS NULL OR next_check_at > ?)", *n.OrderID, at).
				Update("next_check_at", at).Error; err != nil {
				return err
			}
		}
		return notificationInsert(notificationToRow(&n)).exec(tx)
	})
}

// ClaimNotification stores the first receipt of a signed content, or counts a repeat on its row;
// a repeat takes the check over when the row's failed; a claim also claims the order's window of
// notifications' queries, in the same transaction (see order.Store).
func (db *DB) ClaimNotification(ctx context.Context, n order.NotificationRecord, staleBefore time.Time, window time.Duration) (c order.NotificationClaim, err error) {
	row := notificationToRow(&n)
	at := utc(n.ReceivedAt)
	ins := notificationInsert(row)
	ins.onConflict = "ON CONFLICT (signed_hash) WHERE signed_hash <> '' DO NOTHING"
	if db.Dialect == Postgres && row.OrderID != nil {
		// A first receipt, the usual case, is one statement: one round trip, not seven.
		var claimed, asked int
		q := `WITH n AS (` + ins.sql() + ` RETURNING order_id),
			w AS (INSERT INTO notify_windows (order_id, queried_at) SELECT order_id, ? FROM n ` + windowConflict + ` RETURNING order_id)
			SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM w)`
		args := append(slices.Clone(ins.args), at, utc(n.ReceivedAt.Add(-window)))
		if err := db.writeOne(func() error {
			return db.batch.do(ctx, db.Rebind(q), args, &claimed, &asked)
		}); err != nil {
			return c, err
		}
		if claimed == 1 {
			return order.NotificationClaim{First: true, Asked: asked == 1}, nil
		}
		// A repeat: the transaction below counts it, or takes its check over.
	}
	err = db.InTx(ctx, func(tx *gorm.DB) error {
		c = order.NotificationClaim{}
		claimed, err := db.claimNotification(tx, ins, row, at, staleBefore)
		if err != nil || !claimed.First || row.OrderID == nil {
			c = claimed
			return err
		}
		c = claimed
		c.Asked, err = claimWindow(tx, *row.OrderID, n.ReceivedAt, window)
		return err
	})
	return c, err
}

// claimNotification is ClaimNotification's first part, in tx: the row inserted, or the repeat
// counted on it and the check taken over where the row's failed.
func (db *DB) claimNotification(tx *gorm.DB, ins insert, row *notificationRow, at, staleBefore time.Time) (order.NotificationClaim, error) {
	var c order.NotificationClaim
	res := tx.Exec(ins.sql(), ins.args...)
	if res.Error != nil || res.RowsAffected == 1 {
		c.First = res.Error == nil
		return c, res.Error
	}
	// A repeat takes the check over from a failed one: MOS unavailable (a retry), or an
	// unknown order, or a check that never ended.
	takeOver := func(cond string, args ...any) (bool, error) {
		res := tx.Exec(`UPDATE notifications SET outcome = ?, checked_at = ?, repeats = repeats + 1, last_repeat_at = ?,
			order_id = COALESCE(order_id, ?) WHERE signed_hash = ? AND `+cond,
			append([]any{row.Outcome, at, at, row.OrderID, row.SignedHash}, args...)...)
		return res.RowsAffected == 1, res.Error
	}
	var err error
	if c.Retry, err = takeOver("outcome = ?", order.OutcomeMOSUnavailable); err != nil || c.Retry {
		c.First = c.Retry
		return c, err
	}
	if c.First, err = takeOver("(outcome = ? OR (outcome = ? AND checked_at < ?))",
		order.OutcomeUnknownOrder, order.OutcomeChecking, utc(staleBefore)); err != nil || c.First {
		return c, err
	}
	return c, tx.Exec("UPDATE notifications SET repeats = repeats + 1, last_repeat_at = ? WHERE signed_hash = ?", at, row.SignedHash).Error
}

// windowConflict makes the insert of a notify_windows row a compare-and-set: an existing row is
// moved to now only if its last query was at least the window ago (the second argument).
const windowConflict = `ON CONFLICT (order_id) DO UPDATE SET queried_at = excluded.queried_at WHERE notify_windows.queried_at <= ?`

// claimWindow is ClaimNotifyWindow in tx.
func claimWindow(tx *gorm.DB, orderID int64, now time.Time, window time.Duration) (bool, error) {
	res := tx.Exec(`INSERT INTO notify_windows (order_id, queried_at) VALUES (?, ?) `+windowConflict,
		orderID, utc(now), utc(now.Add(-window)))
	return res.RowsAffected == 1, res.Error
}

// ClaimNotifyWindow records that MOS is asked about the order now on behalf of notifications,
// unless it was within window of now: one statement, whose row count says who won.
func (db *DB) ClaimNotifyWindow(ctx context.Context, orderID int64, now time.Time, window time.Duration) (bool, error) {
	var asked bool
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		var err error
		asked, err = claimWindow(tx, orderID, now, window)
		return err
	})
	return asked, err
}

// Story returns the order and every row that explains it, oldest first.
func (db *DB) Story(ctx context.Context, outTradeNo string) (*order.Story, error) {
	o, err := db.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	g := db.read.WithContext(ctx)
	var ts []transitionRow
	var ns []notificationRow
	var qs []queryRow
	var fs []flagRow
	for _, q := range []struct {
		dst any
	}{{&ts}, {&ns}, {&qs}, {&fs}} {
		if err := g.Where("order_id = ?", o.ID).Order("id").Find(q.dst).Error; err != nil {
			return nil, FormatError(err)
		}
	}
	var as []adminActionRow
	if err := g.Where("order_id = ?", o.ID).Order("id").Find(&as).Error; err != nil {
		return nil, FormatError(err)
	}
	evs, err := db.orderEvents(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	s := &order.Story{Order: o, Events: evs}
	for i := range as {
		s.Actions = append(s.Actions, as[i].action())
	}
	for _, t := range ts {
		s.Transitions = append(s.Transitions, order.Transition{From: order.Status(t.FromStatus), To: order.Status(t.ToStatus),
			Source: order.Source(t.Source), Reason: t.Reason, MOSStatus: t.MOSStatus, RequestID: t.RequestID,
			Version: t.Version, At: t.CreatedAt.UTC()})
	}
	for i := range ns {
		s.Notifications = append(s.Notifications, ns[i].record())
	}
	for _, q := range qs {
		s.Queries = append(s.Queries, order.QueryRecord{OrderID: q.OrderID, Source: order.Source(q.Source), MOSStatus: q.MOSStatus,
			TotalAmount: q.TotalAmount, Currency: q.Currency, Error: q.Error, DurationMS: q.DurationMS, At: q.CreatedAt.UTC()})
	}
	for i := range fs {
		s.Flags = append(s.Flags, fs[i].record())
	}
	return s, nil
}

// AcquireLease takes the order's lease for owner if no one holds an unexpired one.
func (db *DB) AcquireLease(ctx context.Context, id int64, owner string, until time.Time) (bool, error) {
	now := db.now().UTC()
	var affected int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&orderRow{}).Where("id = ? AND (lease_until IS NULL OR lease_until < ?)", id, now).
			Updates(map[string]any{"lease_owner": owner, "lease_until": until.UTC()})
		affected = res.RowsAffected
		return res.Error
	})
	return affected == 1, err
}

// ClaimDue leases up to limit due orders for owner. On PostgreSQL the due rows are picked with
// FOR UPDATE SKIP LOCKED, by the database's clock, so instances never claim the same order; on
// SQLite there is one instance per file and one writer, so a transaction is enough.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, limit int, owner string, until time.Time) ([]*order.Order, error) {
	var rows []orderRow
	err := orderQueue.claim(ctx, db, "", nil, now, limit, owner, until, &rows)
	if err != nil {
		return nil, fmt.Errorf("claim due orders: %w", err)
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	flags, err := db.flagsOf(ctx, db.write, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*order.Order, len(rows))
	for i := range rows {
		out[i] = fromRow(&rows[i], flags[rows[i].ID])
	}
	return out, nil
}

// RenewLeases extends owner's leases on ids to until (the reconciler's heartbeat while it works on
// a batch), so that a slow orderQuery does not lose its claim while a dead instance's claims
// still run out quickly. An order whose lease owner changed (released, or claimed by another
// after the lease ran out) is left alone. It reports how many leases were renewed. On PostgreSQL
// the lease is measured on the database's clock, as ClaimDue's.
func (db *DB) RenewLeases(ctx context.Context, owner string, ids []int64, now, until time.Time) (int64, error) {
	return orderQueue.renew(ctx, db, owner, ids, now, until)
}

// ReleaseLeases ends owner's leases on ids at once: the reconciler claimed those orders but did
// not check them (MOS stopped answering), so they must be free for its next pass rather than
// held until their lease runs out. An order whose lease owner changed is left alone.
func (db *DB) ReleaseLeases(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return db.InTx(ctx, func(tx *gorm.DB) error {
		return tx.Model(&orderRow{}).Where("id IN ? AND lease_owner = ?", ids, owner).
			Updates(map[string]any{"lease_owner": nil, "lease_until": nil}).Error
	})
}

// NextLeaseEnd is the earliest time a due order now held under someone else's lease becomes
// claimable again; ok is false when no due order is held. The reconciler runs an extra pass then,
// so that a crashed instance's claims are picked up as soon as its leases run out rather than at
// the next tick. Like ClaimDue it reads only the due index's range.
func (db *DB) NextLeaseEnd(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var row struct{ LeaseUntil *time.Time }
	q := db.read.WithContext(ctx).Model(&orderRow{}).Select("lease_until").Order("lease_until").Limit(1)
	if db.Dialect == Postgres {
		q = q.Where("next_check_at <= now() AND lease_until >= now()")
	} else {
		q = q.Where("next_check_at <= ? AND lease_until >= ?", now.UTC(), now.UTC())
	}
	if err := q.Scan(&row).Error; err != nil {
		return time.Time{}, false, FormatError(err)
	}
	if row.LeaseUntil == nil {
		return time.Time{}, false, nil
	}
	return row.LeaseUntil.UTC(), true, nil
}

// Totals counts and sums orders created in [from, to) by currency and status.
func (db *DB) Totals(ctx context.Context, from, to time.Time) ([]order.Total, error) {
	var rows []struct {
		Currency string
		Status   string
		Count    int64
		Minor    int64
	}
	err := db.read.WithContext(ctx).Model(&orderRow{}).
		Select("currency, status, COUNT(*) AS count, COALESCE(SUM(amount_minor), 0) AS minor").
		Where("created_at >= ? AND created_at < ?", from.UTC(), to.UTC()).
		Group("currency, status").Order("currency, status").Scan(&rows).Error
	if err != nil {
		return nil, FormatError(err)
	}
	out := make([]order.Total, len(rows))
	for i, r := range rows {
		out[i] = order.Total{Currency: money.Currency(r.Currency), Status: order.Status(r.Status), Count: r.Count, Minor: r.Minor}
	}
	return out, nil
}

// RecoverLeases clears every lease a crashed process left behind, on SQLite only: holding the
// database file's lock proves no other mospay process is working on any order, so a lease found
// now belongs to a dead process and would only delay its orders until it expired. On PostgreSQL
// other instances may be alive; a dead one's leases run out on their own (scheduler.DefaultLease,
// renewed only while its owner works).
func (db *DB) RecoverLeases(ctx context.Context) (int64, error) {
	if db.Dialect != SQLite {
		return 0, nil
	}
	var n int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&orderRow{}).Where("lease_owner IS NOT NULL OR lease_until IS NOT NULL").
			Updates(map[string]any{"lease_owner": nil, "lease_until": nil})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		// A delivery a dead process was attempting is due again at once (at least once: the
		// receiver may have had it; it dedupes on webhook-id).
		return tx.Model(&deliveryRow{}).Where("lease_owner IS NOT NULL").
			Updates(map[string]any{"lease_owner": nil, "lease_until": nil}).Error
	})
	return n, err
}

// The inserts of the write path are explicit SQL run through GORM's Exec: GORM's generic Create
// reflects over the struct and reads back the new id with RETURNING, about six times the cost of
// the insert itself on SQLite (measured: 132 µs against 21 µs a row), and these rows' ids are
// never needed. Only the order's own id is read back.

// orderColumns are the columns a new order is inserted with, in the order of orderRow.values.
var orderColumns = []string{"out_trade_no", "nonce_str", "app_key", "user_id", "openid", "prepay_id", "amount_minor",
	"currency", "description", "status", "version", "sandbox", "idempotency_key", "request_hash", "expire_at",
	"next_check_at", "check_attempts", "lease_owner", "lease_until", "created_at", "updated_at", "merchant",
	"reference", "metadata", "items"}

// orderSelect is every column of orders, in the order of orderRow.dests.
const orderSelect = `orders.id, orders.out_trade_no, orders.nonce_str, orders.app_key, orders.user_id, orders.openid,
	orders.prepay_id, orders.amount_minor, orders.currency, orders.description, orders.merchant, orders.reference,
	orders.metadata, orders.items, orders.status, orders.version, orders.sandbox, orders.idempotency_key,
	orders.request_hash, orders.expire_at, orders.next_check_at, orders.check_attempts, orders.check_failures,
	orders.lease_owner, orders.lease_until, orders.paid_at, orders.refunded_at, orders.created_at, orders.updated_at,
	orders.settled_minor, orders.settled_currency`

// dests are where rows.Scan puts orderSelect's columns.
func (r *orderRow) dests() []any {
	return []any{&r.ID, &r.OutTradeNo, &r.NonceStr, &r.AppKey, &r.UserID, &r.Openid, &r.PrepayID, &r.AmountMinor,
		&r.Currency, &r.Description, &r.Merchant, &r.Reference, &r.Metadata, &r.Items, &r.Status, &r.Version,
		&r.Sandbox, &r.IdempotencyKey, &r.RequestHash, &r.ExpireAt, &r.NextCheckAt, &r.CheckAttempts,
		&r.CheckFailures, &r.LeaseOwner, &r.LeaseUntil, &r.PaidAt, &r.RefundedAt, &r.CreatedAt, &r.UpdatedAt,
		&r.SettledMinor, &r.SettledCurrency}
}

// values are the row's values for orderColumns.
func (r *orderRow) values() []any {
	return []any{r.OutTradeNo, r.NonceStr, r.AppKey, r.UserID, r.Openid, r.PrepayID, r.AmountMinor, r.Currency,
		r.Description, r.Status, r.Version, r.Sandbox, r.IdempotencyKey, r.RequestHash, r.ExpireAt, r.NextCheckAt,
		r.CheckAttempts, r.LeaseOwner, r.LeaseUntil, r.CreatedAt, r.UpdatedAt, r.Merchant, r.Reference, r.Metadata, r.Items}
}

// orderInsert is a new order's row as an insert.
func orderInsert(r orderRow) insert {
	return insert{table: "orders", cols: orderColumns, args: r.values()}
}

// insertOrder inserts the row and returns its id.
func insertOrder(tx *gorm.DB, r orderRow) (int64, error) {
	ins := orderInsert(r)
	if tx.Dialector.Name() == string(Postgres) {
		var id int64
		err := tx.Statement.ConnPool.QueryRowContext(tx.Statement.Context, rebind(ins.sql()+" RETURNING id"), ins.args...).Scan(&id)
		return id, err
	}
	res, err := execSQL(tx, ins.sql(), ins.args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// insert is one row to add: its table, columns and values, written once and run either on its
// own (exec) or inside Save's PostgreSQL statement (selectFrom).
type insert struct {
	table string
	cols  []string
	// args are the row's values in cols' order, or several rows' one after the other: one
	// statement inserting them all costs SQLite's one writer less than a statement per row.
	args              []any
	onConflictNothing bool   // an existing row with the same unique key is left as it is
	onConflict        string // or this ON CONFLICT clause decides
}

// placeholders is n ?s, comma-separated.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// sql is the row's INSERT ... VALUES statement, with its conflict clause.
func (r insert) sql() string {
	row := "(" + placeholders(len(r.cols)) + ")"
	return "INSERT INTO " + r.table + " (" + strings.Join(r.cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", r.rows()), ", ") + r.conflict()
}

// rows is how many rows r inserts.
func (r insert) rows() int { return max(1, len(r.args)/len(r.cols)) }

func (r insert) conflict() string {
	if r.onConflictNothing {
		return " ON CONFLICT DO NOTHING"
	}
	if r.onConflict != "" {
		return " " + r.onConflict
	}
	return ""
}

// exec inserts the row.
func (r insert) exec(tx *gorm.DB) error {
	_, err := execSQL(tx, r.sql(), r.args...)
	return err
}

// split is r as one insert per row.
func (r insert) split() []insert {
	if r.rows() == 1 {
		return []insert{r}
	}
	out := make([]insert, 0, r.rows())
	for a := range slices.Chunk(r.args, len(r.cols)) {
		one := r
		one.args = a
		out = append(out, one)
	}
	return out
}

// selectFrom is the (one) row's INSERT taking one row of the CTE from: nothing is inserted when
// from is empty.
func (r insert) selectFrom(from string) string {
	return "INSERT INTO " + r.table + " (" + strings.Join(r.cols, ", ") + ") SELECT " + placeholders(len(r.cols)) + " FROM " + from + r.conflict()
}

func transitionInsert(t *transitionRow) insert {
	return insert{table: "transitions",
		cols: []string{"order_id", "version", "from_status", "to_status", "source", "reason", "mos_status", "request_id", "created_at"},
		args: []any{t.OrderID, t.Version, t.FromStatus, t.ToStatus, t.Source, t.Reason, t.MOSStatus, t.RequestID, t.CreatedAt}}
}

// notificationSettled is the condition, on an existing row, of a notification settled by MOS's
// answer (applied, no_change, flagged): a later outcome does not replace it.
const notificationSettled = "notifications.outcome IN ('applied', 'no_change', 'flagged')"

// notificationUpsert is what storing a notification whose signed content has a row already does
// to that row: the first body stays; an outcome that settled the notification stays, one that
// did not (checking, held back, MOS unavailable, unknown order) is replaced by the new one, with
// what orderQuery answered. counted adds the receipt to the row's repeats (a notification
// stored without ClaimNotification, which counts them). The WHERE repeats the partial unique
// index's, as both databases require.
func notificationUpsert(counted bool) string {
	var count string
	if counted {
		count = "repeats = notifications.repeats + 1, last_repeat_at = excluded.received_at, "
	}
	keep := func(col string) string {
		return col + " = CASE WHEN " + notificationSettled + " THEN notifications." + col + " ELSE excluded." + col + " END"
	}
	return "ON CONFLICT (signed_hash) WHERE signed_hash <> '' DO UPDATE SET " + count +
		"order_id = COALESCE(notifications.order_id, excluded.order_id), " +
		keep("queried_status") + ", " + keep("disagreement") + ", " + keep("mos_status") + ", " + keep("outcome")
}

func notificationInsert(n *notificationRow) insert {
	return insert{table: "notifications",
		cols: []string{"order_id", "out_trade_no", "signed", "signed_hash", "content_type", "raw_body", "body_size", "mos_status",
			"queried_status", "outcome", "body_hash", "disagreement", "request_id", "received_at", "checked_at"},
		args: []any{n.OrderID, n.OutTradeNo, n.Signed, n.SignedHash, n.ContentType, n.RawBody, n.BodySize, n.MOSStatus,
			n.QueriedStatus, n.Outcome, n.BodyHash, n.Disagreement, n.RequestID, n.ReceivedAt, n.ReceivedAt},
		onConflict: notificationUpsert(false)}
}

func auditInsert(a *order.AdminAction) insert {
	return insert{table: "admin_actions",
		cols: []string{"actor", "action", "order_id", "out_trade_no", "user_id", "detail", "request_id", "client_request_id", "created_at"},
		args: []any{a.Actor, a.Action, a.OrderID, a.OutTradeNo, a.UserID, a.Detail, a.RequestID, a.ClientRequestID, utc(a.At)}}
}

func queryInsert(q *queryRow) insert {
	return insert{table: "mos_queries",
		cols: []string{"order_id", "source", "mos_status", "total_amount", "currency", "error", "duration_ms", "created_at"},
		args: []any{q.OrderID, q.Source, q.MOSStatus, q.TotalAmount, q.Currency, q.Error, q.DurationMS, q.CreatedAt}}
}
