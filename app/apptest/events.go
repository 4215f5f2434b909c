package apptest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/webhook"
)

// EventSecret is the order events' signing secret the tests configure (a Standard Webhooks
// test vector's).
const EventSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// ReceivedEvent is one POST an EventReceiver got.
type ReceivedEvent struct {
	ID       string // webhook-id
	Type     string // the payload's type
	Order    string // the payload's data.order.outTradeNo
	Status   string // the payload's data.order.status
	Body     []byte
	Verified error // what webhook.Verify said of its signature
	Answered int   // the status the receiver answered; 0 while it has not, or when it dropped the connection
	At       time.Time
}

// EventReceiver is the merchant's systems in a test: an HTTP endpoint that verifies every order
// event as a receiver must (webhook.Verify with EventSecret) and records it. Answer decides each
// answer; nil answers 204.
type EventReceiver struct {
	URL    string
	mu     sync.Mutex
	got    []ReceivedEvent
	answer func(e ReceivedEvent, seen int) int
}

// NewEventReceiver starts a receiver, closed when the test ends. answer gets each event and how
// many times its id came before, and returns the status to answer (0 drops the connection).
func NewEventReceiver(t testing.TB, answer func(e ReceivedEvent, seen int) int) *EventReceiver {
	t.Helper()
	secrets, err := webhook.ParseSecrets(EventSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &EventReceiver{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e := ReceivedEvent{ID: r.Header.Get(webhook.HeaderID), Body: body, At: time.Now(),
			Verified: webhook.Verify(secrets, r.Header, body, time.Now(), webhook.DefaultTolerance)}
		var p struct {
			Type string
			Data struct {
				Order struct{ OutTradeNo, Status string }
			}
		}
		if json.Unmarshal(body, &p) == nil {
			e.Type, e.Order, e.Status = p.Type, p.Data.Order.OutTradeNo, p.Data.Order.Status
		}
		// Recorded on arrival, so that an attempt still open (or never answered: its sender died)
		// is seen; Answered is filled in once the answer is decided.
		rc.mu.Lock()
		seen := 0
		for _, g := range rc.got {
			if g.ID == e.ID {
				seen++
			}
		}
		i := len(rc.got)
		rc.got = append(rc.got, e)
		rc.mu.Unlock()
		e.Answered = http.StatusNoContent
		if rc.answer != nil {
			e.Answered = rc.answer(e, seen)
		}
		rc.mu.Lock()
		rc.got[i].Answered = e.Answered
		rc.mu.Unlock()
		if e.Answered == 0 {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
					return
				}
			}
		}
		w.WriteHeader(e.Answered)
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL + "/mospay-events"
	return rc
}

// Received is every POST so far, in order of arrival.
func (rc *EventReceiver) Received() []ReceivedEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]ReceivedEvent(nil), rc.got...)
}

// WaitFor waits until ok holds for the POSTs so far, and returns them.
func (rc *EventReceiver) WaitFor(t testing.TB, what string, ok func([]ReceivedEvent) bool) []ReceivedEvent {
	t.Helper()
	var got []ReceivedEvent
	if Within(WaitFor, func() bool { got = rc.Received(); return ok(got) }) {
		return got
	}
	for _, e := range got {
		t.Logf("received %s %s %s answered %d", e.ID, e.Type, e.Order, e.Answered)
	}
	t.Fatalf("the event receiver never got %s", what)
	return nil
}

// WithEvents configures a stack to send its order events to the receivers, signed with
// EventSecret, retried after delays (nil: 50 ms, 100 ms).
func WithEvents(delays []time.Duration, receivers ...*EventReceiver) func(*app.Config) {
	return func(c *app.Config) {
		secrets, err := webhook.ParseSecrets(EventSecret)
		if err != nil {
			panic(err)
		}
		c.WebhookSecrets = secrets
		c.WebhookRetry = delays
		if c.WebhookRetry == nil {
			c.WebhookRetry = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
		}
		c.EventRetention = time.Hour
		for _, r := range receivers {
			c.WebhookURLs = append(c.WebhookURLs, r.URL)
		}
	}
}
