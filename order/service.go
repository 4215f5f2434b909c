package order

import (
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/mospay/mospay/money"
)

// DefaultOrderTTL is how long an unpaid order stays payable (MOSPAY_ORDER_TTL's default).
const DefaultOrderTTL = 30 * time.Minute

// DefaultMaxAmount is the largest order per currency, in minor units (MOSPAY_MAX_AMOUNT_USD's
// and MOSPAY_MAX_AMOUNT_KHR's defaults): USD 10,000.00 and KHR 40,000,000.
func DefaultMaxAmount() map[money.Currency]int64 {
	return map[money.Currency]int64{money.USD: 1_000_000, money.KHR: 40_000_000}
}

// Config is what the service needs of mospay's configuration.
type Config struct {
	AppKey    string
	NotifyURL string // where MOS posts notifications: the public URL + /mos/notify
	OrderTTL  time.Duration
	MaxAmount map[money.Currency]int64
	Sandbox   bool // orders are created against the MOS sandbox
	// ClientAmounts lets a mini-app choose an order's amount (MOSPAY_CLIENT_AMOUNTS); without it
	// prices come from the merchant API or the product list.
	ClientAmounts bool
	// PrepayLease bounds how long one request may be talking to MOS about an order before
	// another may try (MOS timeout plus a margin).
	PrepayLease time.Duration
	// Schedule is the reconciler's timetable. Its GiveUp is also how long after creation a
	// CREATED order that MOS has no record of is taken to have never reached MOS (FAILED).
	Schedule Schedule
	// Instance names this process in leases.
	Instance string

	// RenderEvent renders an order event's payload (package api's admin view of the order);
	// EventEndpoints are the receivers each event is delivered to (MOSPAY_WEBHOOK_URLS); Wake, if
	// set, is told when deliveries became due, so that the first attempt is made at once.
	RenderEvent    EventRenderer
	EventEndpoints []string
	Wake           func()
	// Recheck, if set, is told when a check was scheduled within seconds outside the reconciler
	// (a prepay whose answer was lost), so that the reconciler runs then, not at its next tick.
	Recheck func(at time.Time)
}

// Service runs orders through their life. Its methods are grouped by job, one file each:
// create.go (create and prepay, idempotency), notify.go (MOS's notifications), reconcile.go
// (asking MOS: a user's query, an admin's reconcile, the reconciler's checks). Every status
// change goes through Apply and is saved with Store.Save by apply, below.
type Service struct {
	store Store
	mos   Provider
	clock Clock
	log   *slog.Logger
	cfg   Config
	rnd   func() float64
	later *heldBack
	users userCache // the users tokens named within UserCacheTTL
}

// NewService wires the service's dependencies; all of them are required except log. Zero
// durations in cfg take mospay's defaults.
func NewService(st Store, p Provider, clock Clock, log *slog.Logger, cfg Config) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.PrepayLease <= 0 {
		cfg.PrepayLease = 15 * time.Second
	}
	if cfg.Schedule.First == 0 {
		cfg.Schedule = DefaultSchedule()
	}
	if cfg.Schedule.GiveUp <= 0 {
		cfg.Schedule.GiveUp = DefaultSchedule().GiveUp
	}
	if cfg.Schedule.RetryFirst <= 0 || cfg.Schedule.RetryMax <= 0 {
		cfg.Schedule.RetryFirst, cfg.Schedule.RetryMax = DefaultSchedule().RetryFirst, DefaultSchedule().RetryMax
	}
	later := &heldBack{}
	later.ctx, later.cancel = context.WithCancel(context.Background())
	return &Service{store: st, mos: p, clock: clock, log: log, cfg: cfg, rnd: mrand.Float64, later: later}
}

// Get returns the user's order; anyone else's is ENOTFOUND, so that order numbers reveal nothing.
func (s *Service) Get(ctx context.Context, userID, outTradeNo string) (*Order, error) {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	if o.UserID == "" || o.UserID != userID {
		return nil, Errorf(ENOTFOUND, "no such order")
	}
	return o, nil
}

// Order returns any order (finance and admin).
func (s *Service) Order(ctx context.Context, outTradeNo string) (*Order, error) {
	return s.store.Order(ctx, outTradeNo)
}

// List returns a page of orders matching f.
func (s *Service) List(ctx context.Context, f ListFilter) (Page, error) {
	return s.store.Orders(ctx, f)
}

// Story returns an order with everything that explains it.
func (s *Service) Story(ctx context.Context, outTradeNo string) (*Story, error) {
	return s.store.Story(ctx, outTradeNo)
}

// intent is one write to an order, built by one of the constructors below, each of which says
// what the write is: an observation for the state machine (observed, prepaid, checked,
// notified), a record with nothing to apply (unconfirmed, failedCheck, prepayUnknown), or a
// decision of finance's (resolveFlag, closeStuckOrder). apply takes nothing else.
type intent struct {
	obs          *Observation // given to the state machine; nil when there is nothing to apply
	origin       Observation  // who wrote it, for the transition row and the log (obs, or finance)
	resolve      *FlagResolve // finance resolving an active flag
	close        *closeStuck  // finance closing a stuck order
	mos          *Remote      // MOS's last answer, which resolve is judged against
	check        check        // a check of MOS's: counted and the next one scheduled
	releaseLease bool
	notification *NotificationRecord
	query        *QueryRecord
	audit        *AdminAction // the admin action that caused the write
}

// check is what became of a check of MOS that a write records.
type check int

const (
	notACheck       check = iota
	checkAnswered         // counted; the timetable says when next
	checkUnanswered       // no answer from MOS: made again after Schedule.Retry, not counted
	checkRefused          // MOS refused it: counted, and the timetable's last one is made again
)

// observed applies an observation: q is the orderQuery that made it and audit the admin action
// that asked for it, if any.
func observed(obs Observation, q *QueryRecord, audit *AdminAction) intent {
	return intent{obs: &obs, origin: obs, query: q, audit: audit}
}

// prepaid applies the outcome of the prepay call (or of the query that checked a refused retry)
// and lets go of the order's lease.
func prepaid(obs Observation, q *QueryRecord) intent {
	in := observed(obs, q, nil)
	in.releaseLease = true
	return in
}

// checked applies the answer to a reconciler's check: it is counted, the next one scheduled, and
// the lease let go.
func checked(obs Observation, q *QueryRecord, audit *AdminAction) intent {
	in := observed(obs, q, audit)
	in.check, in.releaseLease = checkAnswered, true
	return in
}

// notified applies the query that confirmed MOS's notification rec; the notification is recorded
// with the outcome.
func notified(obs Observation, rec NotificationRecord, q *QueryRecord) intent {
	in := observed(obs, q, nil)
	in.notification = &rec
	return in
}

// unconfirmed records a notification that could not be confirmed (and the failed query, if
// any); nothing is applied.
func unconfirmed(rec NotificationRecord, q *QueryRecord) intent {
	return intent{notification: &rec, query: q}
}

// failedCheck records an orderQuery that failed with code; nothing is applied. When it was a
// reconciler's check, the check is counted as an answer (ENOTFOUND), as a refusal, or as none
// (EUNAVAILABLE), and the lease is let go.
func failedCheck(q *QueryRecord, code string, reconciler bool, audit *AdminAction) intent {
	in := intent{query: q, audit: audit}
	if reconciler {
		in.releaseLease = true
		switch code {
		case EUNAVAILABLE:
			in.check = checkUnanswered
		case ENOTFOUND:
			in.check = checkAnswered
		default:
			in.check = checkRefused
		}
	}
	return in
}

// prepayUnknown records a prepay whose outcome is unknown: nothing is applied, the lease is let
// go, and the order is asked about after Schedule.Retry, as after a check that got no answer.
func prepayUnknown(q *QueryRecord) intent {
	return intent{query: q, check: checkUnanswered, releaseLease: true}
}

// resolveFlag is finance resolving an active flag, judged against MOS's last answer mos; origin
// is the admin's request, for the transition row.
func resolveFlag(r FlagResolve, mos *Remote, origin Observation, audit *AdminAction) intent {
	return intent{resolve: &r, mos: mos, origin: origin, audit: audit}
}

// closeStuckOrder is finance closing a stuck order; origin is the admin's request, for the
// transition row.
func closeStuckOrder(c closeStuck, origin Observation, audit *AdminAction) intent {
	return intent{close: &c, origin: origin, audit: audit}
}

// maxApplyAttempts bounds the re-read-and-re-apply loop on version conflicts. Each retry means
// another writer changed the order in between; a handful is plenty.
const maxApplyAttempts = 10

// apply runs the state machine on the freshest order and saves the result, retrying on a stale
// version: zero rows updated means someone else moved first, so re-read and re-decide.
func (s *Service) apply(ctx context.Context, o *Order, opt intent) (*Order, Change, error) {
	e := opt.origin
	for attempt := 1; ; attempt++ {
		var ch Change
		if opt.obs != nil {
			var err error
			if ch, err = Apply(o.Snapshot(), *opt.obs); err != nil {
				return o, ch, err
			}
		}
		// Finance's decisions are judged on the freshest order, as the state machine's observations are.
		if r := opt.resolve; r != nil {
			var err error
			if ch, err = Resolve(o.Snapshot(), *r, opt.mos); err != nil {
				return o, ch, err
			}
		}
		if c := opt.close; c != nil {
			var err error
			if ch, err = CloseStuck(o.Snapshot(), o.ExpireAt, s.clock.Now(), c.mos, c.note, c.admin); err != nil {
				return o, ch, err
			}
		}
		now := s.clock.Now()
		w := Write{Order: o, Change: ch, Observation: e, Query: opt.query, ReleaseLease: opt.releaseLease, Audit: opt.audit, At: now}
		if opt.notification != nil {
			rec := *opt.notification
			if opt.obs != nil {
				rec.Outcome = notificationOutcome(ch)
			}
			w.Notification = &rec
		}
		if ch.Moves() || opt.check != notACheck {
			s.reschedule(&w, opt, now)
		}
		if w.Empty() {
			return o, ch, nil
		}
		events, err := s.events(w)
		if err != nil {
			return nil, ch, err
		}
		w.Events = events
		saved, err := s.store.Save(ctx, w)
		if ErrorCode(err) == ECONFLICT && attempt < maxApplyAttempts {
			if o, err = s.store.Order(ctx, o.OutTradeNo); err != nil {
				return nil, ch, err
			}
			continue
		}
		if err != nil {
			return nil, ch, err
		}
		if ch.Moves() {
			s.log.InfoContext(ctx, "order transition", "out_trade_no", o.OutTradeNo, "from", ch.From, "to", ch.To,
				"source", e.Source, "reason", ch.Reason, "request_id", e.RequestID)
		}
		for _, f := range ch.Raise {
			s.log.WarnContext(ctx, "order flagged", "out_trade_no", o.OutTradeNo, "flag", f.Flag, "note", f.Note)
		}
		if len(events) > 0 && len(s.cfg.EventEndpoints) > 0 {
			s.wake()
		}
		return saved, ch, nil
	}
}

// reschedule sets the write's next check. A check that got no answer is made again after the
// retry delay, whatever the timetable says, and is not counted as one of the timetable's checks;
// anything else (an answer, a refusal, a status change) counts, clears the failures, and the
// timetable, reading the order as the write leaves it (its new status, paidAt), says when next.
func (s *Service) reschedule(w *Write, opt intent, now time.Time) {
	attempts, failures := w.Order.CheckAttempts, 0
	var next time.Time
	ok := true
	switch {
	case opt.check == checkUnanswered:
		failures = w.Order.CheckFailures + 1
		next = now.Add(s.cfg.Schedule.Retry(failures, s.rnd))
	default:
		if opt.check != notACheck {
			attempts++
		}
		after := w.After()
		next, ok = s.cfg.Schedule.Next(after, attempts, now, s.rnd)
		if !ok && opt.check == checkRefused && !after.Status.Final() {
			// MOS refused the timetable's last check: it is not done until MOS answers it (a
			// refund or a late payment could be behind it).
			next, ok = now.Add(s.cfg.Schedule.AfterFailure()), true
		}
	}
	w.Reschedule, w.CheckAttempts, w.CheckFailures = true, attempts, failures
	if ok {
		w.NextCheckAt = &next
	}
}
