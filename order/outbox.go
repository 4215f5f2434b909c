package order

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EventType is what an order event tells the merchant's systems. Order events are mospay's
// output (the outbox, sent to MOSPAY_WEBHOOK_URLS); they are not the Observations the state machine
// takes as input (observation.go: ObservedPaid is MOS saying "paid", EventOrderPaid is mospay telling
// the merchant the order is PAID).
type EventType string

// The order events. A change of status to one of the four outcomes, and every flag raised or
// resolved, is an event; creating an order and its prepay are not (the front end drives those).
const (
	EventOrderPaid         EventType = "order.paid"
	EventOrderFailed       EventType = "order.failed"
	EventOrderClosed       EventType = "order.closed"
	EventOrderRefunded     EventType = "order.refunded"
	EventOrderFlagged      EventType = "order.flagged"
	EventOrderFlagResolved EventType = "order.flag_resolved"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventOrderPaid, EventOrderFailed, EventOrderClosed, EventOrderRefunded,
	EventOrderFlagged, EventOrderFlagResolved}

// ParseEventType accepts exactly the name of an event type; anything else is EINVALID.
func ParseEventType(s string) (EventType, error) {
	for _, t := range EventTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", Errorf(EINVALID, "unknown event type %q", s)
}

// statusEvents are the statuses whose reaching is an event.
var statusEvents = map[Status]EventType{
	StatusPaid:     EventOrderPaid,
	StatusFailed:   EventOrderFailed,
	StatusClosed:   EventOrderClosed,
	StatusRefunded: EventOrderRefunded,
}

// OutboxEvent is an order event as the outbox holds it: written in the same transaction as the
// change that causes it, with one delivery for every endpoint configured then. Payload is the
// exact body every delivery sends (the order as it is after the change), fixed when the event is
// made, so that a retry a day later still says what was true then.
type OutboxEvent struct {
	ID         string // "evt_" and a UUIDv7 in hex: time-sortable, the receivers' dedupe key (webhook-id)
	Type       EventType
	OrderID    int64
	OutTradeNo string
	// OrderVersion is the order's version after the change: with ID, the order of one order's
	// events, in which they reach each endpoint.
	OrderVersion int64
	Payload      []byte
	At           time.Time
	// Endpoints are the receivers to deliver it to.
	Endpoints []string
}

// NewEventID makes an event id. Standard Webhooks ids may not hold '.', which this never does.
func NewEventID() string {
	return "evt_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// EventSubject is what an event says: its type and time, the order as it is after the change,
// and for a flag event the flag (and for order.flag_resolved who resolved it).
type EventSubject struct {
	Type  EventType
	Order *Order
	At    time.Time
	Flag  Flag   // order.flagged, order.flag_resolved
	Note  string // the flag's note, or the resolution's
	By    string // order.flag_resolved: the admin token's name
	// Outcome is what finance decided (order.flag_resolved).
	Outcome Outcome
}

// EventRenderer renders an event's payload (package api renders the order as the admin API shows
// it, in a Standard Webhooks envelope).
type EventRenderer func(EventSubject) ([]byte, error)

// defaultRender is the payload when the service is given no renderer (tests of this package):
// the type and time alone.
func defaultRender(e EventSubject) ([]byte, error) {
	return json.Marshal(map[string]string{"type": string(e.Type), "timestamp": e.At.UTC().Format(time.RFC3339)})
}

// events are the order events a write causes: reaching PAID, FAILED, CLOSED or REFUNDED, each
// flag it raises, and the flag it resolves. They are rendered from the order as the write leaves it.
func (s *Service) events(w Write) ([]OutboxEvent, error) {
	var subjects []EventSubject
	after := w.After()
	if t, ok := statusEvents[w.Change.To]; ok && w.Change.Moves() {
		subjects = append(subjects, EventSubject{Type: t, Order: after, At: w.At})
	}
	for _, f := range w.Change.Raise {
		subjects = append(subjects, EventSubject{Type: EventOrderFlagged, Order: after, At: w.At, Flag: f.Flag, Note: f.Note})
	}
	if r := w.Change.Resolve; r != nil {
		subjects = append(subjects, EventSubject{Type: EventOrderFlagResolved, Order: after, At: w.At, Flag: r.Flag,
			Note: r.Note, By: r.By, Outcome: r.Outcome})
	}
	return s.newEvents(subjects...)
}

// newEvents renders events for the configured endpoints.
func (s *Service) newEvents(subjects ...EventSubject) ([]OutboxEvent, error) {
	if len(subjects) == 0 {
		return nil, nil
	}
	render := s.cfg.RenderEvent
	if render == nil {
		render = defaultRender
	}
	out := make([]OutboxEvent, 0, len(subjects))
	for _, e := range subjects {
		payload, err := render(e)
		if err != nil {
			return nil, Wrap(EINTERNAL, err, "rendering an order event")
		}
		out = append(out, OutboxEvent{ID: NewEventID(), Type: e.Type, OrderID: e.Order.ID, OutTradeNo: e.Order.OutTradeNo,
			OrderVersion: e.Order.Version, Payload: payload, At: e.At, Endpoints: s.cfg.EventEndpoints})
	}
	return out, nil
}

// DeliveryStatus is where one delivery of an event to one endpoint stands.
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // due at its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // the endpoint answered 2xx in time
	DeliveryFailed    DeliveryStatus = "failed"    // every attempt of the schedule failed; a replay makes it pending again
	DeliveryAbandoned DeliveryStatus = "abandoned" // its endpoint was removed from the configuration
)

// ParseDeliveryStatus accepts exactly the name of a delivery status.
func ParseDeliveryStatus(s string) (DeliveryStatus, error) {
	for _, d := range []DeliveryStatus{DeliveryPending, DeliveryDelivered, DeliveryFailed, DeliveryAbandoned} {
		if string(d) == s {
			return d, nil
		}
	}
	return "", Errorf(EINVALID, "unknown delivery status %q", s)
}

// Delivery is one event's delivery to one endpoint.
type Delivery struct {
	ID            int64
	EventID       string
	OrderID       int64
	Endpoint      string
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt *time.Time
	LastError     string
	Payload       []byte // the event's, for sending
	Log           []Attempt
}

// Attempt is one try of a delivery.
type Attempt struct {
	At         time.Time
	StatusCode int // 0 when there was no answer
	LatencyMS  int64
	Error      string
	Response   string // the first 1 KiB of the answer
}

// DeliveryResult is what one attempt of a delivery came to, and what the delivery becomes:
// delivered, pending (a retry at Next) or failed. Owner is the lease the attempt was made under.
type DeliveryResult struct {
	Delivery Delivery // as claimed
	Attempt  Attempt
	Status   DeliveryStatus
	Next     *time.Time
	Owner    string
}

// EventFilter selects events for finance; zero values select everything.
type EventFilter struct {
	OutTradeNo string
	Type       EventType
	Status     DeliveryStatus // events with a delivery of this status
	Since      *time.Time     // created at or after
	Limit      int
	Cursor     string
}

// EventRecord is an event with its deliveries, as finance sees it.
type EventRecord struct {
	OutboxEvent
	Deliveries []Delivery
}

// EventPage is a page of events, newest first.
type EventPage struct {
	Events     []EventRecord
	NextCursor string
}

// Endpoint is an endpoint's delivery state, for GET /admin/webhooks.
type Endpoint struct {
	URL        string
	Configured bool // listed in the configuration now
	Counts     map[DeliveryStatus]int64
	// OldestPending is when the oldest event still pending for it was made; nil when none is.
	OldestPending *time.Time
	LastAttempt   *Attempt
}

// Events lists order events for finance.
func (s *Service) Events(ctx context.Context, f EventFilter) (EventPage, error) {
	return s.store.Events(ctx, f)
}

// EventByID returns an event with its deliveries and every attempt. ENOTFOUND.
func (s *Service) EventByID(ctx context.Context, id string) (*EventRecord, error) {
	return s.store.Event(ctx, id)
}

// Endpoints reports each endpoint's deliveries: the configured ones, and removed ones that
// deliveries still name.
func (s *Service) Endpoints(ctx context.Context) ([]Endpoint, error) {
	return s.store.Endpoints(ctx, s.cfg.EventEndpoints)
}

// Redeliver makes every delivery of the event to a configured endpoint due now (attempted within
// seconds, with the same webhook-id), whatever its status, and records the admin action.
func (s *Service) Redeliver(ctx context.Context, id, admin, requestID string) (*EventRecord, error) {
	now := s.clock.Now()
	n, err := s.store.Redeliver(ctx, RedeliverRequest{EventID: id, Endpoints: s.cfg.EventEndpoints, At: now,
		Audit: AdminAction{Actor: admin, Action: ActionRedeliver, Detail: "event " + id, RequestID: requestID,
			ClientRequestID: ClientRequestID(ctx), At: now}})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, Errorf(ECONFLICT, "the event has no delivery to a configured endpoint")
	}
	s.wake()
	return s.store.Event(ctx, id)
}

// RedeliverFailed makes every failed delivery of events made since since due now, and records one
// admin action; it returns how many deliveries it replays.
func (s *Service) RedeliverFailed(ctx context.Context, since time.Time, admin, requestID string) (int64, error) {
	now := s.clock.Now()
	n, err := s.store.Redeliver(ctx, RedeliverRequest{Since: &since, Status: DeliveryFailed, Endpoints: s.cfg.EventEndpoints,
		At: now, Audit: AdminAction{Actor: admin, Action: ActionRedeliver,
			Detail: "failed deliveries of events since " + since.UTC().Format(time.RFC3339), RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: now}})
	if err == nil && n > 0 {
		s.wake()
	}
	return n, err
}

// RedeliverRequest is a replay: one event (EventID), or every delivery of Status of events made
// since Since; only deliveries to Endpoints (the configured ones) are replayed.
type RedeliverRequest struct {
	EventID   string
	Since     *time.Time
	Status    DeliveryStatus
	Endpoints []string
	At        time.Time
	Audit     AdminAction
}

// wake tells the deliverer that deliveries are due now, if one listens.
func (s *Service) wake() {
	if s.cfg.Wake != nil {
		s.cfg.Wake()
	}
}
