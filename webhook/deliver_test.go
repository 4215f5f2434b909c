package webhook_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/store/pgtest"
	"github.com/mospay/mospay/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The deliverer's tests run against a real database (a SQLite file, or PostgreSQL where two
// instances share one) and real HTTP receivers.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testSecrets sign and verify the events: the secret apptest's stacks sign their events with.
var testSecrets = func() []webhook.Secret {
	s, err := webhook.ParseSecrets(apptest.EventSecret)
	if err != nil {
		panic(err)
	}
	return s
}()

// fast is a retry schedule scaled down for tests: the real one's shape in milliseconds.
var fast = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}

// openDB opens url (a SQLite file of the test's when empty), migrated, until the test ends.
// store's in-package tests keep their own openMigrated: they cannot import a helper that imports store.
func openDB(t *testing.T, url string) *store.DB {
	t.Helper()
	if url == "" {
		url = "sqlite:" + filepath.Join(t.TempDir(), "events.db")
	}
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

var orderSeq sync.Map // per database: the next order number

// seed makes n orders PAID, each with events of the given types for the endpoints, and returns
// the events in the order they were made.
func seed(t *testing.T, db *store.DB, n int, types []order.EventType, endpoints ...string) []order.OutboxEvent {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	next, _ := orderSeq.LoadOrStore(db, new(int))
	var out []order.OutboxEvent
	for range n {
		seq := next.(*int)
		*seq++
		o := &order.Order{OutTradeNo: fmt.Sprintf("w%031d", *seq), NonceStr: "n", AppKey: "k", OpenID: "u",
			Amount: money.Amount{Minor: 100, Currency: money.USD}, Desc: "d", Status: order.StatusCreated, Version: 1,
			ExpireAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
		if err := db.CreateOrder(ctx, o, order.Transition{To: order.StatusCreated, Source: order.SourceAPI, Version: 1, At: now}); err != nil {
			t.Fatal(err)
		}
		var evs []order.OutboxEvent
		for _, ty := range types {
			evs = append(evs, order.OutboxEvent{ID: order.NewEventID(), Type: ty, OrderID: o.ID, OutTradeNo: o.OutTradeNo,
				OrderVersion: 2, Payload: []byte(fmt.Sprintf(`{"type":%q,"order":%q}`, ty, o.OutTradeNo)), At: now, Endpoints: endpoints})
		}
		if _, err := db.Save(ctx, order.Write{Order: o, Change: order.Change{From: order.StatusCreated, To: order.StatusPaid},
			Observation: order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify}, Events: evs, At: now}); err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	return out
}

// receipt is one POST a receiver got.
type receipt struct {
	id, body string
	verified error
}

// receiver is a merchant endpoint: answer decides each answer from the event id and how many
// times that id came before.
type receiver struct {
	mu       sync.Mutex
	got      []receipt
	seen     map[string]int
	inFlight map[string]int
	overlap  []string // ids received while a receipt of the same id was still being answered
	answer   func(w http.ResponseWriter, id string, n int)
	srv      *httptest.Server
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, id string, n int)) *receiver {
	rc := &receiver{seen: map[string]int{}, inFlight: map[string]int{}, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(webhook.HeaderID)
		err := webhook.Verify(testSecrets, r.Header, body, time.Now(), webhook.DefaultTolerance)
		if r.Header.Get("Content-Type") != "application/json" {
			err = fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		rc.mu.Lock()
		rc.got = append(rc.got, receipt{id: id, body: string(body), verified: err})
		n := rc.seen[id]
		rc.seen[id]++
		rc.inFlight[id]++
		if rc.inFlight[id] > 1 {
			rc.overlap = append(rc.overlap, id)
		}
		rc.mu.Unlock()
		defer func() {
			rc.mu.Lock()
			rc.inFlight[id]--
			rc.mu.Unlock()
		}()
		rc.answer(w, id, n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) receipts() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receipt(nil), rc.got...)
}

func ok(w http.ResponseWriter, _ string, _ int) { w.WriteHeader(http.StatusNoContent) }

// start runs a deliverer until the test ends.
func start(t *testing.T, db *store.DB, cfg webhook.DelivererConfig) *webhook.Deliverer {
	t.Helper()
	if cfg.Owner == "" {
		cfg.Owner = "test"
	}
	if cfg.Secrets == nil {
		cfg.Secrets = testSecrets
	}
	if cfg.Retry == nil {
		cfg.Retry = fast
	}
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	d, err := webhook.NewDeliverer(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Stop(ctx)
	})
	return d
}

// waitStatus waits until every delivery of the events is in status (or the test's patience ends).
func waitStatus(t *testing.T, db *store.DB, events []order.OutboxEvent, status order.DeliveryStatus) []*order.EventRecord {
	t.Helper()
	var recs []*order.EventRecord
	if apptest.Within(apptest.WaitFor, func() bool {
		recs = recs[:0]
		done := true
		for _, e := range events {
			r, err := db.Event(context.Background(), e.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range r.Deliveries {
				done = done && d.Status == status
			}
			recs = append(recs, r)
		}
		return done
	}) {
		return recs
	}
	for _, r := range recs {
		for _, d := range r.Deliveries {
			t.Logf("event %s to %s: %s after %d attempts, last error %q", r.ID, d.Endpoint, d.Status, d.Attempts, d.LastError)
		}
	}
	t.Fatalf("deliveries did not all become %s", status)
	return nil
}

// TestDeliveryRetriesUntilDelivered: a receiver failing three times gets the same event, with
// the same webhook-id and a valid signature, four times; the fourth answer delivers it, and every
// attempt is recorded. The order's next event waits until then.
func TestDeliveryRetriesUntilDelivered(t *testing.T) {
	db := openDB(t, "")
	var first string
	rc := newReceiver(t, func(w http.ResponseWriter, id string, n int) {
		if id == first && n < 3 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	evs := seed(t, db, 1, []order.EventType{order.EventOrderPaid, order.EventOrderFlagged}, rc.srv.URL)
	first = evs[0].ID
	reg := prometheus.NewRegistry()
	d := start(t, db, webhook.DelivererConfig{Endpoints: []string{rc.srv.URL}, Registerer: reg})
	recs := waitStatus(t, db, evs, order.DeliveryDelivered)

	var ids []string
	for _, r := range rc.receipts() {
		if r.verified != nil {
			t.Errorf("receipt of %s does not verify: %v", r.id, r.verified)
		}
		if r.body != string(evs[0].Payload) && r.body != string(evs[1].Payload) {
			t.Errorf("body %q is not the event's payload", r.body)
		}
		ids = append(ids, r.id)
	}
	want := []string{first, first, first, first, evs[1].ID}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("receipts %v, want the first event 4 times and then the second", ids)
	}
	log := recs[0].Deliveries[0].Log
	if len(log) != 4 || log[0].StatusCode != 500 || log[0].Response != "not yet\n" || log[0].Error != "answered 500" ||
		log[3].StatusCode != 200 || log[3].Error != "" {
		t.Fatalf("attempts: %+v", log)
	}
	if got := d.AttemptsCounted("retry"); got != 3 {
		t.Errorf("retry attempts counted %v, want 3", got)
	}
	if n, err := testutil.GatherAndCount(reg, "mospay_webhook_pending_deliveries", "mospay_webhook_oldest_pending_age_seconds"); err != nil || n != 2 {
		t.Errorf("queue gauges: %d, %v", n, err)
	}
}

// TestDeliveryFailsAfterTheScheduleThenReplays: a receiver down for the whole schedule leaves
// the delivery failed; once it is back, a replay delivers the event with its original id.
func TestDeliveryFailsAfterTheScheduleThenReplays(t *testing.T) {
	db := openDB(t, "")
	var mu sync.Mutex
	down := true
	rc := newReceiver(t, func(w http.ResponseWriter, _ string, _ int) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	evs := seed(t, db, 3, []order.EventType{order.EventOrderPaid}, rc.srv.URL)
	d := start(t, db, webhook.DelivererConfig{Endpoints: []string{rc.srv.URL}})
	recs := waitStatus(t, db, evs, order.DeliveryFailed)
	for _, r := range recs {
		if dl := r.Deliveries[0]; dl.Attempts != len(fast)+1 || len(dl.Log) != len(fast)+1 || dl.NextAttemptAt != nil {
			t.Fatalf("failed delivery: %+v", dl)
		}
	}
	mu.Lock()
	down = false
	mu.Unlock()
	n, err := db.Redeliver(context.Background(), order.RedeliverRequest{Status: order.DeliveryFailed, Endpoints: []string{rc.srv.URL},
		Since: &evs[0].At, At: time.Now(), Audit: order.AdminAction{Actor: "ops", Action: order.ActionRedeliver, RequestID: "r", At: time.Now()}})
	if err != nil || n != 3 {
		t.Fatalf("replayed %d, %v", n, err)
	}
	d.Wake()
	waitStatus(t, db, evs, order.DeliveryDelivered)
	count := map[string]int{}
	for _, r := range rc.receipts() {
		count[r.id]++
	}
	for _, e := range evs {
		if count[e.ID] != len(fast)+2 {
			t.Errorf("event %s received %d times, want %d (every attempt, then the replay)", e.ID, count[e.ID], len(fast)+2)
		}
	}
}

// TestAnswersOtherThan2xxAreRetried: a redirect (not followed), a client or server error, an
// answer that is not HTTP, no answer, and a closed connection are all retried; a 2xx with a huge
// body is delivered, and an attempt keeps only the first KiB of any answer.
func TestAnswersOtherThan2xxAreRetried(t *testing.T) {
	huge := strings.Repeat("x", 10<<20)
	tests := []struct {
		name      string
		handler   http.HandlerFunc // nil: raw TCP, see raw
		raw       func(c net.Conn)
		wantCode  int
		wantError string
	}{
		{name: "redirect", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, wantCode: 302, wantError: "answered 302"},
		{name: "client error", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) },
			wantCode: 400, wantError: "answered 400"},
		{name: "server error with a huge body", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, huge)
		}, wantCode: 502, wantError: "answered 502"},
		{name: "not HTTP", raw: func(c net.Conn) { _, _ = c.Write([]byte("\x00\xffgarbage\r\n\r\n")) }, wantError: "malformed HTTP"},
		{name: "closed at once", raw: func(net.Conn) {}, wantError: "EOF"},
		{name: "no answer", raw: func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }, wantError: "no answer within the timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each has its own database and endpoint; most of the time is waiting
			db := openDB(t, "")
			url := ""
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				url = srv.URL
			} else {
				url = rawServer(t, tt.raw)
			}
			evs := seed(t, db, 1, []order.EventType{order.EventOrderPaid}, url)
			start(t, db, webhook.DelivererConfig{Endpoints: []string{url}, Retry: fast[:1], Timeout: 300 * time.Millisecond})
			recs := waitStatus(t, db, evs, order.DeliveryFailed)
			log := recs[0].Deliveries[0].Log
			if len(log) != 2 {
				t.Fatalf("%d attempts, want 2 (the first and one retry)", len(log))
			}
			for _, a := range log {
				if a.StatusCode != tt.wantCode || !strings.Contains(a.Error, tt.wantError) || len(a.Response) > webhook.ResponseLimit {
					t.Errorf("attempt: code %d, error %q, %d bytes kept; want %d, %q", a.StatusCode, a.Error, len(a.Response), tt.wantCode, tt.wantError)
				}
				if strings.Contains(a.Error, url) {
					t.Errorf("the error repeats the URL: %q", a.Error)
				}
			}
		})
	}
	t.Run("2xx with a huge body", func(t *testing.T) {
		t.Parallel()
		db := openDB(t, "")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, huge) }))
		t.Cleanup(srv.Close)
		evs := seed(t, db, 1, []order.EventType{order.EventOrderPaid}, srv.URL)
		start(t, db, webhook.DelivererConfig{Endpoints: []string{srv.URL}})
		recs := waitStatus(t, db, evs, order.DeliveryDelivered)
		if a := recs[0].Deliveries[0].Log[0]; a.StatusCode != 200 || len(a.Response) != webhook.ResponseLimit {
			t.Fatalf("attempt: %d, %d bytes kept", a.StatusCode, len(a.Response))
		}
	})
}

// rawServer accepts TCP connections, reads the request head, and hands the connection to f.
func rawServer(t *testing.T, f func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				f(c)
			}()
		}
	}()
	return "http://" + l.Addr().String() + "/hook"
}

// TestHangingReceiverDoesNotHoldUpAnother: while one endpoint holds every attempt open, another
// gets all its events.
func TestHangingReceiverDoesNotHoldUpAnother(t *testing.T) {
	db := openDB(t, "")
	release := make(chan struct{})
	hanging := newReceiver(t, func(w http.ResponseWriter, _ string, _ int) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	defer close(release)
	fine := newReceiver(t, ok)
	evs := seed(t, db, 20, []order.EventType{order.EventOrderPaid}, hanging.srv.URL, fine.srv.URL)
	start(t, db, webhook.DelivererConfig{Endpoints: []string{hanging.srv.URL, fine.srv.URL}, Timeout: time.Minute})
	if !apptest.Within(apptest.WaitFor, func() bool { return len(fine.receipts()) >= len(evs) }) {
		t.Fatalf("the other endpoint got %d of %d events while the first hung", len(fine.receipts()), len(evs))
	}
	if got := len(hanging.receipts()); got > webhook.DefaultConcurrency {
		t.Fatalf("the hanging endpoint has %d attempts open, more than its %d", got, webhook.DefaultConcurrency)
	}
}

// TestAttemptsKeepTheirConnections: events to one endpoint, in two bursts, go over at most one
// connection per sender, each kept for the next attempt and the next burst, not dialled again.
func TestAttemptsKeepTheirConnections(t *testing.T) {
	db := openDB(t, "")
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(5 * time.Millisecond) // so that the senders overlap
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	start(t, db, webhook.DelivererConfig{Endpoints: []string{srv.URL}})
	for range 2 {
		waitStatus(t, db, seed(t, db, 100, []order.EventType{order.EventOrderPaid}, srv.URL), order.DeliveryDelivered)
	}
	if n := conns.Load(); n > webhook.DefaultConcurrency {
		t.Fatalf("two bursts of 100 events took %d connections, more than the %d senders", n, webhook.DefaultConcurrency)
	}
}

// TestTwoInstancesNeverSendOneAttemptTwice: two deliverers on one PostgreSQL database deliver
// every event once, and never the same one at the same moment.
func TestTwoInstancesNeverSendOneAttemptTwice(t *testing.T) {
	url := pgtest.NewDB(t)
	db1 := openDB(t, url)
	db2, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	rc := newReceiver(t, func(w http.ResponseWriter, _ string, _ int) {
		time.Sleep(5 * time.Millisecond) // long enough for the other instance to try the same event
		w.WriteHeader(http.StatusOK)
	})
	evs := seed(t, db1, 100, []order.EventType{order.EventOrderPaid}, rc.srv.URL)
	start(t, db1, webhook.DelivererConfig{Endpoints: []string{rc.srv.URL}, Owner: "one"})
	start(t, db2, webhook.DelivererConfig{Endpoints: []string{rc.srv.URL}, Owner: "two"})
	waitStatus(t, db1, evs, order.DeliveryDelivered)
	count := map[string]int{}
	for _, r := range rc.receipts() {
		count[r.id]++
	}
	for _, e := range evs {
		if count[e.ID] != 1 {
			t.Errorf("event %s received %d times", e.ID, count[e.ID])
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.overlap) > 0 {
		t.Errorf("events received twice at once: %v", rc.overlap)
	}
}

// TestRemovedEndpointIsAbandonedAtStart: deliveries to an endpoint no longer configured stop.
func TestRemovedEndpointIsAbandonedAtStart(t *testing.T) {
	db := openDB(t, "")
	kept := newReceiver(t, ok)
	evs := seed(t, db, 2, []order.EventType{order.EventOrderPaid}, kept.srv.URL, "http://127.0.0.1:9/removed")
	start(t, db, webhook.DelivererConfig{Endpoints: []string{kept.srv.URL}})
	var statuses map[string]order.DeliveryStatus
	if !apptest.Within(apptest.WaitFor, func() bool {
		r, err := db.Event(context.Background(), evs[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		statuses = map[string]order.DeliveryStatus{}
		for _, d := range r.Deliveries {
			statuses[d.Endpoint] = d.Status
		}
		return statuses[kept.srv.URL] == order.DeliveryDelivered && statuses["http://127.0.0.1:9/removed"] == order.DeliveryAbandoned
	}) {
		t.Fatalf("statuses %v", statuses)
	}
}

func TestNewDelivererRefusesEndpointsWithoutSecret(t *testing.T) {
	db := openDB(t, "")
	if _, err := webhook.NewDeliverer(db, webhook.DelivererConfig{Endpoints: []string{"http://x"}, Owner: "o"}); err == nil {
		t.Fatal("a deliverer with endpoints and no secret was built")
	}
	if _, err := webhook.NewDeliverer(db, webhook.DelivererConfig{Endpoints: []string{"http://x"}, Secrets: testSecrets}); err == nil {
		t.Fatal("a deliverer without an owner was built")
	}
}
