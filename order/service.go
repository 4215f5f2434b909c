package order

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mospay/mospay/money"
)

// Config is what the service needs of mospay's configuration.
type Config struct {
	AppKey    string
	NotifyURL string // MOSPAY_PUBLIC_URL + /mos/notify
	OrderTTL  time.Duration
	MaxAmount map[money.Currency]int64
	Sandbox   bool // orders are created against the MOS sandbox
	// PrepayLease bounds how long one request may be talking to MOS about an order before
	// another may try (MOS timeout plus a margin).
	PrepayLease time.Duration
	// UnknownAfter: a CREATED order that MOS still has no record of this long after creation
	// never reached MOS; it is FAILED.
	UnknownAfter time.Duration
	Schedule     Schedule
	// Instance names this process in leases.
	Instance string
}

// Service runs orders through their life: create and prepay, MOS's notifications, queries and
// reconciliation. Every status change goes through Apply and is saved with Store.Save.
type Service struct {
	store Store
	mos   Provider
	clock Clock
	log   *slog.Logger
	cfg   Config
	rnd   func() float64
}

// NewService wires the service's dependencies; all of them are required except log.
func NewService(st Store, p Provider, clock Clock, log *slog.Logger, cfg Config) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.PrepayLease <= 0 {
		cfg.PrepayLease = 15 * time.Second
	}
	if cfg.UnknownAfter <= 0 {
		cfg.UnknownAfter = 2 * time.Minute
	}
	if cfg.Schedule.First == 0 {
		cfg.Schedule = DefaultSchedule()
	}
	if cfg.Instance == "" {
		cfg.Instance = "mospay-" + uuid.NewString()[:8]
	}
	return &Service{store: st, mos: p, clock: clock, log: log, cfg: cfg, rnd: mrand.Float64}
}

// CreateRequest is a mini-app user's request to pay.
type CreateRequest struct {
	OpenID         string
	TotalAmount    string
	Currency       string
	Desc           string
	IdempotencyKey string
	RequestID      string
}

var idempotencyKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.:\-]{1,64}$`)

// maxDescRunes bounds the description sent to MOS (MOS documents no limit; WeChat Pay's is 128).
const maxDescRunes = 128

// parseCreate validates a create request before anything is stored or sent to MOS. A malformed
// field is EINVALID (400); a well-formed amount that cannot be taken is EUNPROCESSABLE (422).
func (s *Service) parseCreate(r CreateRequest) (money.Amount, string, error) {
	cur, err := money.ParseCurrency(r.Currency)
	if err != nil {
		return money.Amount{}, "", Wrap(EINVALID, err, "currency: %s", err.Error())
	}
	minor, err := money.Parse(r.TotalAmount, cur, s.cfg.MaxAmount[cur])
	switch {
	case errors.Is(err, money.ErrSyntax):
		return money.Amount{}, "", Wrap(EINVALID, err, "totalAmount: %s", err.Error())
	case err != nil:
		return money.Amount{}, "", Wrap(EUNPROCESSABLE, err, "totalAmount: %s", err.Error())
	}
	desc := r.Desc
	if !utf8.ValidString(desc) || utf8.RuneCountInString(desc) > maxDescRunes {
		return money.Amount{}, "", Errorf(EINVALID, "desc: at most %d characters of valid UTF-8", maxDescRunes)
	}
	for _, c := range desc {
		if unicode.IsControl(c) {
			return money.Amount{}, "", Errorf(EINVALID, "desc: control characters are not allowed")
		}
	}
	if strings.TrimSpace(desc) != desc {
		return money.Amount{}, "", Errorf(EINVALID, "desc: no leading or trailing white space (MOS trims it before signing)")
	}
	if r.IdempotencyKey != "" && !idempotencyKeyRe.MatchString(r.IdempotencyKey) {
		return money.Amount{}, "", Errorf(EINVALID, "Idempotency-Key: 1 to 64 characters of A-Z a-z 0-9 _ . : -")
	}
	return money.Amount{Minor: minor, Currency: cur}, desc, nil
}

func requestHash(a money.Amount, desc string) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s", a.Currency, a.Minor, desc)))
	return hex.EncodeToString(h[:])
}

// NewOutTradeNo makes an order number: a UUIDv7 in 32 hex digits, so it sorts by creation time,
// fits MOS's 32-character limit, and cannot be guessed (74 random bits).
func NewOutTradeNo() string {
	return strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// NewNonce makes a 32-character random nonceStr.
func NewNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Create stores a new order, asks MOS for its prepayId, and returns the order; created is false
// when an earlier request with the same Idempotency-Key already made it. On a MOS timeout the
// order stays CREATED and the error is EUNAVAILABLE (a retry with the same key resumes it); on a
// refusal the order is FAILED and the error EUNPROCESSABLE carries MOS's message.
func (s *Service) Create(ctx context.Context, r CreateRequest) (o *Order, created bool, err error) {
	amount, desc, err := s.parseCreate(r)
	if err != nil {
		return nil, false, err
	}
	hash := requestHash(amount, desc)
	if r.IdempotencyKey != "" {
		prev, err := s.store.OrderByIdempotencyKey(ctx, r.OpenID, r.IdempotencyKey)
		if err == nil {
			o, err := s.resume(ctx, prev, hash, r.RequestID)
			return o, false, err
		}
		if ErrorCode(err) != ENOTFOUND {
			return nil, false, err
		}
	}
	now := s.clock.Now()
	leaseUntil := now.Add(s.cfg.PrepayLease)
	o = &Order{
		OutTradeNo: NewOutTradeNo(), NonceStr: NewNonce(), AppKey: s.cfg.AppKey, OpenID: r.OpenID,
		Amount: amount, Desc: desc, Status: StatusCreated, Version: 1, Sandbox: s.cfg.Sandbox,
		IdempotencyKey: r.IdempotencyKey, RequestHash: hash,
		ExpireAt: now.Add(s.cfg.OrderTTL), CreatedAt: now, UpdatedAt: now,
		LeaseOwner: s.cfg.Instance, LeaseUntil: &leaseUntil,
	}
	if next, ok := s.cfg.Schedule.Next(o, 0, now, s.rnd); ok {
		o.NextCheckAt = &next
	}
	err = s.store.CreateOrder(ctx, o, Transition{To: StatusCreated, Source: SourceAPI,
		Reason: "order created", RequestID: r.RequestID, Version: 1, At: now})
	if ErrorCode(err) == ECONFLICT && r.IdempotencyKey != "" {
		// Another request with the same key won the insert: answer as it does.
		prev, err := s.store.OrderByIdempotencyKey(ctx, r.OpenID, r.IdempotencyKey)
		if err != nil {
			return nil, false, err
		}
		o, err := s.resume(ctx, prev, hash, r.RequestID)
		return o, false, err
	}
	if err != nil {
		return nil, false, err
	}
	o, err = s.prepay(ctx, o, r.RequestID)
	return o, true, err
}

// resume answers a repeated idempotent create: the same order, with its prepay retried if an
// earlier attempt left it CREATED. Another body under the same key is a conflict.
func (s *Service) resume(ctx context.Context, o *Order, hash, requestID string) (*Order, error) {
	if o.RequestHash != hash {
		return nil, Errorf(ECONFLICT, "this Idempotency-Key was used for a different order request")
	}
	for o.Status == StatusCreated {
		now := s.clock.Now()
		if o.LeaseUntil != nil && o.LeaseUntil.After(now) {
			// Another request is talking to MOS about this order: wait for its answer rather than
			// calling prepay twice.
			wait := min(o.LeaseUntil.Sub(now), 50*time.Millisecond)
			select {
			case <-ctx.Done():
				return nil, Wrap(EUNAVAILABLE, ctx.Err(), "the earlier request for this order is still waiting for MOS")
			case <-time.After(wait):
			}
			var err error
			if o, err = s.store.Order(ctx, o.OutTradeNo); err != nil {
				return nil, err
			}
			continue
		}
		until := now.Add(s.cfg.PrepayLease)
		ok, err := s.store.AcquireLease(ctx, o.ID, s.cfg.Instance, until)
		if err != nil {
			return nil, err
		}
		if !ok {
			if o, err = s.store.Order(ctx, o.OutTradeNo); err != nil {
				return nil, err
			}
			continue
		}
		o.LeaseOwner, o.LeaseUntil = s.cfg.Instance, &until
		return s.prepay(ctx, o, requestID)
	}
	return o, nil
}

// prepay calls MOS for an order we hold the lease of, outside any database transaction, and
// records the outcome. Once started it runs to its end even if the client goes away: a prepay
// MOS accepted must be recorded (the MOS client bounds the call with its own timeout).
func (s *Service) prepay(ctx context.Context, o *Order, requestID string) (*Order, error) {
	ctx = context.WithoutCancel(ctx)
	prepayID, err := s.mos.Prepay(ctx, PrepayRequest{
		OutTradeNo: o.OutTradeNo, NonceStr: o.NonceStr, Desc: o.Desc, Amount: o.Amount,
		NotifyURL: s.cfg.NotifyURL, OpenID: o.OpenID, ExpireAt: o.ExpireAt,
	})
	var e Event
	switch ErrorCode(err) {
	case "":
		e = Event{Kind: EventPrepaid, Source: SourceAPI, PrepayID: prepayID, Reason: "prepay accepted by MOS", RequestID: requestID}
	case EUNPROCESSABLE:
		e = Event{Kind: EventRejected, Source: SourceAPI, Reason: "prepay refused by MOS: " + ErrorMessage(err), RequestID: requestID}
	default:
		// The outcome is unknown: MOS may have the order. Keep it CREATED, let go of the lease so
		// a retry or the reconciler can find out.
		s.log.WarnContext(ctx, "prepay outcome unknown", "out_trade_no", o.OutTradeNo, "request_id", requestID, "err", err)
		if saved, serr := s.store.Save(ctx, Write{Order: o, ReleaseLease: true, At: s.clock.Now()}); serr == nil {
			o = saved
		}
		return o, Wrap(EUNAVAILABLE, err, "MOS did not answer the prepay request; the order is kept, retry with the same Idempotency-Key")
	}
	saved, _, aerr := s.apply(ctx, o, e, applyOpts{releaseLease: true})
	if aerr != nil {
		return nil, aerr
	}
	if e.Kind == EventRejected {
		return saved, Wrap(EUNPROCESSABLE, err, "MOS refused the order: %s", ErrorMessage(err))
	}
	return saved, nil
}

// Get returns openid's order; anyone else's is ENOTFOUND, so that order numbers reveal nothing.
func (s *Service) Get(ctx context.Context, openid, outTradeNo string) (*Order, error) {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	if o.OpenID != openid {
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

// Report is finance's reconciliation view of orders created in [From, To): totals per currency
// and status, and the flagged orders that need a person to look at them.
type Report struct {
	From, To time.Time
	Totals   []Total
	Review   []*Order
}

// maxReview bounds the flagged orders a report lists; finance pages through the rest with the
// flag filter.
const maxReview = 500

// Report builds the reconciliation report.
func (s *Service) Report(ctx context.Context, from, to time.Time) (*Report, error) {
	if !from.Before(to) {
		return nil, Errorf(EINVALID, "from must be before to")
	}
	totals, err := s.store.Totals(ctx, from, to)
	if err != nil {
		return nil, err
	}
	r := &Report{From: from, To: to, Totals: totals}
	seen := map[int64]bool{}
	for _, f := range Flags {
		page, err := s.store.Orders(ctx, ListFilter{Flag: f, From: &from, To: &to, Limit: maxReview})
		if err != nil {
			return nil, err
		}
		for _, o := range page.Orders {
			if !seen[o.ID] && len(r.Review) < maxReview {
				seen[o.ID] = true
				r.Review = append(r.Review, o)
			}
		}
	}
	return r, nil
}

// Story returns an order with everything that explains it.
func (s *Service) Story(ctx context.Context, outTradeNo string) (*Story, error) {
	return s.store.Story(ctx, outTradeNo)
}

// Refresh asks MOS about an order that is not final and applies the answer (what the front end
// triggers after mos.pay resolves, and finance's "reconcile now"). A final order is returned as
// it is, without calling MOS. reason, if given, is recorded on a resulting transition (finance
// passes who asked).
func (s *Service) Refresh(ctx context.Context, o *Order, source Source, requestID, reason string) (*Order, error) {
	if o.Status.Final() {
		return o, nil
	}
	r, q, err := s.query(ctx, o, source)
	if err != nil {
		return s.queryFailed(ctx, o, q, err, source, requestID, false)
	}
	saved, _, err := s.apply(ctx, o, remoteEvent(r, source, requestID, reason), applyOpts{query: q})
	return saved, err
}

// queryFailed records a failed orderQuery. MOS not knowing a CREATED order long after its
// creation means prepay never reached MOS: the order is FAILED. Otherwise the failure is
// EUNAVAILABLE and changes nothing (but, for the reconciler, the next check backs off).
func (s *Service) queryFailed(ctx context.Context, o *Order, q *QueryRecord, err error, source Source, requestID string, checked bool) (*Order, error) {
	now := s.clock.Now()
	if ErrorCode(err) == ENOTFOUND && o.Status == StatusCreated && now.Sub(o.CreatedAt) >= s.cfg.UnknownAfter {
		e := Event{Kind: EventRejected, Source: source, RequestID: requestID,
			Reason: fmt.Sprintf("MOS has no record of the order %s after creation", s.cfg.UnknownAfter)}
		saved, _, aerr := s.apply(ctx, o, e, applyOpts{query: q, checked: checked, releaseLease: checked})
		return saved, aerr
	}
	if checked {
		if _, _, aerr := s.apply(ctx, o, Event{}, applyOpts{query: q, checked: true, releaseLease: true, noEvent: true}); aerr != nil {
			s.log.WarnContext(ctx, "recording failed check", "out_trade_no", o.OutTradeNo, "err", aerr)
		}
	} else if rerr := s.store.RecordQuery(ctx, *q); rerr != nil {
		s.log.WarnContext(ctx, "recording failed query", "out_trade_no", o.OutTradeNo, "err", rerr)
	}
	if ErrorCode(err) == ENOTFOUND {
		return o, nil
	}
	return o, Wrap(EUNAVAILABLE, err, "MOS could not be asked about the order: %s", ErrorMessage(err))
}

// query calls orderQuery and returns MOS's answer with the record of the call.
func (s *Service) query(ctx context.Context, o *Order, source Source) (Remote, *QueryRecord, error) {
	start := time.Now()
	r, err := s.mos.Query(ctx, o.OutTradeNo, o.NonceStr)
	q := &QueryRecord{OrderID: o.ID, Source: source, MOSStatus: r.RawStatus, TotalAmount: r.AmountRaw,
		Currency: r.Currency, DurationMS: time.Since(start).Milliseconds(), At: s.clock.Now()}
	if err != nil {
		q.Error = ErrorCode(err) + ": " + ErrorMessage(err)
	}
	return r, q, err
}

// remoteEvent turns MOS's answer into an event for the state machine.
func remoteEvent(r Remote, source Source, requestID, reason string) Event {
	e := Event{Kind: r.Kind, Source: source, MOSStatus: r.RawStatus, PrepayID: r.PrepayID, Amount: r.Amount, RequestID: requestID, Reason: reason}
	if e.Amount == nil && (r.AmountRaw != "" || r.Currency != "") {
		// MOS reported an amount we cannot read: treat it as a mismatch for finance, never as paid.
		e.Amount = &money.Amount{Minor: -1, Currency: money.Currency(r.Currency)}
	}
	return e
}

// Notification is a MOS notification whose signature has been verified.
type Notification struct {
	Fields      map[string]string
	RawBody     string
	ContentType string
	RequestID   string
}

// Notify handles a verified notification: the notification is only a trigger, so the order is
// confirmed with orderQuery and MOS's answer is applied, in one transaction with the stored
// notification. ENOTFOUND for an unknown order (still stored, for finance); EUNAVAILABLE when
// MOS or the database cannot be reached, so MOS retries. Duplicates and replays change nothing.
func (s *Service) Notify(ctx context.Context, n Notification) (outcome string, err error) {
	outTradeNo := n.Fields["outTradeNo"]
	rec := NotificationRecord{OutTradeNo: outTradeNo, ContentType: n.ContentType, RawBody: n.RawBody,
		MOSStatus: n.Fields["status"], RequestID: n.RequestID, ReceivedAt: s.clock.Now()}
	if outTradeNo == "" {
		return "", Errorf(EINVALID, "outTradeNo is missing")
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if ErrorCode(err) == ENOTFOUND {
		rec.Outcome = OutcomeUnknownOrder
		if rerr := s.store.RecordNotification(ctx, rec); rerr != nil {
			return "", Wrap(EUNAVAILABLE, rerr, "could not store the notification")
		}
		return rec.Outcome, Errorf(ENOTFOUND, "unknown outTradeNo")
	}
	if err != nil {
		return "", Wrap(EUNAVAILABLE, err, "database unavailable")
	}
	rec.OrderID = &o.ID
	r, q, err := s.query(ctx, o, SourceNotify)
	if err != nil {
		rec.Outcome = OutcomeMOSUnavailable
		if rerr := s.store.RecordNotification(ctx, rec); rerr != nil {
			s.log.WarnContext(ctx, "recording notification", "out_trade_no", outTradeNo, "err", rerr)
		}
		if rerr := s.store.RecordQuery(ctx, *q); rerr != nil {
			s.log.WarnContext(ctx, "recording query", "out_trade_no", outTradeNo, "err", rerr)
		}
		return rec.Outcome, Wrap(EUNAVAILABLE, err, "MOS could not confirm the notification")
	}
	rec.QueriedStatus = r.RawStatus
	reason := "notification confirmed by orderQuery"
	if !strings.EqualFold(strings.TrimSpace(rec.MOSStatus), strings.TrimSpace(r.RawStatus)) {
		reason = fmt.Sprintf("notification said %q, orderQuery said %q: orderQuery applied", rec.MOSStatus, r.RawStatus)
	}
	e := remoteEvent(r, SourceNotify, n.RequestID, reason)
	if a, ok := notifiedAmount(n.Fields, o.Amount.Currency); ok && a != o.Amount {
		// MOS signed a notification for another amount than the order's: hold it for finance.
		e.Amount = &a
	}
	_, ch, err := s.apply(ctx, o, e, applyOpts{notification: &rec, query: q})
	if err != nil {
		return "", err
	}
	return notificationOutcome(ch), nil
}

// notifiedAmount reads the amount a notification claims, if it claims one.
func notifiedAmount(f map[string]string, orderCur money.Currency) (money.Amount, bool) {
	raw, cur := f["totalAmount"], f["currency"]
	if raw == "" && cur == "" {
		return money.Amount{}, false
	}
	c := money.Currency(cur)
	if cur == "" {
		c = orderCur
	}
	if !c.Valid() {
		return money.Amount{Minor: -1, Currency: c}, true
	}
	if raw == "" {
		return money.Amount{}, false
	}
	minor, err := money.ParseLenient(raw, c)
	if err != nil {
		return money.Amount{Minor: -1, Currency: c}, true
	}
	return money.Amount{Minor: minor, Currency: c}, true
}

func notificationOutcome(ch Change) string {
	switch {
	case ch.Moves():
		return OutcomeApplied
	case len(ch.Raise) > 0:
		return OutcomeFlagged
	default:
		return OutcomeNoChange
	}
}

// Reconcile checks one order the reconciler claimed: asks MOS, applies the answer, closes the
// order at its expireTime if MOS still says it is unpaid, and schedules the next check.
func (s *Service) Reconcile(ctx context.Context, o *Order) (*Order, error) {
	r, q, err := s.query(ctx, o, SourceReconciler)
	if err != nil {
		return s.queryFailed(ctx, o, q, err, SourceReconciler, "", true)
	}
	saved, _, err := s.apply(ctx, o, remoteEvent(r, SourceReconciler, "", ""), applyOpts{query: q, checked: true, releaseLease: true})
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if !now.Before(saved.ExpireAt) && (saved.Status == StatusCreated || saved.Status == StatusPending) && r.Kind == EventPending {
		e := Event{Kind: EventExpired, Source: SourceReconciler, MOSStatus: r.RawStatus, Reason: "expired unpaid: MOS still reported it unpaid at its expireTime"}
		saved, _, err = s.apply(ctx, saved, e, applyOpts{})
	}
	return saved, err
}

// applyOpts says what else a write carries besides the state machine's change.
type applyOpts struct {
	notification *NotificationRecord
	query        *QueryRecord
	checked      bool // a reconciler check: count it and schedule the next one
	releaseLease bool
	noEvent      bool // nothing to apply; only the records and schedule
}

// maxApplyAttempts bounds the re-read-and-re-apply loop on version conflicts. Each retry means
// another writer changed the order in between; a handful is plenty.
const maxApplyAttempts = 10

// apply runs the state machine on the freshest order and saves the result, retrying on a stale
// version: zero rows updated means someone else moved first, so re-read and re-decide.
func (s *Service) apply(ctx context.Context, o *Order, e Event, opt applyOpts) (*Order, Change, error) {
	for attempt := 1; ; attempt++ {
		var ch Change
		if !opt.noEvent {
			var err error
			if ch, err = Apply(o.Snapshot(), e); err != nil {
				return o, ch, err
			}
		}
		now := s.clock.Now()
		w := Write{Order: o, Change: ch, Event: e, Query: opt.query, ReleaseLease: opt.releaseLease, At: now}
		if opt.notification != nil {
			rec := *opt.notification
			rec.Outcome = notificationOutcome(ch)
			w.Notification = &rec
		}
		if ch.Moves() || opt.checked {
			after := *o
			if ch.Moves() {
				after.Status = ch.To
			}
			attempts := o.CheckAttempts
			if opt.checked {
				attempts++
			}
			w.Reschedule, w.CheckAttempts = true, attempts
			if next, ok := s.cfg.Schedule.Next(&after, attempts, now, s.rnd); ok {
				w.NextCheckAt = &next
			}
		}
		if ch.Empty() && w.Notification == nil && w.Query == nil && !w.Reschedule && !w.ReleaseLease {
			return o, ch, nil
		}
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
		return saved, ch, nil
	}
}
