// Package scheduler runs the reconciler: MOS's notifications may be lost, late or never sent,
// and an instance may crash between two steps, so every order that can still change is asked
// about with orderQuery on its own timetable until MOS's answer can no longer change.
//
// cron is only an alarm clock: the due work lives in rows (orders.next_check_at). Each pass
// claims due orders in batches under a short lease (PostgreSQL: FOR UPDATE SKIP LOCKED on the
// database's clock, so several instances never check the same order at the same moment), renews
// the leases of the orders it is still working on (a heartbeat, so that a slow orderQuery keeps
// its claim while a crashed instance's claims run out within one lease), checks them with bounded
// concurrency and a rate limit towards MOS, and lets the order service apply each answer through
// the state machine. One failing order never stops a pass. When due orders are held under another
// instance's lease, an extra pass runs as soon as the first of those leases ends.
//
// A check that got no answer from MOS is made again within seconds (order.Schedule.Retry), and an
// extra pass runs when it is due. When MOS stops answering altogether, the instance's one view of
// MOS's health (health.go) goes down, and the passes make one probe at a time, every Probe, instead
// of every order retrying on its own; at MOS's first answer they drain what is due, oldest first,
// at the configured rate.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mospay/mospay/lease"
	"github.com/mospay/mospay/order"
	"github.com/robfig/cron/v3"
	"golang.org/x/time/rate"
)

// Reconciler is the one service method a pass calls per claimed order (order.Service.Reconcile):
// it asks MOS, applies the answer, schedules the next check and releases the lease.
type Reconciler interface {
	Reconcile(ctx context.Context, o *order.Order) (*order.Order, error)
}

// Claimer hands out due orders under a lease (store.DB), so that no other instance checks them
// until the lease ends: ClaimDue claims, RenewLeases extends the claims still being worked on,
// NextLeaseEnd says when the first due order held by someone else becomes claimable,
// ReleaseLeases frees claims that were not checked (MOS stopped answering).
type Claimer interface {
	ClaimDue(ctx context.Context, now time.Time, limit int, owner string, until time.Time) ([]*order.Order, error)
	RenewLeases(ctx context.Context, owner string, ids []int64, now, until time.Time) (int64, error)
	NextLeaseEnd(ctx context.Context, now time.Time) (time.Time, bool, error)
	ReleaseLeases(ctx context.Context, owner string, ids []int64) error
}

// Defaults of Config; DefaultEvery is MOSPAY_RECONCILE_EVERY's default (docs/operations.md "Configuration").
const (
	DefaultEvery       = "@every 30s"
	DefaultBatch       = 100
	DefaultConcurrency = 8
	DefaultRate        = 50.0
	// DefaultLease is how long a claim holds without renewal: a crashed instance's claims are
	// free again at most this long after it died. The working instance renews its claims every
	// third of it.
	DefaultLease = 15 * time.Second
	// DefaultDownAfter is how many checks in a row must get no answer before MOS is taken to be
	// down (one lost answer in a busy pass is not an outage).
	DefaultDownAfter = 3
)

// Config tunes the reconciler. Zero values take the defaults above.
type Config struct {
	// Every is when passes start: a standard five-field cron spec or a descriptor such as
	// "@every 30s" or "@hourly" (robfig/cron v3's standard parser).
	Every string
	// Batch is how many orders one claim takes.
	Batch int
	// Concurrency bounds the orderQuery calls in flight.
	Concurrency int
	// Rate bounds orderQuery calls per second towards MOS; math.Inf(1) removes the bound.
	Rate float64
	// Lease is how long a claim holds without renewal: a crashed instance's claims expire after
	// it. Claims being worked on are renewed every Lease/3.
	Lease time.Duration
	// Probe is how often, while MOS is taken to be down, one check is made to see whether it
	// answers again; 0 takes order.DefaultSchedule's RetryMax, the bound of every retry delay.
	Probe time.Duration
	// DownAfter is how many checks in a row that got no answer take MOS to be down.
	DownAfter int
	// Owner names this instance in leases; required.
	Owner string
	// Clock is the time the claims are made at on SQLite (PostgreSQL uses its own clock).
	Clock order.Clock
	// Logger gets one line per failed order and per pass; nil discards.
	Logger *slog.Logger
}

// Summary is what one pass did, for the log and for `mospay reconcile`.
type Summary struct {
	Checked    int                  // orders handed to the reconciler
	Changed    map[order.Status]int // orders whose status differs after the check, by new status
	Errors     int                  // orders whose check failed (MOS unavailable, database errors, panics)
	Unanswered int                  // of the errors, checks MOS gave no answer to (made again within seconds)
	Deferred   int                  // orders claimed but left unchecked because MOS stopped answering
	Duration   time.Duration

	retryAt time.Time      // the earliest retry of a check that got no answer, if any
	retries map[int64]bool // orders whose check got no answer: checked again if due within the pass
}

// String is the summary in one line, e.g. "checked 12, changed: PAID 3, CLOSED 1, errors 0 in
// 1.2s"; statuses appear in lifecycle order.
func (s Summary) String() string {
	var changed []string
	for _, st := range statusOrder(s.Changed) {
		if n := s.Changed[st]; n != 0 {
			changed = append(changed, string(st)+" "+strconv.Itoa(n))
		}
	}
	list := "none"
	if len(changed) > 0 {
		list = strings.Join(changed, ", ")
	}
	line := fmt.Sprintf("checked %d, changed: %s, errors %d in %s", s.Checked, list, s.Errors, roundDuration(s.Duration))
	if s.Unanswered > 0 || s.Deferred > 0 {
		line += fmt.Sprintf("; no answer from MOS %d, deferred %d", s.Unanswered, s.Deferred)
	}
	return line
}

// statusOrder lists the statuses of m: the known ones in lifecycle order, then any other.
func statusOrder(m map[order.Status]int) []order.Status {
	out := make([]order.Status, 0, len(m))
	for _, st := range order.Statuses {
		if _, ok := m[st]; ok {
			out = append(out, st)
		}
	}
	var other []order.Status
	for st := range m {
		if !st.Valid() {
			other = append(other, st)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

// roundDuration keeps a duration readable: tenths of a second from one second up, milliseconds
// below.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Scheduler runs reconciliation passes, on its cron schedule after Start or one at a time with
// Pass. It is safe for concurrent use.
type Scheduler struct {
	claimer  Claimer
	rec      Reconciler
	cfg      Config
	log      *slog.Logger
	limiter  *rate.Limiter
	schedule cron.Schedule
	health   *health // this instance's view of MOS: shared by every pass

	running atomic.Bool // a scheduled pass is running: the next tick is skipped
	missed  atomic.Bool // a tick or extra pass was skipped while one ran: look again after it

	mu         sync.Mutex
	cron       *cron.Cron
	ctx        context.Context    // the scheduled passes' context (nil when stopped)
	cancel     context.CancelFunc // ends the scheduled passes' context
	followUp   *time.Timer        // an extra pass: a lease held elsewhere ends, a retry or a probe is due
	followUpAt time.Time          // when followUp fires
	extra      sync.WaitGroup     // extra passes running
}

// New checks cfg, fills in its defaults, and returns a stopped scheduler.
func New(c Claimer, r Reconciler, cfg Config) (*Scheduler, error) {
	if c == nil || r == nil {
		return nil, errors.New("scheduler: a claimer and a reconciler are required")
	}
	if cfg.Every == "" {
		cfg.Every = DefaultEvery
	}
	sched, err := cron.ParseStandard(cfg.Every)
	if err != nil {
		return nil, fmt.Errorf("scheduler: reconcile schedule %q: %w", cfg.Every, err)
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Probe == 0 {
		cfg.Probe = order.DefaultSchedule().RetryMax
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = DefaultDownAfter
	}
	switch {
	case cfg.Batch < 0:
		return nil, fmt.Errorf("scheduler: batch %d must be positive", cfg.Batch)
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("scheduler: concurrency %d must be positive", cfg.Concurrency)
	case !(cfg.Rate > 0):
		return nil, fmt.Errorf("scheduler: rate %v must be positive", cfg.Rate)
	case cfg.Lease < 0:
		return nil, fmt.Errorf("scheduler: lease %s must be positive", cfg.Lease)
	case cfg.Probe < 0 || cfg.DownAfter < 0:
		return nil, fmt.Errorf("scheduler: probe %s and down-after %d must be positive", cfg.Probe, cfg.DownAfter)
	}
	if cfg.Owner == "" {
		return nil, errors.New("scheduler: an owner name is required (it names this instance in leases)")
	}
	if cfg.Clock == nil {
		cfg.Clock = order.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	limit := rate.Limit(cfg.Rate)
	if math.IsInf(cfg.Rate, 1) {
		limit = rate.Inf
	}
	return &Scheduler{
		claimer: c, rec: r, cfg: cfg, log: cfg.Logger, schedule: sched,
		limiter: rate.NewLimiter(limit, 1),
		health:  &health{downAfter: cfg.DownAfter, probe: cfg.Probe},
	}, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Scheduler) Config() Config { return s.cfg }

// MOSDown reports whether this instance takes MOS to be down: its last DownAfter checks got no
// answer, and no answer has come since.
func (s *Scheduler) MOSDown() bool { return s.health.isDown() }

// Start begins running passes on the schedule; a tick that comes while the previous pass is
// still running is skipped. Calling Start on a started scheduler does nothing.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := cronLogger{s.log}
	c := cron.New(cron.WithLogger(logger), cron.WithLocation(time.UTC), cron.WithChain(cron.Recover(logger)))
	c.Schedule(s.schedule, cron.FuncJob(func() { s.scheduledPass(ctx) }))
	c.Start()
	s.cron, s.ctx, s.cancel = c, ctx, cancel
	s.log.Info("reconciler started", "every", s.cfg.Every, "owner", s.cfg.Owner, "batch", s.cfg.Batch,
		"concurrency", s.cfg.Concurrency, "rate", s.cfg.Rate, "lease", s.cfg.Lease.String())
}

// Stop stops the schedule and waits for a running pass to end. When ctx ends first, the running
// pass is cancelled (its unchecked claims expire with their lease) and ctx's error is returned.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	c, cancel := s.cron, s.cancel
	s.cron, s.ctx, s.cancel = nil, nil, nil
	if s.followUp != nil {
		if s.followUp.Stop() {
			s.extra.Done() // it will never run
		}
		s.followUp = nil
	}
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	defer cancel()
	done := make(chan struct{})
	go func() {
		<-c.Stop().Done()
		s.extra.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.log.Info("reconciler stopped")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler: stop: the running pass was cancelled: %w", ctx.Err())
	}
}

// scheduledPass is what cron runs: one pass unless the previous one is still running.
func (s *Scheduler) scheduledPass(ctx context.Context) {
	if !s.running.CompareAndSwap(false, true) {
		s.missed.Store(true)
		s.log.Warn("reconcile pass skipped: the previous pass is still running")
		return
	}
	defer s.running.Store(false)
	sum, err := s.Pass(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("reconcile pass failed", "summary", sum.String(), "err", err)
	case sum.Checked > 0 || err != nil:
		s.log.Info("reconcile pass", "summary", sum.String(), "checked", sum.Checked, "errors", sum.Errors)
	default:
		s.log.Debug("reconcile pass: nothing due")
	}
	s.planFollowUp(ctx, sum)
}

// planFollowUp arranges an extra pass, if it comes before the next tick, for the first of: the
// moment the first due order held under another instance's lease becomes claimable (a crashed
// instance's claims are checked as soon as its leases run out); the retry of a check of this
// pass that got no answer; and, while MOS is taken to be down, the next probe.
func (s *Scheduler) planFollowUp(ctx context.Context, sum Summary) {
	if ctx.Err() != nil {
		return
	}
	now := s.cfg.Clock.Now()
	var at time.Time
	want := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if end, ok, err := s.claimer.NextLeaseEnd(ctx, now); err == nil && ok {
		want(end.Add(time.Second)) // past the end, on a clock that may differ a little
	}
	if probe, down := s.health.probeAt(); down {
		want(probe)
	} else if !sum.retryAt.IsZero() {
		want(sum.retryAt)
	}
	if s.missed.Swap(false) {
		want(now) // an extra pass came while this one ran: what it was for may be due
	}
	if !at.IsZero() {
		s.planAt(ctx, max(at.Sub(now), 0))
	}
}

// WakeAt asks for an extra pass at at (on Config.Clock), unless the next tick or an extra pass
// already planned comes first. The order service calls it when it schedules a check within
// seconds outside a pass (a prepay whose answer was lost). It does nothing before Start.
func (s *Scheduler) WakeAt(at time.Time) {
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx != nil && ctx.Err() == nil {
		s.planAt(ctx, max(at.Sub(s.cfg.Clock.Now()), 0))
	}
}

// planAt plans an extra pass wait from now, unless the next tick or an extra pass already
// planned comes first (a later one is moved to wait).
func (s *Scheduler) planAt(ctx context.Context, wait time.Duration) {
	when := time.Now().Add(wait)
	if next := s.schedule.Next(time.Now()); when.After(next) {
		return // the next tick comes first
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron == nil {
		return // stopped
	}
	if s.followUp != nil {
		if !s.followUpAt.After(when) || !s.followUp.Stop() {
			return // an extra pass comes first, or is starting
		}
		s.extra.Done() // the later one will never run
	}
	s.extra.Add(1)
	s.followUpAt = when
	s.followUp = time.AfterFunc(wait, func() {
		defer s.extra.Done()
		s.mu.Lock()
		s.followUp = nil
		s.mu.Unlock()
		s.log.Debug("extra reconcile pass: a lease held elsewhere ended, a retry or a probe is due")
		s.scheduledPass(ctx)
	})
}

// Pass claims due orders in rounds of Batch until none is due (or ctx ends) and checks each one,
// Concurrency at a time and at most Rate per second. A failing order is counted, logged and left
// to its next scheduled check (within seconds, if MOS gave no answer); a claim error ends the pass
// with that error. An order claimed again within the same pass is checked again only if its check
// in this pass rescheduled it (a retry that fell due); otherwise its claim ends with the lease.
//
// While MOS is taken to be down, a pass claims one order and checks it as a probe, at most once
// every Probe; if MOS answers, the pass goes on as usual. When MOS stops answering during a pass,
// the orders claimed and not yet checked are released unchecked and the pass ends.
func (s *Scheduler) Pass(ctx context.Context) (Summary, error) {
	start := time.Now()
	sum := Summary{Changed: map[order.Status]int{}, retries: map[int64]bool{}}
	seen := map[int64]bool{}
	var err error
	for ctx.Err() == nil {
		now := s.cfg.Clock.Now()
		limit := s.cfg.Batch
		up, probe := s.health.admit(now)
		if !up && !probe {
			break // MOS is down and the next probe is not due yet
		}
		if probe {
			limit = 1
		}
		claimed, cerr := s.claimer.ClaimDue(ctx, now, limit, s.cfg.Owner, now.Add(s.cfg.Lease))
		if cerr != nil {
			err = fmt.Errorf("scheduler: claim due orders: %w", cerr)
			break
		}
		fresh := make([]*order.Order, 0, len(claimed))
		for _, o := range claimed {
			if !seen[o.ID] || sum.retries[o.ID] {
				seen[o.ID] = true
				delete(sum.retries, o.ID)
				fresh = append(fresh, o)
			}
		}
		if len(fresh) == 0 {
			break
		}
		s.round(ctx, fresh, &sum, probe)
		if s.health.isDown() {
			break // the next probe comes after Probe (planFollowUp)
		}
		if !probe && len(claimed) < limit {
			break // the claim took every due order
		}
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("scheduler: pass cut short: %w", ctx.Err())
	}
	sum.Duration = time.Since(start)
	return sum, err
}

// round checks a batch of claimed orders with a bounded pool of workers, renewing the claims
// not yet checked every third of a lease while it works (heartbeat). Once MOS is taken to be down,
// the orders not yet checked are left (their claims released), unless the batch is a probe.
func (s *Scheduler) round(ctx context.Context, batch []*order.Order, sum *Summary, probe bool) {
	var mu sync.Mutex
	open := make(map[int64]bool, len(batch)) // claimed and not yet checked: their leases are renewed
	for _, o := range batch {
		open[o.ID] = true
	}
	beat, stopBeat := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { s.heartbeat(beat, &mu, open) })

	jobs := make(chan *order.Order)
	var deferred []int64
	var wg sync.WaitGroup
	for range min(s.cfg.Concurrency, len(batch)) {
		wg.Go(func() {
			for o := range jobs {
				if !probe && s.health.isDown() {
					mu.Lock()
					delete(open, o.ID)
					deferred = append(deferred, o.ID)
					mu.Unlock()
					continue
				}
				if err := s.limiter.Wait(ctx); err != nil {
					continue // ctx ended: the claim expires with its lease
				}
				before := o.Status
				after, err := s.check(ctx, o)
				s.observe(ctx, err)
				mu.Lock()
				delete(open, o.ID)
				sum.Checked++
				if err != nil {
					sum.Errors++
				}
				if errors.Is(err, order.ErrNoAnswer) {
					sum.Unanswered++
					sum.retries[o.ID] = true
					if after != nil && after.NextCheckAt != nil && (sum.retryAt.IsZero() || after.NextCheckAt.Before(sum.retryAt)) {
						sum.retryAt = *after.NextCheckAt
					}
				}
				if after != nil && after.Status != before {
					sum.Changed[after.Status]++
				}
				mu.Unlock()
			}
		})
	}
	for _, o := range batch {
		jobs <- o
	}
	close(jobs)
	wg.Wait()
	stopBeat()
	hb.Wait()
	if len(deferred) > 0 {
		sum.Deferred += len(deferred)
		// Free at once, so that the first pass after MOS answers again can claim them.
		if err := s.claimer.ReleaseLeases(context.WithoutCancel(ctx), s.cfg.Owner, deferred); err != nil {
			s.log.WarnContext(ctx, "releasing unchecked claims", "orders", len(deferred), "err", err)
		}
	}
}

// observe feeds one check's outcome to the health signal: no error is an answer, an error in
// which MOS gave no answer is none, and any other failure (the database, a refusal) says nothing
// of whether MOS answers.
func (s *Scheduler) observe(ctx context.Context, err error) {
	answered := err == nil
	if !answered && !errors.Is(err, order.ErrNoAnswer) {
		return
	}
	wentDown, cameUp := s.health.observe(answered, s.cfg.Clock.Now())
	switch {
	case wentDown:
		s.log.WarnContext(ctx, "MOS is not answering: the reconciler holds its checks and probes MOS",
			"checks_without_answer", s.cfg.DownAfter, "probe_every", s.cfg.Probe.String())
	case cameUp:
		s.log.InfoContext(ctx, "MOS answers again: the reconciler drains the checks that are due")
	}
}

// heartbeat renews the leases of the claimed orders still open every Lease/3 until ctx ends; a
// renewal that fails is logged.
func (s *Scheduler) heartbeat(ctx context.Context, mu *sync.Mutex, open map[int64]bool) {
	lease.Heartbeat{Lease: s.cfg.Lease, Clock: s.cfg.Clock,
		Held: func() []int64 {
			mu.Lock()
			defer mu.Unlock()
			return slices.Collect(maps.Keys(open))
		},
		Renew: func(ctx context.Context, ids []int64, now, until time.Time) error {
			_, err := s.claimer.RenewLeases(ctx, s.cfg.Owner, ids, now, until)
			return err
		},
		Failed: func(ctx context.Context, ids int, err error) {
			s.log.WarnContext(ctx, "renewing leases", "orders", ids, "err", err)
		},
	}.Run(ctx)
}

// check reconciles one order; a panic is turned into an error so that one bad order cannot end
// the pass or the process.
func (s *Scheduler) check(ctx context.Context, o *order.Order) (after *order.Order, err error) {
	defer func() {
		if p := recover(); p != nil {
			after = nil
			err = fmt.Errorf("scheduler: reconcile panicked: %v", p)
			s.log.ErrorContext(ctx, "reconcile order panicked", "out_trade_no", o.OutTradeNo, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
		}
	}()
	after, err = s.rec.Reconcile(ctx, o)
	if err != nil {
		s.log.WarnContext(ctx, "reconcile order", "out_trade_no", o.OutTradeNo, "status", o.Status,
			"check_attempts", o.CheckAttempts, "check_failures", o.CheckFailures, "err", err)
	}
	return after, err
}

// cronLogger passes cron's own messages to slog: its routine ones at debug level.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	l.log.Debug("cron: "+msg, keysAndValues...)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("cron: "+msg, append(keysAndValues, "err", err)...)
}
