package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mospay/mospay/lease"
	"github.com/mospay/mospay/order"
	"github.com/prometheus/client_golang/prometheus"
)

// Outbox is the store's side of delivering order events (store.DB). Deliveries are rows: an
// event's delivery to each endpoint is written with the event, in the transaction of the order
// change that causes it, so that a delivery can be late but never lost; it is claimed under a
// short lease (PostgreSQL: FOR UPDATE SKIP LOCKED), so that two instances never send the same
// attempt at once, and an order's events reach an endpoint in the order they were made.
type Outbox interface {
	ClaimDeliveries(ctx context.Context, endpoint string, now time.Time, limit int, owner string, until time.Time) ([]order.Delivery, error)
	RenewDeliveryLeases(ctx context.Context, owner string, ids []int64, now, until time.Time) error
	RecordAttempts(ctx context.Context, rs []order.DeliveryResult) error
	AbandonRemovedEndpoints(ctx context.Context, configured []string, at time.Time) (int64, error)
	PruneAttempts(ctx context.Context, before time.Time) (int64, error)
	QueueStats(ctx context.Context) (pending int64, oldest time.Time, err error)
}

// DefaultRetry is the Standard Webhooks retry schedule: the delays after each failed attempt
// (immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27
// hours). Each delay gets up to a tenth more at random, so that a receiver coming back is not
// met by every retry at once.
var DefaultRetry = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Defaults of DelivererConfig.
const (
	DefaultTimeout     = 10 * time.Second // an attempt without a 2xx within it failed
	DefaultConcurrency = 8                // attempts in flight per endpoint
	DefaultPoll        = time.Second      // how often each endpoint looks for due retries
	DefaultLease       = 15 * time.Second // a crashed instance's attempts are retried after it
	DefaultRetention   = 720 * time.Hour  // attempts of delivered events are kept this long
	// ResponseLimit is how much of an answer an attempt keeps (and reads).
	ResponseLimit = 1024
)

// DelivererConfig tunes a Deliverer. Zero values take the defaults above.
type DelivererConfig struct {
	Endpoints   []string // the receivers, MOSPAY_WEBHOOK_URLS
	Secrets     []Secret // every one signs each attempt; at least one is required with endpoints
	Owner       string   // names this instance in leases; required
	Retry       []time.Duration
	Timeout     time.Duration
	Concurrency int
	Poll        time.Duration
	Lease       time.Duration
	Retention   time.Duration
	UserAgent   string
	Clock       order.Clock
	Logger      *slog.Logger
	// Registerer, if set, gets the delivery metrics.
	Registerer prometheus.Registerer
}

// Deliverer sends order events to the merchant's endpoints: one worker per endpoint (so that a
// slow or hanging receiver delays only its own deliveries), each with a bounded number of
// attempts in flight. Wake tells the workers that an event was just made, so that the first
// attempt goes out at once rather than at the next poll.
type Deliverer struct {
	out    Outbox
	cfg    DelivererConfig
	client *http.Client
	log    *slog.Logger
	wakes  []chan struct{}

	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	pending  prometheus.Gauge
	oldest   prometheus.Gauge

	mu           sync.Mutex
	cancel       context.CancelFunc // ends the workers' loops
	abort        context.CancelFunc // ends attempts in flight (Stop's deadline passed)
	wg           sync.WaitGroup     // the workers and the housekeeping
	results      chan recorded      // attempts' results, to the recorder
	recorderDone chan struct{}
}

// NewDeliverer checks cfg and fills in its defaults.
func NewDeliverer(out Outbox, cfg DelivererConfig) (*Deliverer, error) {
	if out == nil {
		return nil, errors.New("webhook: an outbox is required")
	}
	if len(cfg.Endpoints) > 0 && len(cfg.Secrets) == 0 {
		return nil, errors.New("webhook: order events need a signing secret")
	}
	if cfg.Owner == "" {
		return nil, errors.New("webhook: an owner name is required (it names this instance in leases)")
	}
	if cfg.Retry == nil {
		cfg.Retry = DefaultRetry
	}
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.Poll, DefaultPoll)
	setDefault(&cfg.Lease, DefaultLease)
	setDefault(&cfg.Retention, DefaultRetention)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "mospay"
	}
	if cfg.Clock == nil {
		cfg.Clock = order.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Every attempt in flight keeps its connection for the next: Go's default transport keeps
	// two idle connections per host, so six of each endpoint's eight senders dialled a new
	// connection for every event (and left one in TIME_WAIT), on both sides.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = cfg.Concurrency * max(1, len(cfg.Endpoints))
	t.MaxIdleConns = t.MaxIdleConnsPerHost
	d := &Deliverer{out: out, cfg: cfg, log: cfg.Logger,
		client: &http.Client{
			Transport: t,
			Timeout:   cfg.Timeout,
			// A redirect is an answer that is not 2xx: the endpoint is misconfigured, and following
			// it would send the signed event somewhere no one configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mospay_webhook_attempts_total",
			Help: "Order event delivery attempts, by outcome: delivered, retry (a later attempt is scheduled) or failed (the schedule is exhausted).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mospay_webhook_attempt_duration_seconds",
			Help:    "Time from sending an order event to its answer (or the timeout).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mospay_webhook_pending_deliveries",
			Help: "Order event deliveries waiting for an attempt or a retry.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mospay_webhook_oldest_pending_age_seconds",
			Help: "Age of the oldest order event still pending for some endpoint (0 when none is).",
		}),
	}
	for range cfg.Endpoints {
		d.wakes = append(d.wakes, make(chan struct{}, 1))
	}
	if cfg.Registerer != nil {
		if err := registerAll(cfg.Registerer, d.attempts, d.latency, d.pending, d.oldest); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func registerAll(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return nil
}

// Wake tells every endpoint's worker to look for due deliveries now. It never blocks.
func (d *Deliverer) Wake() {
	for _, w := range d.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Start marks abandoned the pending deliveries to endpoints no longer configured, then runs a
// worker per endpoint, the recorder of attempts, the queue gauges and the hourly pruning of old
// attempts until Stop.
func (d *Deliverer) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return errors.New("webhook: deliverer already started")
	}
	n, err := d.out.AbandonRemovedEndpoints(ctx, d.cfg.Endpoints, d.cfg.Clock.Now())
	if err != nil {
		return fmt.Errorf("webhook: abandoning deliveries to removed endpoints: %w", err)
	}
	if n > 0 {
		d.log.WarnContext(ctx, "order event deliveries abandoned: their endpoint is no longer configured", "deliveries", n)
	}
	loops, cancel := context.WithCancel(context.WithoutCancel(ctx))
	attempts, abort := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel, d.abort = cancel, abort
	d.results = make(chan recorded, 4*d.cfg.Concurrency*max(1, len(d.cfg.Endpoints)))
	d.recorderDone = make(chan struct{})
	go d.recorder(context.WithoutCancel(ctx))
	for i, ep := range d.cfg.Endpoints {
		d.wg.Go(func() { d.run(loops, attempts, ep, d.wakes[i]) })
	}
	d.wg.Go(func() { d.housekeep(loops) })
	return nil
}

// Stop ends the workers and waits for the attempts in flight to finish and be recorded until ctx
// ends; then it abandons them unrecorded (their leases run out, or on SQLite are cleared at the
// next start, and they are attempted again: a receiver dedupes on webhook-id). Deliveries claimed
// but not yet sent are left the same way.
func (d *Deliverer) Stop(ctx context.Context) {
	d.mu.Lock()
	cancel, abort := d.cancel, d.abort
	d.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		abort()
		<-done
	}
	abort()
	close(d.results)
	<-d.recorderDone
}

// run is one endpoint's worker. It claims due deliveries in batches while fewer than a batch are
// held (claimed and not yet recorded), and hands them to Concurrency senders; its heartbeat renews
// the leases of those it holds every third of a lease, and it claims again when woken, when an attempt
// is recorded (the next event of that order may now be due) and at every poll.
func (d *Deliverer) run(loops, attempts context.Context, endpoint string, wake <-chan struct{}) {
	// A batch of 16 per sender: with 4 the senders waited for a claim and a record to commit
	// between every few attempts, and under full load on SQLite the endpoints got 2,000 events a
	// second while 2,600 were made (the last came 2 s after the load); with 16, 2,700 a second,
	// the last 0.1 s after it (make bench, the order-event row).
	batch := 16 * d.cfg.Concurrency
	queue := make(chan order.Delivery, batch)
	var (
		mu   sync.Mutex
		held = map[int64]bool{}
	)
	ended := make(chan struct{}, 1)
	release := func(id int64) {
		mu.Lock()
		delete(held, id)
		mu.Unlock()
		select {
		case ended <- struct{}{}:
		default:
		}
	}
	var senders sync.WaitGroup
	for range d.cfg.Concurrency {
		senders.Go(func() {
			for del := range queue {
				if loops.Err() != nil {
					continue // stopping: left to its lease
				}
				d.attempt(attempts, del, func() { release(del.ID) })
			}
		})
	}
	defer senders.Wait()
	defer close(queue)
	var beat sync.WaitGroup
	defer beat.Wait()
	hb := lease.Heartbeat{Lease: d.cfg.Lease, Clock: d.cfg.Clock,
		Held: func() []int64 {
			mu.Lock()
			defer mu.Unlock()
			return slices.Collect(maps.Keys(held))
		},
		Renew: func(ctx context.Context, ids []int64, now, until time.Time) error {
			return d.out.RenewDeliveryLeases(ctx, d.cfg.Owner, ids, now, until)
		},
		Failed: func(ctx context.Context, _ int, err error) {
			d.log.ErrorContext(ctx, "renewing order event delivery leases failed", "err", err)
		},
	}
	beat.Go(func() { hb.Run(loops) })
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	for {
		mu.Lock()
		free := batch - len(held)
		mu.Unlock()
		if free >= batch/2 {
			now := d.cfg.Clock.Now()
			ds, err := d.out.ClaimDeliveries(loops, endpoint, now, free, d.cfg.Owner, now.Add(d.cfg.Lease))
			if err != nil && loops.Err() == nil {
				d.log.ErrorContext(loops, "claiming order event deliveries failed", "endpoint", redact(endpoint), "err", err)
			}
			mu.Lock()
			for _, del := range ds {
				held[del.ID] = true
			}
			mu.Unlock()
			for _, del := range ds {
				queue <- del // never blocks: the queue holds a batch, and no more are held
			}
		}
		select {
		case <-loops.Done():
			return
		case <-wake:
			gather(loops)
		case <-ended:
			gather(loops)
		case <-poll.C:
		}
	}
}

// claimGather is how long a worker woken by a new event or a recorded attempt waits before it
// claims, so that the events made meanwhile come in the same claim: under load a claim per
// event was a tenth of mospay's CPU (make bench, notifications with endpoints).
const claimGather = 5 * time.Millisecond

// gather waits claimGather, or until ctx ends.
func gather(ctx context.Context) {
	t := time.NewTimer(claimGather)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// recorded is an attempt's result on its way to the database, and what to do once it is there.
type recorded struct {
	res  order.DeliveryResult
	done func()
}

// recorder writes attempts' results in batches: whatever has arrived while the last batch was
// being written goes in one transaction, so that under load the outbox costs a few commits a
// second rather than one per attempt.
func (d *Deliverer) recorder(ctx context.Context) {
	defer close(d.recorderDone)
	const most = 256
	for first := range d.results {
		batch := []recorded{first}
	more:
		for len(batch) < most {
			select {
			case r, ok := <-d.results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		results := make([]order.DeliveryResult, len(batch))
		for i, r := range batch {
			results[i] = r.res
		}
		err := d.out.RecordAttempts(ctx, results)
		if err != nil {
			// Their leases run out and they are attempted again.
			d.log.ErrorContext(ctx, "recording order event delivery attempts failed", "attempts", len(batch), "err", err)
		}
		for _, r := range batch {
			if err == nil {
				d.logResult(ctx, r.res)
			}
			r.done()
		}
	}
}

// attempt sends one delivery and hands what came of it to the recorder, which calls done once it
// is stored. An attempt cut short by Stop is not recorded: it will be made again.
func (d *Deliverer) attempt(ctx context.Context, del order.Delivery, done func()) {
	start := d.cfg.Clock.Now()
	a := order.Attempt{At: start}
	status, body, err := d.send(ctx, del, start)
	a.LatencyMS = d.cfg.Clock.Now().Sub(start).Milliseconds()
	d.latency.Observe(float64(a.LatencyMS) / 1000)
	if ctx.Err() != nil {
		done()
		return
	}
	a.StatusCode, a.Response = status, body
	switch {
	case err != nil:
		a.Error = err.Error()
	case status < 200 || status > 299:
		a.Error = "answered " + strconv.Itoa(status)
	}
	res := order.DeliveryResult{Delivery: del, Attempt: a, Owner: d.cfg.Owner, Status: order.DeliveryDelivered}
	if a.Error != "" {
		res.Status, res.Next = afterFailure(d.cfg.Retry, del.Attempts, d.cfg.Clock.Now(), rand.Int64N)
	}
	d.attempts.WithLabelValues(attemptOutcomes[res.Status]).Inc()
	d.results <- recorded{res: res, done: done}
}

// afterFailure decides what a failed attempt leaves its delivery, attempts being the attempts
// made before it: pending again after retry[attempts] and up to a tenth more at random (rnd(n)
// returns a number in [0, n), as rand.Int64N), counted from now; or failed once the schedule is
// exhausted.
func afterFailure(retry []time.Duration, attempts int, now time.Time, rnd func(n int64) int64) (order.DeliveryStatus, *time.Time) {
	if attempts >= len(retry) {
		return order.DeliveryFailed, nil
	}
	delay := retry[attempts]
	next := now.Add(delay + time.Duration(rnd(int64(delay/10)+1)))
	return order.DeliveryPending, &next
}

// attemptOutcomes label mospay_webhook_attempts_total by what an attempt left its delivery.
var attemptOutcomes = map[order.DeliveryStatus]string{order.DeliveryDelivered: "delivered",
	order.DeliveryPending: "retry", order.DeliveryFailed: "failed"}

// logResult logs a failed attempt (a warning) or a failed delivery (an error).
func (d *Deliverer) logResult(ctx context.Context, res order.DeliveryResult) {
	del, a := res.Delivery, res.Attempt
	switch res.Status {
	case order.DeliveryFailed:
		d.log.ErrorContext(ctx, "order event delivery failed: every attempt of the schedule failed; replay it from /admin/events",
			"event", del.EventID, "endpoint", redact(del.Endpoint), "attempts", del.Attempts+1, "last_error", a.Error)
	case order.DeliveryPending:
		d.log.WarnContext(ctx, "order event delivery attempt failed; retrying", "event", del.EventID,
			"endpoint", redact(del.Endpoint), "attempt", del.Attempts+1, "next", res.Next.UTC().Format(time.RFC3339), "error", a.Error)
	}
}

// send POSTs the event's payload, signed, and returns the answer's status and its first
// ResponseLimit bytes (as text that any database takes).
func (d *Deliverer) send(ctx context.Context, del order.Delivery, at time.Time) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.Endpoint, bytes.NewReader(del.Payload))
	if err != nil {
		return 0, "", errors.New("bad endpoint URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set(HeaderID, del.EventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(d.cfg.Secrets, del.EventID, at, del.Payload))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, "", attemptError(err)
	}
	defer func() { _ = resp.Body.Close() }()
	// The status decides; a body cut short (or never finished) keeps what came.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseLimit))
	return resp.StatusCode, printable(b), nil
}

// attemptError says why an attempt got no answer, without the URL (which may hold a token).
func attemptError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("no answer within the timeout")
		}
		err = ue.Err
	}
	return errors.New(truncate(err.Error(), 200))
}

// printable is an answer as text a database column takes: valid UTF-8 without NUL bytes.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// redact is an endpoint URL for the log: scheme, host and path, without the query (which may hold
// a token).
func redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// housekeep keeps the queue gauges current and prunes old attempts every hour.
func (d *Deliverer) housekeep(ctx context.Context) {
	stats := time.NewTicker(5 * time.Second)
	defer stats.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	d.updateGauges(ctx)
	d.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			d.updateGauges(ctx)
		case <-prune.C:
			d.prune(ctx)
		}
	}
}

func (d *Deliverer) updateGauges(ctx context.Context) {
	n, oldest, err := d.out.QueueStats(ctx)
	if err != nil {
		return
	}
	d.pending.Set(float64(n))
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, d.cfg.Clock.Now().Sub(oldest).Seconds())
	}
	d.oldest.Set(age)
}

func (d *Deliverer) prune(ctx context.Context) {
	n, err := d.out.PruneAttempts(ctx, d.cfg.Clock.Now().Add(-d.cfg.Retention))
	if err != nil && ctx.Err() == nil {
		d.log.ErrorContext(ctx, "pruning old order event delivery attempts failed", "err", err)
	}
	if n > 0 {
		d.log.InfoContext(ctx, "pruned old order event delivery attempts", "attempts", n)
	}
}
