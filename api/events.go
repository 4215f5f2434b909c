package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

// Events are the order events as finance and operators see and replay them (order.Service).
type Events interface {
	Events(ctx context.Context, f order.EventFilter) (order.EventPage, error)
	EventByID(ctx context.Context, id string) (*order.EventRecord, error)
	Redeliver(ctx context.Context, id, admin, requestID string) (*order.EventRecord, error)
	RedeliverFailed(ctx context.Context, since time.Time, admin, requestID string) (int64, error)
	Endpoints(ctx context.Context) ([]order.Endpoint, error)
}

// EventPayload is the body of every order event delivery, in the Standard Webhooks envelope:
// the type, the time of the change, and the order as the admin API shows it after the change.
type EventPayload struct {
	Type       string    `json:"type"`
	Timestamp  string    `json:"timestamp"`
	APIVersion string    `json:"apiVersion"` // EventAPIVersion: the shape of data
	Data       EventData `json:"data"`
}

// EventAPIVersion is the version of the events' payload shape; it changes only when a field
// changes meaning or goes away (new fields may appear at any time).
const EventAPIVersion = "1"

// EventData is an event's data: the order, and for a flag event the flag.
type EventData struct {
	Order OrderJSON  `json:"order"`
	Flag  *EventFlag `json:"flag,omitempty"`
}

// EventFlag is the flag an order.flagged or order.flag_resolved event is about.
type EventFlag struct {
	Flag       string `json:"flag"`
	Note       string `json:"note"`                 // what was seen, or the resolution's note
	ResolvedBy string `json:"resolvedBy,omitempty"` // the admin token's name (order.flag_resolved)
	Outcome    string `json:"outcome,omitempty"`    // watch, accept_mos or close (order.flag_resolved)
}

// RenderEvent renders an event's payload (order.Config.RenderEvent). The payload is fixed when
// the event is made: every attempt, even a replay days later, sends these same bytes.
func RenderEvent(e order.EventSubject) ([]byte, error) {
	p := EventPayload{Type: string(e.Type), Timestamp: rfc3339(e.At), APIVersion: EventAPIVersion,
		Data: EventData{Order: orderView(e.Order, true)}}
	if e.Flag != "" {
		p.Data.Flag = &EventFlag{Flag: string(e.Flag), Note: e.Note, ResolvedBy: e.By, Outcome: string(e.Outcome)}
	}
	return json.Marshal(p)
}

// EventSummaryJSON is an order event in a list (GET /admin/events, an order's story): its
// deliveries with how many attempts each has had.
type EventSummaryJSON struct {
	ID         string                `json:"id"` // the webhook-id header of every delivery
	Type       string                `json:"type"`
	OutTradeNo string                `json:"outTradeNo"`
	CreatedAt  string                `json:"createdAt"`
	Deliveries []DeliverySummaryJSON `json:"deliveries"`
}

// DeliverySummaryJSON is an event's delivery to one endpoint, in a list.
type DeliverySummaryJSON struct {
	Endpoint      string  `json:"endpoint"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"` // how many so far
	NextAttemptAt *string `json:"nextAttemptAt"`
	LastError     string  `json:"lastError"`
}

// EventJSON is one order event (GET /admin/events/{id}): its payload, and every attempt of each
// delivery.
type EventJSON struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OutTradeNo string          `json:"outTradeNo"`
	CreatedAt  string          `json:"createdAt"`
	Payload    json.RawMessage `json:"payload"`
	Deliveries []DeliveryJSON  `json:"deliveries"`
}

// DeliveryJSON is an event's delivery to one endpoint, with its attempts, oldest first.
type DeliveryJSON struct {
	Endpoint      string        `json:"endpoint"`
	Status        string        `json:"status"`
	NextAttemptAt *string       `json:"nextAttemptAt"`
	LastError     string        `json:"lastError"`
	Attempts      []AttemptJSON `json:"attempts"`
}

// AttemptJSON is one attempt of a delivery.
type AttemptJSON struct {
	At         string `json:"at"`
	StatusCode int    `json:"statusCode"` // 0: no answer
	LatencyMS  int64  `json:"latencyMs"`
	Error      string `json:"error"`
	Response   string `json:"response"` // the first 1 KiB of the answer
}

// EventsJSON is GET /admin/events.
type EventsJSON struct {
	Events     []EventSummaryJSON `json:"events"`
	NextCursor string             `json:"nextCursor"`
}

func eventSummaryView(r *order.EventRecord) EventSummaryJSON {
	v := EventSummaryJSON{ID: r.ID, Type: string(r.Type), OutTradeNo: r.OutTradeNo, CreatedAt: rfc3339(r.At),
		Deliveries: make([]DeliverySummaryJSON, len(r.Deliveries))}
	for i, d := range r.Deliveries {
		v.Deliveries[i] = DeliverySummaryJSON{Endpoint: d.Endpoint, Status: string(d.Status), Attempts: d.Attempts,
			NextAttemptAt: rfc3339Ptr(d.NextAttemptAt), LastError: d.LastError}
	}
	return v
}

func attemptView(a order.Attempt) AttemptJSON {
	return AttemptJSON{At: rfc3339(a.At), StatusCode: a.StatusCode, LatencyMS: a.LatencyMS, Error: a.Error, Response: a.Response}
}

func eventView(r *order.EventRecord) EventJSON {
	v := EventJSON{ID: r.ID, Type: string(r.Type), OutTradeNo: r.OutTradeNo, CreatedAt: rfc3339(r.At),
		Payload: json.RawMessage(r.Payload), Deliveries: make([]DeliveryJSON, len(r.Deliveries))}
	for i, d := range r.Deliveries {
		dv := DeliveryJSON{Endpoint: d.Endpoint, Status: string(d.Status), NextAttemptAt: rfc3339Ptr(d.NextAttemptAt),
			LastError: d.LastError, Attempts: make([]AttemptJSON, len(d.Log))}
		for j, a := range d.Log {
			dv.Attempts[j] = attemptView(a)
		}
		v.Deliveries[i] = dv
	}
	return v
}

// adminEvents is GET /admin/events: events newest first, filtered by outTradeNo, type, a
// delivery status and since.
func (s *Server) adminEvents(c echo.Context) error {
	var f order.EventFilter
	var err error
	if f.Limit, f.Cursor, err = pageParams(c); err != nil {
		return err
	}
	f.OutTradeNo = c.QueryParam("outTradeNo")
	if v := c.QueryParam("type"); v != "" {
		if f.Type, err = order.ParseEventType(v); err != nil {
			return err
		}
	}
	if v := c.QueryParam("status"); v != "" {
		if f.Status, err = order.ParseDeliveryStatus(v); err != nil {
			return err
		}
	}
	if f.Since, err = s.timeParam(c, "since"); err != nil {
		return err
	}
	p, err := s.deps.Events.Events(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := EventsJSON{Events: make([]EventSummaryJSON, len(p.Events)), NextCursor: p.NextCursor}
	for i := range p.Events {
		out.Events[i] = eventSummaryView(&p.Events[i])
	}
	return c.JSON(http.StatusOK, out)
}

// adminEvent is GET /admin/events/{id}: the event, its payload, and every attempt.
func (s *Server) adminEvent(c echo.Context) error {
	r, err := s.deps.Events.EventByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, eventView(r))
}

// adminRedeliver is POST /admin/events/{id}/redeliver: every delivery of the event to a
// configured endpoint is due at once, with a fresh schedule and the same webhook-id (202: the
// attempt follows within seconds).
func (s *Server) adminRedeliver(c echo.Context) error {
	r, err := s.deps.Events.Redeliver(c.Request().Context(), c.Param("id"), adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, eventView(r))
}

// RedeliveredJSON is POST /admin/events/redeliver's answer.
type RedeliveredJSON struct {
	Redelivered int64 `json:"redelivered"`
}

// adminRedeliverFailed is POST /admin/events/redeliver?since=&status=failed: every failed
// delivery of events made since a time is due at once (after a receiver's outage outlasted the
// retry schedule). status may be left out; failed is the only one a bulk replay takes.
func (s *Server) adminRedeliverFailed(c echo.Context) error {
	if v := c.QueryParam("status"); v != "" && v != string(order.DeliveryFailed) {
		return order.Errorf(order.EINVALID, "status: only failed deliveries are replayed in bulk (replay one event by its id)")
	}
	since, err := s.timeParam(c, "since")
	if err != nil {
		return err
	}
	if since == nil {
		return order.Errorf(order.EINVALID, "since: required (a date such as 2026-11-22 or an RFC 3339 time)")
	}
	n, err := s.deps.Events.RedeliverFailed(c.Request().Context(), *since, adminOf(c), requestID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, RedeliveredJSON{Redelivered: n})
}

// EndpointJSON is one receiver of order events and its deliveries.
type EndpointJSON struct {
	URL string `json:"url"`
	// Configured is false for an endpoint removed from MOSPAY_WEBHOOK_URLS that deliveries still
	// name (its pending ones are abandoned).
	Configured      bool         `json:"configured"`
	Pending         int64        `json:"pending"`
	Delivered       int64        `json:"delivered"`
	Failed          int64        `json:"failed"`
	Abandoned       int64        `json:"abandoned"`
	OldestPendingAt *string      `json:"oldestPendingAt"`
	LastAttempt     *AttemptJSON `json:"lastAttempt"`
}

// EndpointsJSON is GET /admin/webhooks.
type EndpointsJSON struct {
	Endpoints []EndpointJSON `json:"endpoints"`
}

// adminWebhooks is GET /admin/webhooks: each endpoint's queue, oldest pending event and last
// attempt.
func (s *Server) adminWebhooks(c echo.Context) error {
	eps, err := s.deps.Events.Endpoints(c.Request().Context())
	if err != nil {
		return err
	}
	out := EndpointsJSON{Endpoints: make([]EndpointJSON, len(eps))}
	for i, e := range eps {
		v := EndpointJSON{URL: e.URL, Configured: e.Configured, Pending: e.Counts[order.DeliveryPending],
			Delivered: e.Counts[order.DeliveryDelivered], Failed: e.Counts[order.DeliveryFailed],
			Abandoned: e.Counts[order.DeliveryAbandoned], OldestPendingAt: rfc3339Ptr(e.OldestPending)}
		if a := e.LastAttempt; a != nil {
			at := attemptView(*a)
			v.LastAttempt = &at
		}
		out.Endpoints[i] = v
	}
	return c.JSON(http.StatusOK, out)
}
