package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Notification is a MOS notification whose signature package mos verified, in mospay's terms:
// mos reads MOS's field names and amounts, so the order service never sees MOS's spelling. Its
// values are exactly those the signature covered (trimmed as the signing rule trims).
type Notification struct {
	OutTradeNo string
	PrepayID   string
	OpenID     string
	Status     string          // the status the notification claims, as MOS spelled it
	Amount     *ReportedAmount // the amount it claims; nil when it claims none
	// RawBody and ContentType are the notification as received, stored for finance.
	RawBody     string
	ContentType string
	RequestID   string
}

// Notify handles a verified notification. A notification is only a trigger: the order is
// confirmed with orderQuery, and MOS's answer alone decides its status and flags; it is applied
// in one transaction with the stored notification. Where the notification's own fields disagree
// with MOS's answer (amount, currency, prepayId, openid), the disagreement is recorded on the
// notification's row for finance, never turned into a flag: its signature covers values that an
// attacker may have re-split (MOS's signing string joins key=value with '&' unescaped).
//
// A notification identical to one already stored and applied (the same body) is a replay: it is
// answered at once, with no orderQuery and no row (OutcomeDuplicate). ENOTFOUND for an unknown
// order (still stored, for finance); EUNAVAILABLE when MOS or the database cannot be reached, so
// MOS retries.
func (s *Service) Notify(ctx context.Context, n Notification) (outcome string, err error) {
	sum := sha256.Sum256([]byte(n.RawBody))
	rec := NotificationRecord{OutTradeNo: n.OutTradeNo, ContentType: n.ContentType, RawBody: n.RawBody,
		MOSStatus: n.Status, BodyHash: hex.EncodeToString(sum[:]), RequestID: n.RequestID, ReceivedAt: s.clock.Now()}
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
	switch dup, err := s.store.NotificationApplied(ctx, o.ID, rec.BodyHash); {
	case err != nil:
		return "", Wrap(EUNAVAILABLE, err, "database unavailable")
	case dup:
		return OutcomeDuplicate, nil
	}
	rec.OrderID = &o.ID
	r, q, err := s.query(ctx, o, SourceNotify)
	if err != nil {
		rec.Outcome = OutcomeMOSUnavailable
		if _, _, serr := s.apply(ctx, o, Event{}, applyOpts{notification: &rec, query: q, noEvent: true}); serr != nil {
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
	_, ch, err := s.apply(ctx, o, remoteEvent(r, SourceNotify, n.RequestID, reason), applyOpts{notification: &rec, query: q})
	if err != nil {
		return "", err
	}
	return notificationOutcome(ch), nil
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
