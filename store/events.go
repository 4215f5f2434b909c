package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/mospay/mospay/order"
)

type eventRow struct {
	ID           string `gorm:"primaryKey"`
	OrderID      int64
	OutTradeNo   string
	OrderVersion int64
	Type         string
	Payload      string
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
}

func (eventRow) TableName() string { return "events" }

type deliveryRow struct {
	ID            int64 `gorm:"primaryKey"`
	EventID       string
	OrderID       int64
	Endpoint      string
	Status        string
	Attempts      int
	NextAttemptAt *time.Time
	LeaseOwner    *string
	LeaseUntil    *time.Time
	LastError     string
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt     time.Time `gorm:"autoUpdateTime:false"`
}

func (deliveryRow) TableName() string { return "deliveries" }

type attemptRow struct {
	ID         int64 `gorm:"primaryKey"`
	DeliveryID int64
	StatusCode int
	LatencyMS  int64 `gorm:"column:latency_ms"`
	Error      string
	Response   string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
}

func (attemptRow) TableName() string { return "delivery_attempts" }

// eventRows are the rows of one outbox event: the event, and a pending delivery due at once for
// each of its endpoints.
func eventRows(e *order.OutboxEvent) []insert {
	at := utc(e.At)
	rows := []insert{{table: "events", cols: []string{"id", "order_id", "out_trade_no", "order_version", "type", "payload", "created_at"},
		args: []any{e.ID, e.OrderID, e.OutTradeNo, e.OrderVersion, string(e.Type), string(e.Payload), at}}}
	if len(e.Endpoints) == 0 {
		return rows
	}
	// One statement for all of them (see insert).
	deliveries := insert{table: "deliveries",
		cols: []string{"event_id", "order_id", "order_version", "endpoint", "status", "attempts", "next_attempt_at", "created_at", "updated_at"}}
	for _, ep := range e.Endpoints {
		deliveries.args = append(deliveries.args, e.ID, e.OrderID, e.OrderVersion, ep, string(order.DeliveryPending), 0, at, at, at)
	}
	return append(rows, deliveries)
}

func (r *eventRow) event() order.OutboxEvent {
	return order.OutboxEvent{ID: r.ID, Type: order.EventType(r.Type), OrderID: r.OrderID, OutTradeNo: r.OutTradeNo,
		OrderVersion: r.OrderVersion, Payload: []byte(r.Payload), At: r.CreatedAt.UTC()}
}

func (r *deliveryRow) delivery() order.Delivery {
	return order.Delivery{ID: r.ID, EventID: r.EventID, OrderID: r.OrderID, Endpoint: r.Endpoint,
		Status: order.DeliveryStatus(r.Status), Attempts: r.Attempts, NextAttemptAt: utcPtr(r.NextAttemptAt), LastError: r.LastError}
}

func (r *attemptRow) attempt() order.Attempt {
	return order.Attempt{At: r.CreatedAt.UTC(), StatusCode: r.StatusCode, LatencyMS: r.LatencyMS, Error: r.Error, Response: r.Response}
}

// Events lists order events newest first, each with its deliveries, by keyset pagination on the
// event id (UUIDv7: time-ordered).
func (db *DB) Events(ctx context.Context, f order.EventFilter) (order.EventPage, error) {
	limit := order.PageSize(f.Limit)
	q := db.read.WithContext(ctx).Model(&eventRow{})
	if f.OutTradeNo != "" {
		q = q.Where("out_trade_no = ?", f.OutTradeNo)
	}
	if f.Type != "" {
		q = q.Where("type = ?", string(f.Type))
	}
	if f.Since != nil {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if f.Status != "" {
		q = q.Where("id IN (SELECT event_id FROM deliveries WHERE status = ?)", string(f.Status))
	}
	rows, next, err := pageOf(q, eventsKeys, f.Cursor, limit, func(r *eventRow) string { return r.ID })
	if err != nil {
		return order.EventPage{}, err
	}
	page := order.EventPage{NextCursor: next}
	records, err := db.withDeliveries(ctx, rows, false)
	if err != nil {
		return order.EventPage{}, err
	}
	page.Events = records
	return page, nil
}

// Event returns one event with its deliveries and every attempt of each.
func (db *DB) Event(ctx context.Context, id string) (*order.EventRecord, error) {
	var r eventRow
	err := db.read.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, order.Errorf(order.ENOTFOUND, "no such event")
	}
	if err != nil {
		return nil, FormatError(err)
	}
	recs, err := db.withDeliveries(ctx, []eventRow{r}, true)
	if err != nil {
		return nil, err
	}
	return &recs[0], nil
}

// orderEvents returns an order's events with their deliveries, oldest first (its story).
func (db *DB) orderEvents(ctx context.Context, orderID int64) ([]order.EventRecord, error) {
	var rows []eventRow
	if err := db.read.WithContext(ctx).Where("order_id = ?", orderID).Order("order_version, id").Find(&rows).Error; err != nil {
		return nil, FormatError(err)
	}
	return db.withDeliveries(ctx, rows, false)
}

// withDeliveries attaches each event's deliveries (and, with attempts, their attempts).
func (db *DB) withDeliveries(ctx context.Context, rows []eventRow, attempts bool) ([]order.EventRecord, error) {
	out := make([]order.EventRecord, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
		out[i].OutboxEvent = rows[i].event()
	}
	var ds []deliveryRow
	if err := db.read.WithContext(ctx).Where("event_id IN ?", ids).Order("id").Find(&ds).Error; err != nil {
		return nil, FormatError(err)
	}
	byEvent := map[string]int{}
	for i := range rows {
		byEvent[rows[i].ID] = i
	}
	logs := map[int64][]order.Attempt{}
	if attempts && len(ds) > 0 {
		dids := make([]int64, len(ds))
		for i := range ds {
			dids[i] = ds[i].ID
		}
		var as []attemptRow
		if err := db.read.WithContext(ctx).Where("delivery_id IN ?", dids).Order("id").Find(&as).Error; err != nil {
			return nil, FormatError(err)
		}
		for i := range as {
			logs[as[i].DeliveryID] = append(logs[as[i].DeliveryID], as[i].attempt())
		}
	}
	for i := range ds {
		d := ds[i].delivery()
		d.Log = logs[d.ID]
		j := byEvent[ds[i].EventID]
		out[j].Deliveries = append(out[j].Deliveries, d)
	}
	return out, nil
}

// Redeliver makes the selected deliveries pending and due at r.At, with a fresh schedule, and
// records the admin action, in one transaction. A delivery that has no delivery row for an
// endpoint (the endpoint was configured after the event) is not replayed to it.
func (db *DB) Redeliver(ctx context.Context, r order.RedeliverRequest) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&deliveryRow{}).Where("endpoint IN ?", append([]string{""}, r.Endpoints...))
		if r.EventID != "" {
			var found int64
			if err := tx.Model(&eventRow{}).Where("id = ?", r.EventID).Count(&found).Error; err != nil {
				return err
			}
			if found == 0 {
				return order.Errorf(order.ENOTFOUND, "no such event")
			}
			q = q.Where("event_id = ?", r.EventID)
		}
		if r.Status != "" {
			q = q.Where("status = ?", string(r.Status))
		}
		if r.Since != nil {
			q = q.Where("event_id IN (SELECT id FROM events WHERE created_at >= ?)", r.Since.UTC())
		}
		at := utc(r.At)
		// A lease is left alone: an attempt in flight finishes and is recorded as usual, and no
		// second attempt starts beside it.
		res := q.Updates(map[string]any{"status": string(order.DeliveryPending), "attempts": 0, "next_attempt_at": at,
			"updated_at": at})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		if n == 0 {
			return nil
		}
		return auditInsert(&r.Audit).exec(tx)
	})
	return n, err
}

// deliveryClaim is which deliveries an endpoint's claim takes: its pending ones (read through
// deliveries_claim, in the order they fall due) for orders with no earlier event pending for it.
const deliveryClaim = `q.endpoint = ? AND q.status = 'pending' AND NOT EXISTS (SELECT 1 FROM deliveries e
	WHERE e.endpoint = q.endpoint AND e.order_id = q.order_id AND e.status = 'pending'
	AND (e.order_version, e.event_id) < (q.order_version, q.event_id))`

// ClaimDeliveries leases up to limit deliveries to endpoint that are due at now, for owner until
// until, each with its event's payload. A delivery waits while an earlier event of the same order
// is still pending for the endpoint, so that an order's events reach an endpoint in order. On
// PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED on the database's clock, as the
// reconciler's claims are, so that two instances never send the same attempt at once.
func (db *DB) ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, owner string, until time.Time) ([]order.Delivery, error) {
	if deliveryQueue.memory(db) != nil {
		// On SQLite: one read, the payloads with the rows, and the leases in memory. The rows
		// are scanned without GORM's reflection, and without the columns a claim does not need
		// (each of their times is a text to parse): a few per cent of the outbox's CPU
		// (BenchmarkOutboxCycle).
		var out []order.Delivery
		err := deliveryQueue.claimInMemory(ctx, db, "q.id, q.event_id, q.order_id, q.endpoint, q.attempts, q.next_attempt_at, q.last_error, e.payload",
			"JOIN events e ON e.id = q.event_id", deliveryClaim, []any{endpoint}, now, limit, owner, until,
			func(rows *sql.Rows) ([]int64, error) {
				var ids []int64
				for rows.Next() {
					r := deliveryRow{Status: string(order.DeliveryPending)}
					var payload []byte
					if err := rows.Scan(&r.ID, &r.EventID, &r.OrderID, &r.Endpoint, &r.Attempts, &r.NextAttemptAt, &r.LastError, &payload); err != nil {
						return nil, err
					}
					d := r.delivery()
					d.Payload = payload
					out = append(out, d)
					ids = append(ids, d.ID)
				}
				return ids, nil
			})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	var rows []deliveryRow
	err := deliveryQueue.claim(ctx, db, deliveryClaim, []any{endpoint}, now, limit, owner, until, &rows)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].EventID
	}
	var evs []eventRow
	if err := db.read.WithContext(ctx).Where("id IN ?", ids).Find(&evs).Error; err != nil {
		return nil, FormatError(err)
	}
	payload := make(map[string][]byte, len(evs))
	for i := range evs {
		payload[evs[i].ID] = []byte(evs[i].Payload)
	}
	out := make([]order.Delivery, len(rows))
	for i := range rows {
		out[i] = rows[i].delivery()
		out[i].Payload = payload[rows[i].EventID]
	}
	return out, nil
}

// RenewDeliveryLeases extends owner's leases on the deliveries still being attempted.
func (db *DB) RenewDeliveryLeases(ctx context.Context, owner string, ids []int64, now, until time.Time) error {
	_, err := deliveryQueue.renew(ctx, db, owner, ids, now, until)
	return err
}

// RecordAttempts stores attempts and their deliveries' new states, and lets go of their leases,
// in one transaction. A delivery whose lease another instance holds now (this one's ran out)
// only gets the attempt.
//
// A batch takes a few statements, not two per attempt: the attempts in multi-row INSERTs, and
// the deliveries in one UPDATE per new state (under load nearly all are "delivered at the first
// attempt"). Two statements per attempt were a fifth of the deliverer's cost on SQLite's one
// writer (make bench, the order-event rows).
func (db *DB) RecordAttempts(ctx context.Context, rs []order.DeliveryResult) error {
	if len(rs) == 0 {
		return nil
	}
	attempts := make([]any, 0, 6*len(rs))
	type state struct {
		status, lastError, owner string
		attempts                 int
		next                     time.Time
	}
	var (
		states []state
		ids    = map[state][]int64{}
		at     = map[state]time.Time{}
	)
	for _, r := range rs {
		a := r.Attempt
		attempts = append(attempts, r.Delivery.ID, a.StatusCode, a.LatencyMS, a.Error, a.Response, utc(a.At))
		s := state{status: string(r.Status), lastError: a.Error, owner: r.Owner, attempts: r.Delivery.Attempts + 1}
		if r.Next != nil {
			s.next = r.Next.UTC()
		}
		if _, ok := ids[s]; !ok {
			states = append(states, s)
		}
		ids[s] = append(ids[s], r.Delivery.ID)
		// The row's updated_at is its latest attempt's time.
		if t := utc(a.At); t.After(at[s]) {
			at[s] = t
		}
	}
	cols := []string{"delivery_id", "status_code", "latency_ms", "error", "response", "created_at"}
	// On SQLite the leases are in memory (memLeases): only the deliveries whose lease the owner
	// still holds change state, as the lease_owner condition does on PostgreSQL, and the leases
	// end once the new states have committed.
	leased, mem := ids, deliveryQueue.memory(db)
	if mem != nil {
		leased = map[state][]int64{}
		for s, in := range ids {
			leased[s] = mem.owned(s.owner, in)
		}
	}
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		for _, chunk := range chunkRows(attempts, len(cols)) {
			if err := (insert{table: "delivery_attempts", cols: cols, args: chunk}).exec(tx); err != nil {
				return err
			}
		}
		for _, s := range states {
			var next *time.Time
			if !s.next.IsZero() {
				next = &s.next
			}
			for _, in := range idLists(leased[s]) {
				args := append([]any{s.status, s.attempts, next, s.lastError, at[s]}, in...)
				q := `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, lease_owner = NULL,
					lease_until = NULL, updated_at = ? WHERE id IN (` + placeholders(len(in)) + `) AND status = 'pending'`
				if mem == nil {
					q, args = q+` AND lease_owner = ?`, append(args, s.owner)
				}
				if _, err := execSQL(tx, q, args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil && mem != nil {
		for s, in := range leased {
			mem.release(s.owner, in)
		}
	}
	return err
}

// mostRows is the most rows one multi-row statement writes.
const mostRows = 64

// chunkRows cuts args, rows of width values each, into multi-row statements' arguments of 64,
// 32, ..., 2 or 1 rows, so that a batch of any size takes a few statements of a few shapes (and
// SQLite keeps a compiled statement of each).
func chunkRows(args []any, width int) [][]any {
	var out [][]any
	for n := len(args) / width; n > 0; {
		size := mostRows
		for size > n {
			size /= 2
		}
		out = append(out, args[:size*width])
		args, n = args[size*width:], n-size
	}
	return out
}

// idLists cuts ids into IN lists of at most 256, each padded to a power of two by repeating its
// last id (which changes nothing), for the same reason as chunkRows.
func idLists(ids []int64) [][]any {
	var out [][]any
	for len(ids) > 0 {
		n := min(len(ids), 256)
		size := 1
		for size < n {
			size *= 2
		}
		in := make([]any, size)
		for i := range in {
			in[i] = ids[min(i, n-1)]
		}
		out = append(out, in)
		ids = ids[n:]
	}
	return out
}

// AbandonRemovedEndpoints marks abandoned the pending deliveries to endpoints no longer
// configured, and reports how many.
func (db *DB) AbandonRemovedEndpoints(ctx context.Context, configured []string, at time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&deliveryRow{}).Where("status = 'pending' AND endpoint NOT IN ?", append([]string{""}, configured...)).
			Updates(map[string]any{"status": string(order.DeliveryAbandoned), "next_attempt_at": nil, "lease_owner": nil,
				"lease_until": nil, "updated_at": utc(at)})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

// PruneAttempts deletes the attempts of delivered deliveries made before before, and reports how
// many. The events themselves are kept with their orders.
func (db *DB) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("created_at < ? AND delivery_id IN (SELECT id FROM deliveries WHERE status = 'delivered')", before.UTC()).
			Delete(&attemptRow{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

// Endpoints reports every endpoint's delivery state: the configured ones, and any other that
// deliveries name.
func (db *DB) Endpoints(ctx context.Context, configured []string) ([]order.Endpoint, error) {
	var counts []struct {
		Endpoint string
		Status   string
		N        int64
	}
	g := db.read.WithContext(ctx)
	if err := g.Model(&deliveryRow{}).Select("endpoint, status, COUNT(*) AS n").Group("endpoint, status").Scan(&counts).Error; err != nil {
		return nil, FormatError(err)
	}
	byURL := map[string]*order.Endpoint{}
	var out []*order.Endpoint
	get := func(u string) *order.Endpoint {
		if e, ok := byURL[u]; ok {
			return e
		}
		e := &order.Endpoint{URL: u, Counts: map[order.DeliveryStatus]int64{}}
		byURL[u] = e
		out = append(out, e)
		return e
	}
	for _, u := range configured {
		get(u).Configured = true
	}
	for _, c := range counts {
		get(c.Endpoint).Counts[order.DeliveryStatus(c.Status)] = c.N
	}
	for _, e := range out {
		var oldest []eventRow
		if err := g.Where("id IN (SELECT event_id FROM deliveries WHERE endpoint = ? AND status = 'pending')", e.URL).
			Order("id").Limit(1).Find(&oldest).Error; err != nil {
			return nil, FormatError(err)
		}
		if len(oldest) == 1 {
			at := oldest[0].CreatedAt.UTC()
			e.OldestPending = &at
		}
		var last []attemptRow
		if err := g.Where("delivery_id IN (SELECT id FROM deliveries WHERE endpoint = ?)", e.URL).
			Order("id DESC").Limit(1).Find(&last).Error; err != nil {
			return nil, FormatError(err)
		}
		if len(last) == 1 {
			a := last[0].attempt()
			e.LastAttempt = &a
		}
	}
	res := make([]order.Endpoint, len(out))
	for i, e := range out {
		res[i] = *e
	}
	return res, nil
}

// QueueStats is the outbox's backlog: deliveries pending, and the time the oldest of their
// events was made (zero when none is pending).
func (db *DB) QueueStats(ctx context.Context) (pending int64, oldest time.Time, err error) {
	g := db.read.WithContext(ctx)
	if err := g.Model(&deliveryRow{}).Where("status = 'pending'").Count(&pending).Error; err != nil {
		return 0, time.Time{}, FormatError(err)
	}
	if pending == 0 {
		return 0, time.Time{}, nil
	}
	var rows []deliveryRow
	if err := g.Where("status = 'pending'").Order("created_at").Limit(1).Find(&rows).Error; err != nil {
		return 0, time.Time{}, FormatError(err)
	}
	if len(rows) == 1 {
		oldest = rows[0].CreatedAt.UTC()
	}
	return pending, oldest, nil
}
