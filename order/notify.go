package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// heldBack are the checks waiting for a notification window to end (Service.checkAfterWindow).
type heldBack struct {
	mu      sync.Mutex
	timers  map[string]*time.Timer // by outTradeNo
	stopped bool
	wg      sync.WaitGroup
	ctx     context.Context // ended by StopChecks
	cancel  context.CancelFunc
}

// Notification is a MOS notification whose signature package mos verified, in mospay's terms:
// mos reads MOS's field names and amounts, so the order service never sees MOS's spelling. Its
// values are exactly those the signature covered (trimmed as the signing rule trims).
type Notification struct {
	OutTradeNo string
	PrepayID   string
	OpenID     string
	Status     string          // the status the notification claims, as MOS spelled it
	Amount     *ReportedAmount // the amount it claims; nil when it claims none
	// Signed is what the signature covers, in one canonical text (mos.SignedContent): byte
	// variants of one signed notification share it, so it is what replays are recognised by.
	Signed string
	// RawBody and ContentType are the notification as received; finance sees the first
	// MaxStoredBody bytes of the body, its size and its SHA-256.
	RawBody     string
	ContentType string
	RequestID   string
}

// NotifyWindow is how often, at most, MOS is asked about one order on behalf of notifications:
// a notification that is not a repeat but comes within NotifyWindow of the last orderQuery made
// for one is held back (OutcomeDeferred) and the order is checked when the window ends. Users'
// queries, finance's reconcile and the reconciler are not held back by it.
const NotifyWindow = 5 * time.Second

// CheckingTimeout is how long a notification may stay OutcomeChecking (its receiver stopped in
// the middle) before a repeat of it is checked in its place.
const CheckingTimeout = time.Minute

// Notify handles a verified notification. A notification is only a trigger: the order is
// confirmed with orderQuery, and MOS's answer alone decides its status and flags; it is applied
// in one transaction with the stored notification. Where the notification's own fields disagree
// with MOS's answer (amount, currency, prepayId, openid), the disagreement is recorded on the
// notification's row for finance, never turned into a flag: its signature covers values that an
// attacker may have re-split (MOS's signing string joins key=value with '&' unescaped).
//
// Notifications are told apart by what their signature covers (Notification.Signed), never by
// their bytes: the first receipt of a signed content claims its row in the database, and a
// repeat, however it is spaced, ordered or padded, is answered at once, with no orderQuery and no
// row, and counted on the first one's row (OutcomeDuplicate), unless the first one's check failed
// (MOS unavailable, or its receiver stopped for CheckingTimeout): the repeat is then checked. One
// that is not a repeat but arrives within NotifyWindow of the last orderQuery made for a
// notification about the order is stored as OutcomeDeferred and answered: the order is checked
// when the window ends (a timer here, and the order's next reconciler check brought forward,
// should this instance stop first). MOS's delivery again of one whose orderQuery failed is not
// deferred but answered 503 within the window, so that MOS delivers it once more. ENOTFOUND for an unknown order (still
// stored, for finance); EUNAVAILABLE when MOS or the database cannot be reached, so MOS retries.
func (s *Service) Notify(ctx context.Context, n Notification) (outcome string, err error) {
	now := s.clock.Now()
	rec := notificationRecord(n, now)
	if n.OutTradeNo == "" {
		return "", Errorf(EINVALID, "outTradeNo is missing")
	}
	o, err := s.store.Order(ctx, n.OutTradeNo)
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
	rec.Outcome = OutcomeChecking
	claim, err := s.store.ClaimNotification(ctx, rec, now.Add(-CheckingTimeout), NotifyWindow)
	switch {
	case err != nil:
		return "", Wrap(EUNAVAILABLE, err, "database unavailable")
	case !claim.First:
		return OutcomeDuplicate, nil
	}
	switch {
	case !claim.Asked && claim.Retry:
		// MOS's delivery again of one whose orderQuery failed, within the window: it stays
		// unacknowledged, for MOS to deliver once more, rather than acknowledged unchecked.
		rec.Outcome = OutcomeMOSUnavailable
		if _, _, serr := s.apply(ctx, o, unconfirmed(rec, nil)); serr != nil {
			s.log.WarnContext(ctx, "recording notification", "out_trade_no", n.OutTradeNo, "err", serr)
		}
		return rec.Outcome, Errorf(EUNAVAILABLE, "MOS was asked about the order less than %s ago without an answer", NotifyWindow)
	case !claim.Asked:
		rec.Outcome = OutcomeDeferred
		if err := s.store.DeferNotification(ctx, rec, now.Add(NotifyWindow)); err != nil {
			return "", Wrap(EUNAVAILABLE, err, "could not store the notification")
		}
		s.checkAfterWindow(o.OutTradeNo)
		return rec.Outcome, nil
	}
	r, q, err := s.query(ctx, o, SourceNotify)
	if err != nil {
		rec.Outcome = OutcomeMOSUnavailable
		if _, _, serr := s.apply(ctx, o, unconfirmed(rec, q)); serr != nil {
			s.log.WarnContext(ctx, "recording notification", "out_trade_no", n.OutTradeNo, "err", serr)
		}
		return rec.Outcome, Wrap(EUNAVAILABLE, err, "MOS could not confirm the notification")
	}
	rec.QueriedStatus = r.RawStatus
	rec.Disagreement = disagreement(n, r)
	reason := "notification confirmed by orderQuery"
	if !strings.EqualFold(rec.MOSStatus, strings.TrimSpace(r.RawStatus)) {
		reason = fmt.Sprintf("notification said %s, orderQuery said %s: orderQuery applied", quote(rec.MOSStatus), quote(r.RawStatus))
	}
	_, ch, err := s.apply(ctx, o, notified(remoteObservation(r, SourceNotify, n.RequestID, reason), rec, q))
	if err != nil {
		return "", err
	}
	return notificationOutcome(ch), nil
}

// notificationRecord is n as stored: its signed content and that content's hash, and the body as
// received cut to MaxStoredBody bytes (at a character's start) with its full size and hash. A
// Notification that package mos did not read (tests) has no signed content: its body stands in.
func notificationRecord(n Notification, now time.Time) NotificationRecord {
	signed := n.Signed
	if signed == "" {
		signed = n.RawBody
	}
	signedSum, bodySum := sha256.Sum256([]byte(signed)), sha256.Sum256([]byte(n.RawBody))
	signed = n.Signed // never the body, which may be padded
	raw := n.RawBody
	if len(raw) > MaxStoredBody {
		cut := MaxStoredBody
		for cut > 0 && !utf8.RuneStart(raw[cut]) {
			cut--
		}
		raw = raw[:cut]
	}
	return NotificationRecord{OutTradeNo: n.OutTradeNo, Signed: signed, SignedHash: hex.EncodeToString(signedSum[:]),
		ContentType: n.ContentType, RawBody: raw, BodySize: int64(len(n.RawBody)), BodyHash: hex.EncodeToString(bodySum[:]),
		MOSStatus: n.Status, RequestID: n.RequestID, ReceivedAt: now}
}

// checkAfterWindow asks MOS about the order once NotifyWindow has passed, on behalf of the
// notifications held back meanwhile: one timer per order at a time, since its query, made after
// every one of them arrived, answers for them all. The check stamps the window, so notifications
// that come during it wait for the next.
func (s *Service) checkAfterWindow(outTradeNo string) {
	s.later.mu.Lock()
	defer s.later.mu.Unlock()
	if s.later.stopped || s.later.timers[outTradeNo] != nil {
		return
	}
	if s.later.timers == nil {
		s.later.timers = map[string]*time.Timer{}
	}
	s.later.wg.Add(1)
	s.later.timers[outTradeNo] = time.AfterFunc(NotifyWindow, func() {
		defer s.later.wg.Done()
		s.later.mu.Lock()
		delete(s.later.timers, outTradeNo)
		stopped := s.later.stopped
		s.later.mu.Unlock()
		if stopped {
			return
		}
		ctx, cancel := context.WithTimeout(s.later.ctx, time.Minute)
		defer cancel()
		if err := s.checkHeldBack(ctx, outTradeNo); err != nil {
			s.log.WarnContext(ctx, "checking held-back notifications: left to the reconciler", "out_trade_no", outTradeNo, "err", err)
		}
	})
}

// checkHeldBack is checkAfterWindow's check: the window is stamped (whatever it holds: this is
// its end) and MOS asked about the order.
func (s *Service) checkHeldBack(ctx context.Context, outTradeNo string) error {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return err
	}
	if _, err := s.store.ClaimNotifyWindow(ctx, o.ID, s.clock.Now(), 0); err != nil {
		return err
	}
	_, err = s.refresh(ctx, o, SourceNotify, "", "notifications held back by the notification window, checked at its end", nil)
	return err
}

// StopChecks ends the checks waiting for a notification window to end (they are left to the
// reconciler: the orders' next checks were brought forward) and waits for a running one.
func (s *Service) StopChecks() {
	s.later.mu.Lock()
	s.later.stopped = true
	for no, t := range s.later.timers {
		if t.Stop() {
			s.later.wg.Done()
		}
		delete(s.later.timers, no)
	}
	s.later.mu.Unlock()
	s.later.cancel()
	s.later.wg.Wait()
}

// disagreement says, for finance, where a notification's fields differ from orderQuery's answer;
// "" when they agree. A field the notification leaves out does not disagree.
func disagreement(n Notification, r Remote) string {
	var diffs []string
	diff := func(field, notified, queried string) {
		if notified != "" && notified != queried {
			diffs = append(diffs, fmt.Sprintf("%s %s (orderQuery: %s)", field, quote(notified), quote(queried)))
		}
	}
	var nAmount, nCurrency, rAmount, rCurrency string
	if n.Amount != nil {
		nAmount, nCurrency = n.Amount.Raw, n.Amount.Currency
	}
	if r.Amount != nil {
		rAmount, rCurrency = r.Amount.Raw, r.Amount.Currency
	}
	switch {
	case n.Amount != nil && n.Amount.Readable && r.Amount != nil && r.Amount.Readable:
		if n.Amount.Amount != r.Amount.Amount {
			diffs = append(diffs, fmt.Sprintf("amount %s (orderQuery: %s)", n.Amount, r.Amount))
		}
	default:
		diff("totalAmount", nAmount, rAmount)
		diff("currency", nCurrency, rCurrency)
	}
	diff("prepayId", n.PrepayID, r.PrepayID)
	diff("openid", n.OpenID, r.OpenID)
	return strings.Join(diffs, "; ")
}

// notificationOutcome is what a notification's Change did, stored on its row and counted.
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
