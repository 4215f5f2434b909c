package store

import (
	"context"

	"gorm.io/gorm"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// activeFlag is the condition that an order has an active flag, correlated, so that a report
// reads its period's rows through the period's index and checks each (the list's flag filter
// instead starts from the active flags: few, and it wants the newest first).
const activeFlag = "EXISTS (SELECT 1 FROM order_flags fl WHERE fl.order_id = orders.id AND fl.resolved_at IS NULL)"

// Report builds the reconciliation report of the orders f selects. Its totals and at-risk lines
// select with filtered, as the list does, so that they count exactly the orders the list shows;
// each is one GROUP BY over the period's rows (read through the period's index: a month's report
// reads that month's rows).
func (db *DB) Report(ctx context.Context, f order.ListFilter) (*order.Report, error) {
	g := db.read.WithContext(ctx)
	r := &order.Report{Filter: f}
	var err error
	if r.Totals, err = totals(filtered(g.Model(&orderRow{}), f)); err != nil {
		return nil, err
	}
	if r.AtRisk, err = totals(filtered(g.Model(&orderRow{}), f).Where(activeFlag)); err != nil {
		return nil, err
	}
	// By currency only: the at-risk lines are not by status.
	r.AtRisk = byCurrency(r.AtRisk)
	if r.Money, err = moneyMoved(g, f); err != nil {
		return nil, err
	}
	var rows []orderRow
	if err := filtered(g.Model(&orderRow{}), f).Where(activeFlag).Order("created_at, id").Limit(order.MaxPageSize).
		Find(&rows).Error; err != nil {
		return nil, FormatError(err)
	}
	if r.AtRiskOrders, err = db.reviewItems(ctx, rows); err != nil {
		return nil, err
	}
	r.AtRiskMOS = order.AtRiskAsMOSReports(r.AtRiskOrders)
	return r, nil
}

// totals counts and sums q's orders by currency and status; there are no zero rows.
func totals(q *gorm.DB) ([]order.Total, error) {
	var rows []struct {
		Currency string
		Status   string
		Count    int64
		Minor    int64
	}
	if err := q.Select("currency, status, COUNT(*) AS count, COALESCE(SUM(amount_minor), 0) AS minor").
		Group("currency, status").Order("currency, status").Scan(&rows).Error; err != nil {
		return nil, FormatError(err)
	}
	out := make([]order.Total, len(rows))
	for i, r := range rows {
		out[i] = order.Total{Currency: money.Currency(r.Currency), Status: order.Status(r.Status), Count: r.Count, Minor: r.Minor}
	}
	return out, nil
}

// byCurrency folds totals into one line per currency (Status left empty).
func byCurrency(ts []order.Total) []order.Total {
	var out []order.Total
	for _, t := range ts {
		if n := len(out); n > 0 && out[n-1].Currency == t.Currency {
			out[n-1].Count += t.Count
			out[n-1].Minor += t.Minor
			continue
		}
		out = append(out, order.Total{Currency: t.Currency, Count: t.Count, Minor: t.Minor})
	}
	return out
}

// Money is counted at what MOS settled: the amount finance accepted from MOS when it differs from
// the order's (outcome accept_mos), else the order's own.
const (
	heldMinor    = "COALESCE(settled_minor, amount_minor)"
	heldCurrency = "CASE WHEN settled_currency <> '' THEN settled_currency ELSE currency END"
)

// moneyMoved is the money that moved for the orders f selects (the list's selection, its status
// filter included), per currency, at what MOS settled. Paid counts the orders mospay holds PAID or
// REFUNDED: a refund of a payment mospay never saw (refund_not_paid) is a payment too, for MOS
// took it. Refunded counts the REFUNDED ones. So Net is what MOS settled for the selection. On the
// paid basis each side counts when its money moved in the period: the payment at paidAt (at
// refundedAt when mospay never saw it paid), the refund at refundedAt.
func moneyMoved(g *gorm.DB, f order.ListFilter) ([]order.MoneyTotal, error) {
	paid, refunded := "status IN ('PAID', 'REFUNDED')", "status = 'REFUNDED'"
	var pargs, rargs []any
	if f.Basis == order.BasisPaid {
		var p, r string
		p, pargs = period("COALESCE(paid_at, refunded_at)", f.From, f.To)
		r, rargs = period("refunded_at", f.From, f.To)
		paid, refunded = paid+" AND "+p, refunded+" AND "+r
	}
	// No "status IN ('PAID', 'REFUNDED')" here, though only those count (the CASEs say so): with it
	// SQLite read every paid order through orders_status instead of the period's rows through
	// orders_created, and a day's report on a million orders took 450 ms instead of 3.
	q := filtered(g.Model(&orderRow{}), f)
	var rows []struct {
		Currency      string
		PaidCount     int64
		PaidMinor     int64
		RefundedCount int64
		RefundedMinor int64
	}
	sel := heldCurrency + " AS currency, SUM(CASE WHEN " + paid + " THEN 1 ELSE 0 END) AS paid_count, " +
		"SUM(CASE WHEN " + paid + " THEN " + heldMinor + " ELSE 0 END) AS paid_minor, " +
		"SUM(CASE WHEN " + refunded + " THEN 1 ELSE 0 END) AS refunded_count, " +
		"SUM(CASE WHEN " + refunded + " THEN " + heldMinor + " ELSE 0 END) AS refunded_minor"
	args := append(append(append(append([]any{}, pargs...), pargs...), rargs...), rargs...)
	if err := q.Select(sel, args...).Group(heldCurrency).Order("currency").Scan(&rows).Error; err != nil {
		return nil, FormatError(err)
	}
	var out []order.MoneyTotal
	for _, r := range rows {
		if r.PaidCount == 0 && r.RefundedCount == 0 {
			continue
		}
		out = append(out, order.MoneyTotal{Currency: money.Currency(r.Currency), PaidCount: r.PaidCount, PaidMinor: r.PaidMinor,
			RefundedCount: r.RefundedCount, RefundedMinor: r.RefundedMinor})
	}
	return out, nil
}

// Review lists a page of orders with active flags, oldest flag first: it walks the active flags
// by id (the order they were raised in) through their own index, taking each order at its oldest
// active flag, so that a page costs the same however many orders there are.
func (db *DB) Review(ctx context.Context, f order.ReviewFilter) (order.ReviewPage, error) {
	limit := order.PageSize(f.Limit)
	g := db.read.WithContext(ctx)
	q := g.Model(&flagRow{}).Where("resolved_at IS NULL")
	if f.Flag != "" {
		// An order has at most one active flag of a kind: walk those, oldest first.
		q = q.Where("flag = ?", string(f.Flag))
	} else {
		q = q.Where(`NOT EXISTS (SELECT 1 FROM order_flags older WHERE older.order_id = order_flags.order_id
			AND older.resolved_at IS NULL AND older.id < order_flags.id)`)
	}
	heads, next, err := pageOf(q, reviewKeys, f.Cursor, limit, func(r *flagRow) int64 { return r.ID })
	if err != nil {
		return order.ReviewPage{}, err
	}
	page := order.ReviewPage{NextCursor: next}
	ids := make([]int64, len(heads))
	for i := range heads {
		ids[i] = heads[i].OrderID
	}
	var rows []orderRow
	if len(ids) > 0 {
		if err := g.Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return order.ReviewPage{}, FormatError(err)
		}
	}
	byID := make(map[int64]orderRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	ordered := make([]orderRow, 0, len(heads))
	for _, h := range heads {
		if r, ok := byID[h.OrderID]; ok {
			ordered = append(ordered, r)
		}
	}
	items, err := db.reviewItems(ctx, ordered)
	if err != nil {
		return order.ReviewPage{}, err
	}
	page.Items = items
	return page, nil
}

// ReviewCount counts the orders with an active flag, through the active flags' own index.
func (db *DB) ReviewCount(ctx context.Context) (int64, error) {
	var n int64
	if err := db.read.WithContext(ctx).Model(&flagRow{}).Where("resolved_at IS NULL").Distinct("order_id").Count(&n).Error; err != nil {
		return 0, FormatError(err)
	}
	return n, nil
}

// reviewItems are rows as the review queue shows them: each order with its active flags and
// MOS's last answer, in the rows' order.
func (db *DB) reviewItems(ctx context.Context, rows []orderRow) ([]order.ReviewItem, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	sets, err := db.flagsOf(ctx, db.read, ids)
	if err != nil {
		return nil, err
	}
	answers, err := db.LastAnswers(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]order.ReviewItem, len(rows))
	for i := range rows {
		id := rows[i].ID
		out[i] = order.ReviewItem{Order: fromRow(&rows[i], sets[id]), Flags: sets[id].active}
		if a, ok := answers[id]; ok {
			out[i].MOS = &a
		}
	}
	return out, nil
}

// LastAnswers returns, by order id, MOS's last answer about each order: the latest orderQuery
// that got one (a status), read through the queries' order index.
func (db *DB) LastAnswers(ctx context.Context, ids []int64) (map[int64]order.MOSAnswer, error) {
	out := map[int64]order.MOSAnswer{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []queryRow
	err := db.read.WithContext(ctx).Where(`id IN (SELECT MAX(id) FROM mos_queries WHERE order_id IN ? AND error = ''
		AND mos_status <> '' GROUP BY order_id)`, ids).Find(&rows).Error
	if err != nil {
		return nil, FormatError(err)
	}
	for _, r := range rows {
		out[r.OrderID] = order.MOSAnswer{Status: r.MOSStatus, TotalAmount: r.TotalAmount, Currency: r.Currency, At: r.CreatedAt.UTC()}
	}
	return out, nil
}

// RecordAction stores an admin action that changes no order (a sign-in to the finance pages).
func (db *DB) RecordAction(ctx context.Context, a order.AdminAction) error {
	return db.InTx(ctx, func(tx *gorm.DB) error { return auditInsert(&a).exec(tx) })
}

// OpenFlags counts the active flags (the review queue's size, for the mospay_flags_open gauge),
// through the partial index of the active flags.
func (db *DB) OpenFlags(ctx context.Context) (int64, error) {
	var n int64
	if err := db.read.WithContext(ctx).Model(&flagRow{}).Where("resolved_at IS NULL").Count(&n).Error; err != nil {
		return 0, FormatError(err)
	}
	return n, nil
}
