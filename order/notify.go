package order

import (
	"context"
	"fmt"
	"strings"
)

// Notification is a MOS notification whose signature package mos verified, in mospay's terms:
// mos reads MOS's field names and amounts, so the order service never sees MOS's spelling.
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

// Notify handles a verified notification: the notification is only a trigger, so the order is
// confirmed with orderQuery and MOS's answer is applied, in one transaction with the stored
// notification. ENOTFOUND for an unknown order (still stored, for finance); EUNAVAILABLE when
// MOS or the database cannot be reached, so MOS retries. Duplicates and replays change nothing.
func (s *Service) Notify(ctx context.Context, n Notification) (outcome string, err error) {
	rec := NotificationRecord{OutTradeNo: n.OutTradeNo, ContentType: n.ContentType, RawBody: n.RawBody,
		MOSStatus: n.Status, RequestID: n.RequestID, ReceivedAt: s.clock.Now()}
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
	r, q, err := s.query(ctx, o, SourceNotify)
	if err != nil {
		rec.Outcome = OutcomeMOSUnavailable
		if rerr := s.store.RecordNotification(ctx, rec); rerr != nil {
			s.log.WarnContext(ctx, "recording notification", "out_trade_no", n.OutTradeNo, "err", rerr)
		}
		if rerr := s.store.RecordQuery(ctx, *q); rerr != nil {
			s.log.WarnContext(ctx, "recording query", "out_trade_no", n.OutTradeNo, "err", rerr)
		}
		return rec.Outcome, Wrap(EUNAVAILABLE, err, "MOS could not confirm the notification")
	}
	rec.QueriedStatus = r.RawStatus
	reason := "notification confirmed by orderQuery"
	if !strings.EqualFold(strings.TrimSpace(rec.MOSStatus), strings.TrimSpace(r.RawStatus)) {
		reason = fmt.Sprintf("notification said %q, orderQuery said %q: orderQuery applied", rec.MOSStatus, r.RawStatus)
	}
	e := remoteEvent(r, SourceNotify, n.RequestID, reason)
	if n.Amount != nil && !n.Amount.Matches(o.Amount) {
		// MOS signed a notification for another amount than the order's: hold it for finance.
		e.Amount = n.Amount
	}
	_, ch, err := s.apply(ctx, o, e, applyOpts{notification: &rec, query: q})
	if err != nil {
		return "", err
	}
	return notificationOutcome(ch), nil
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
