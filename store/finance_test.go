package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// financeFixture is 120 orders over four days in USD and KHR, in every status, some flagged, some
// paid a day after they were made (and some of those refunded a day later still): what the
// report-equals-list test and the review queue test read.
func financeFixture(t *testing.T, db *DB) []*order.Order {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	day0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []*order.Order
	for i := range 120 {
		o := newOrder(1000+i, fmt.Sprintf("payer%d", i%5))
		o.CreatedAt = day0.Add(time.Duration(rng.IntN(4*24*60)) * time.Minute)
		if i%3 == 0 {
			o.Amount = money.Amount{Minor: int64(1000 * (1 + rng.IntN(9))), Currency: money.KHR}
		} else {
			o.Amount = money.Amount{Minor: int64(1 + rng.IntN(5000)), Currency: money.USD}
		}
		o.PrepayID = fmt.Sprintf("pp%d", i)
		create(t, db, o)
		save := func(ch order.Change, at time.Time) {
			t.Helper()
			saved, err := db.Save(ctx, order.Write{Order: o, Change: ch,
				Observation: order.Observation{Kind: order.ObservedPaid, Source: order.SourceReconciler}, At: at})
			if err != nil {
				t.Fatal(err)
			}
			o = saved
		}
		paidAt := o.CreatedAt.Add(time.Duration(rng.IntN(36*60)) * time.Minute)
		switch rng.IntN(8) {
		case 0, 1:
			save(order.Change{From: o.Status, To: order.StatusPaid, Reason: "paid"}, paidAt)
		case 2:
			save(order.Change{From: o.Status, To: order.StatusPaid, Reason: "paid"}, paidAt)
			save(order.Change{From: o.Status, To: order.StatusRefunded, Reason: "refunded"}, paidAt.Add(24*time.Hour))
		case 3:
			save(order.Change{From: o.Status, To: order.StatusFailed, Reason: "failed"}, paidAt)
		case 4:
			save(order.Change{From: o.Status, To: order.StatusPending, Reason: "pending"}, o.CreatedAt)
		case 6: // a refund of a payment mospay never saw
			save(order.Change{From: o.Status, To: order.StatusRefunded, Reason: "refunded, never seen paid"}, paidAt)
		case 7: // finance accepted MOS's answer of another amount
			settled := money.Amount{Minor: o.Amount.Minor/2 + 1, Currency: o.Amount.Currency}
			save(order.Change{From: o.Status, To: order.StatusPaid, Reason: "accepted", Settle: &settled}, paidAt)
			if rng.IntN(2) == 0 {
				save(order.Change{From: o.Status, To: order.StatusRefunded, Reason: "refunded"}, paidAt.Add(30*time.Hour))
			}
		}
		if rng.IntN(4) == 0 {
			save(order.Change{From: o.Status, To: o.Status, Reason: "flagged",
				Raise: []order.FlagRaise{{Flag: order.Flags[rng.IntN(len(order.Flags))], Note: "seen", Answer: "SUCCESS|1.00|USD"}}},
				o.CreatedAt.Add(time.Hour))
		}
		out = append(out, o)
	}
	return out
}

// listAll pages through the list for f and returns every order it shows.
func listAll(t *testing.T, db *DB, f order.ListFilter) []*order.Order {
	t.Helper()
	var all []*order.Order
	f.Limit = 7
	for {
		p, err := db.Orders(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Orders...)
		if p.NextCursor == "" {
			return all
		}
		f.Cursor = p.NextCursor
	}
}

// TestReportEqualsList: for every combination of filters, period and basis, the report's totals
// count and sum exactly the orders the list shows, in USD and KHR, with no zero rows; its money
// lines are the payments and refunds whose dates fall in the period.
func TestReportEqualsList(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		all := financeFixture(t, db)
		unseen, settled := 0, 0
		for _, o := range all {
			if o.Status == order.StatusRefunded && o.PaidAt == nil {
				unseen++
			}
			if o.Settled != nil {
				settled++
			}
		}
		if unseen == 0 || settled == 0 {
			t.Fatalf("the fixture lacks refunds of unseen payments (%d) or accepted amounts of MOS (%d)", unseen, settled)
		}
		at := func(d int) *time.Time { x := time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC); return &x }
		periods := []struct{ from, to *time.Time }{{nil, nil}, {at(2), at(3)}, {at(2), nil}, {nil, at(3)}, {at(1), at(6)}}
		statuses := []order.Status{"", order.StatusPaid, order.StatusRefunded, order.StatusPending}
		currencies := []money.Currency{"", money.USD, money.KHR}
		cases := 0
		for _, basis := range []order.Basis{order.BasisCreated, order.BasisPaid} {
			for _, p := range periods {
				for _, st := range statuses {
					for _, cur := range currencies {
						for _, flag := range []string{"", "any", string(order.FlagLatePayment)} {
							f := order.ListFilter{Basis: basis, From: p.from, To: p.to, Status: st, Currency: cur,
								AnyFlag: flag == "any"}
							if flag != "" && flag != "any" {
								f.Flag = order.Flag(flag)
							}
							listed := listAll(t, db, f)
							checkSelection(t, f, listed, all)
							checkReport(t, db, f, listed, all)
							cases++
						}
					}
				}
			}
		}
		f := order.ListFilter{Search: "pp7"}
		if got := listAll(t, db, f); len(got) != 1 || got[0].PrepayID != "pp7" {
			t.Fatalf("search by prepayId: %d orders", len(got))
		}
		if got := listAll(t, db, order.ListFilter{Search: "payer3"}); len(got) != 24 {
			t.Fatalf("search by openid: %d orders, want 24", len(got))
		}
		if got := listAll(t, db, order.ListFilter{Search: all[5].OutTradeNo}); len(got) != 1 {
			t.Fatalf("search by outTradeNo: %d orders", len(got))
		}
		if _, err := db.Report(ctx, order.ListFilter{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d filter combinations agree", cases)
	})
}

// checkSelection holds the list to the period rules, worked out here on their own: the created
// basis by createdAt; the paid basis by paidAt or refundedAt (money moved in the period).
func checkSelection(t *testing.T, f order.ListFilter, listed, all []*order.Order) {
	t.Helper()
	in := func(t *time.Time) bool {
		return t != nil && (f.From == nil || !t.Before(*f.From)) && (f.To == nil || t.Before(*f.To))
	}
	var want []int64
	for _, o := range all {
		selected := in(&o.CreatedAt)
		if f.Basis == order.BasisPaid {
			selected = in(o.PaidAt) || in(o.RefundedAt)
		}
		if !selected || (f.Status != "" && o.Status != f.Status) || (f.Currency != "" && o.Amount.Currency != f.Currency) ||
			(f.AnyFlag && len(o.Flags) == 0) || (f.Flag != "" && !o.HasFlag(f.Flag)) {
			continue
		}
		want = append(want, o.ID)
	}
	var got []int64
	for _, o := range listed {
		got = append(got, o.ID)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%+v: the list shows %d orders, the period rules select %d", f, len(got), len(want))
	}
}

func checkReport(t *testing.T, db *DB, f order.ListFilter, listed, all []*order.Order) {
	t.Helper()
	r, err := db.Report(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		cur money.Currency
		st  order.Status
	}
	want := map[key]order.Total{}
	risk := map[money.Currency]order.Total{}
	for _, o := range listed {
		k := key{o.Amount.Currency, o.Status}
		w := want[k]
		w.Currency, w.Status, w.Count, w.Minor = k.cur, k.st, w.Count+1, w.Minor+o.Amount.Minor
		want[k] = w
		if len(o.Flags) > 0 {
			rk := risk[k.cur]
			rk.Currency, rk.Count, rk.Minor = k.cur, rk.Count+1, rk.Minor+o.Amount.Minor
			risk[k.cur] = rk
		}
	}
	if len(r.Totals) != len(want) {
		t.Fatalf("%+v: %d total lines, the list shows %d (%+v)", f, len(r.Totals), len(want), r.Totals)
	}
	for _, got := range r.Totals {
		if w := want[key{got.Currency, got.Status}]; got != w || got.Count == 0 {
			t.Fatalf("%+v: total %+v, the list shows %+v", f, got, w)
		}
	}
	if len(r.AtRisk) != len(risk) {
		t.Fatalf("%+v: at risk %+v, the list shows %+v", f, r.AtRisk, risk)
	}
	for _, got := range r.AtRisk {
		if got != risk[got.Currency] {
			t.Fatalf("%+v: at risk %+v, the list shows %+v", f, got, risk[got.Currency])
		}
	}
	flagged := 0
	for _, o := range listed {
		if len(o.Flags) > 0 {
			flagged++
		}
	}
	if len(r.AtRiskOrders) != flagged {
		t.Fatalf("%+v: %d at-risk orders, the list shows %d flagged", f, len(r.AtRiskOrders), flagged)
	}
	// The money, worked out from the orders the list shows (the selection): every order held PAID
	// or REFUNDED is a payment (a refund of a payment never seen here too: MOS took it), every
	// REFUNDED one a refund, at what MOS settled; on the paid basis each when it moved in the
	// period (the payment at paidAt, or at refundedAt when never seen paid).
	in := func(t *time.Time) bool {
		return t != nil && (f.From == nil || !t.Before(*f.From)) && (f.To == nil || t.Before(*f.To))
	}
	money := map[money.Currency]order.MoneyTotal{}
	for _, o := range listed {
		held := o.Amount
		if o.Settled != nil {
			held = *o.Settled
		}
		paid := o.Status == order.StatusPaid || o.Status == order.StatusRefunded
		refunded := o.Status == order.StatusRefunded
		if f.Basis == order.BasisPaid {
			paidAt := o.PaidAt
			if paidAt == nil {
				paidAt = o.RefundedAt
			}
			paid, refunded = paid && in(paidAt), refunded && in(o.RefundedAt)
		}
		m := money[held.Currency]
		m.Currency = held.Currency
		if paid {
			m.PaidCount, m.PaidMinor = m.PaidCount+1, m.PaidMinor+held.Minor
		}
		if refunded {
			m.RefundedCount, m.RefundedMinor = m.RefundedCount+1, m.RefundedMinor+held.Minor
		}
		if paid || refunded {
			money[held.Currency] = m
		}
	}
	if len(r.Money) != len(money) {
		t.Fatalf("%+v: money %+v, want %+v", f, r.Money, money)
	}
	for _, got := range r.Money {
		if got != money[got.Currency] {
			t.Fatalf("%+v: money %+v, want %+v", f, got, money[got.Currency])
		}
	}
}

// TestReviewQueue: every order with an active flag once, oldest flag first, paged; MOS's last
// answer beside it; a resolved flag leaves the queue and is remembered with its answer.
func TestReviewQueue(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, url string) {
		db := openMigrated(t, url)
		ctx := context.Background()
		var orders []*order.Order
		for i := range 6 {
			o := create(t, db, newOrder(i+1, "u"))
			for j, fl := range []order.Flag{order.FlagAmountMismatch, order.FlagUnknownStatus} {
				if j == 1 && i%2 == 1 {
					break
				}
				saved, err := db.Save(ctx, order.Write{Order: o, At: t0.Add(time.Duration(10*j+i) * time.Minute),
					Change:      order.Change{From: o.Status, To: o.Status, Raise: []order.FlagRaise{{Flag: fl, Note: "n", Answer: "A"}}},
					Observation: order.Observation{Kind: order.ObservedUnknown, Source: order.SourceReconciler},
					Query: &order.QueryRecord{OrderID: o.ID, Source: order.SourceReconciler, MOSStatus: "SUCCESS",
						TotalAmount: fmt.Sprintf("%d.00", i), Currency: "USD", At: t0.Add(time.Duration(i) * time.Minute)}})
				if err != nil {
					t.Fatal(err)
				}
				o = saved
			}
			orders = append(orders, o)
		}
		var got []order.ReviewItem
		f := order.ReviewFilter{Limit: 4}
		for {
			p, err := db.Review(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.Items...)
			if p.NextCursor == "" {
				break
			}
			f.Cursor = p.NextCursor
		}
		if len(got) != 6 {
			t.Fatalf("%d items, want the 6 flagged orders once each", len(got))
		}
		if n, err := db.ReviewCount(ctx); err != nil || n != 6 {
			t.Fatalf("ReviewCount = %d, %v; want 6", n, err)
		}
		if p, err := db.Review(ctx, order.ReviewFilter{Flag: order.FlagUnknownStatus}); err != nil || len(p.Items) != 3 ||
			p.Items[0].Order.ID != orders[0].ID || p.Items[2].Order.ID != orders[4].ID {
			t.Fatalf("review by flag: %d items, %v", len(p.Items), err)
		}
		for i, it := range got {
			if it.Order.ID != orders[i].ID || len(it.Flags) != 2-i%2 || it.MOS == nil || it.MOS.Status != "SUCCESS" ||
				it.MOS.TotalAmount != fmt.Sprintf("%d.00", i) {
				t.Fatalf("item %d: order %d flags %+v mos %+v", i, it.Order.ID, it.Flags, it.MOS)
			}
		}
		// Resolve order 0's flags: it leaves the queue; its resolved flags carry the answer.
		o := orders[0]
		for _, fl := range []order.Flag{order.FlagAmountMismatch, order.FlagUnknownStatus} {
			cur, err := db.Order(ctx, o.OutTradeNo)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Save(ctx, order.Write{Order: cur, At: t0.Add(time.Hour),
				Change:      order.Change{From: cur.Status, To: cur.Status, Resolve: &order.FlagResolve{Flag: fl, Note: "checked with MOS", By: "finance", Answer: "B"}},
				Observation: order.Observation{Kind: order.ObservedUnknown, Source: order.SourceAdmin}}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := db.Review(ctx, order.ReviewFilter{})
		if err != nil || len(p.Items) != 5 || p.Items[0].Order.ID != orders[1].ID {
			t.Fatalf("after resolving: %+v %v", p.Items, err)
		}
		if n, err := db.ReviewCount(ctx); err != nil || n != 5 {
			t.Fatalf("ReviewCount after resolving = %d, %v; want 5", n, err)
		}
		cur, err := db.Order(ctx, o.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		if len(cur.Flags) != 0 || !slices.Contains(cur.Resolved, order.ResolvedFlag{Flag: order.FlagAmountMismatch, Answer: "B"}) {
			t.Fatalf("resolved order: flags %v resolved %v", cur.Flags, cur.Resolved)
		}
		st, err := db.Story(ctx, o.OutTradeNo)
		if err != nil || st.Flags[0].ResolvedBy != "finance" || st.Flags[0].Resolution != "checked with MOS" || st.Flags[0].ResolvedAt == nil {
			t.Fatalf("story flags %+v %v", st.Flags, err)
		}
		// Resolving a flag that is no longer active is a conflict, and changes nothing.
		if _, err := db.Save(ctx, order.Write{Order: cur, At: t0.Add(2 * time.Hour),
			Change:      order.Change{From: cur.Status, To: cur.Status, Resolve: &order.FlagResolve{Flag: order.FlagAmountMismatch, Note: "again", By: "x"}},
			Observation: order.Observation{Kind: order.ObservedUnknown, Source: order.SourceAdmin}}); order.ErrorCode(err) != order.ECONFLICT {
			t.Fatalf("resolving an inactive flag: %v", err)
		}
		if _, err := db.Review(ctx, order.ReviewFilter{Cursor: "bogus"}); order.ErrorCode(err) != order.EINVALID {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

// TestMoneyReadsThePeriod: the report's money figures read the period's orders through the
// creation index, not every paid order through the status index (a day's report on a million
// orders took 450 ms that way instead of 3).
func TestMoneyReadsThePeriod(t *testing.T) {
	db := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "money.db"))
	from := t0
	var rec sqlRecorder
	if _, err := moneyMoved(db.read.Session(&gorm.Session{Logger: &rec}), order.ListFilter{From: &from}); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Detail string }
	if err := db.read.Raw("EXPLAIN QUERY PLAN " + rec.sql).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, p := range plan {
		details = append(details, p.Detail)
	}
	if all := strings.Join(details, "; "); !strings.Contains(all, "orders_created") {
		t.Errorf("the money query's plan: %s; want it read through orders_created", all)
	}
}

// sqlRecorder is a GORM logger that keeps the last statement run, its values written in.
type sqlRecorder struct{ sql string }

func (r *sqlRecorder) LogMode(logger.LogLevel) logger.Interface { return r }
func (r *sqlRecorder) Info(context.Context, string, ...any)     {}
func (r *sqlRecorder) Warn(context.Context, string, ...any)     {}
func (r *sqlRecorder) Error(context.Context, string, ...any)    {}
func (r *sqlRecorder) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	r.sql, _ = fc()
}
