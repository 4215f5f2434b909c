package order

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// QueryWindow is how long after a user's query of an order further queries of it answer from
// the database: a front end polling /query, or a user hammering it, costs MOS one orderQuery per
// window and order. Other MOS calls (a notification's confirmation, the reconciler) do not count.
const QueryWindow = 5 * time.Second

// Query is a mini-app user asking about their own order (what the front end calls after
// mos.pay resolves): anyone else's order is ENOTFOUND. The order is checked with MOS now and the
// answer applied, whatever its status, unless the user already asked within QueryWindow: then the
// order is answered as stored, and asked is false.
func (s *Service) Query(ctx context.Context, userID, outTradeNo, requestID string) (o *Order, asked bool, err error) {
	o, err = s.Get(ctx, userID, outTradeNo)
	if err != nil {
		return nil, false, err
	}
	last, ok, err := s.store.LastQuery(ctx, o.ID, SourceAPI)
	if err != nil {
		return nil, false, err
	}
	if ok && s.clock.Now().Sub(last) < QueryWindow {
		// Read again: the query's row and its effect on the order commit together, so the order
		// read now holds that query's answer.
		o, err = s.Get(ctx, userID, outTradeNo)
		return o, false, err
	}
	o, err = s.refresh(ctx, o, SourceAPI, requestID, "", nil)
	return o, true, err
}

// ReconcileNow is finance asking MOS about an order now ("reconcile now"), whatever its status;
// admin, the name of the admin token, is recorded in the reason of any resulting transition and in
// the audit trail, in the same transaction as the answer.
func (s *Service) ReconcileNow(ctx context.Context, outTradeNo, admin, requestID string) (*Order, error) {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "admin reconcile", "admin", admin, "out_trade_no", outTradeNo, "request_id", requestID)
	audit := &AdminAction{Actor: admin, Action: ActionReconcile, OrderID: &o.ID, OutTradeNo: o.OutTradeNo,
		UserID: o.UserID, RequestID: requestID, ClientRequestID: ClientRequestID(ctx), At: s.clock.Now()}
	return s.refresh(ctx, o, SourceAdmin, requestID, "reconcile requested by "+admin, audit)
}

// refresh asks MOS about an order and applies the answer, whatever the order's status: an
// explicit request always asks (a refund MOS reports only through orderQuery is found so). reason,
// if given, is recorded on a resulting transition; audit, if given, with the answer.
func (s *Service) refresh(ctx context.Context, o *Order, source Source, requestID, reason string, audit *AdminAction) (*Order, error) {
	r, q, err := s.query(ctx, o, source)
	if err != nil {
		return s.queryFailed(ctx, o, q, err, failedQuery{source: source, requestID: requestID, audit: audit})
	}
	saved, _, err := s.apply(ctx, o, observed(remoteObservation(r, source, requestID, reason), q, audit))
	return saved, err
}

// Reconcile checks one order the reconciler claimed: asks MOS, applies the answer, closes the
// order at its expireTime if MOS still says it is unpaid, and schedules the next check.
func (s *Service) Reconcile(ctx context.Context, o *Order) (*Order, error) {
	r, q, err := s.query(ctx, o, SourceReconciler)
	if err != nil {
		return s.queryFailed(ctx, o, q, err, failedQuery{source: SourceReconciler, checked: true})
	}
	saved, _, err := s.apply(ctx, o, checked(remoteObservation(r, SourceReconciler, "", ""), q, nil))
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if !now.Before(saved.ExpireAt) && (saved.Status == StatusCreated || saved.Status == StatusPending) && r.Kind == ObservedPending {
		e := Observation{Kind: ObservedExpired, Source: SourceReconciler, MOSStatus: r.RawStatus, Reason: "expired unpaid: MOS still reported it unpaid at its expireTime"}
		saved, _, err = s.apply(ctx, saved, observed(e, nil, nil))
	}
	return saved, err
}

// failedQuery is who asked MOS when a query failed: the source, its request, whether it was a
// reconciler check (counted and rescheduled), and the admin action that asked, if any.
type failedQuery struct {
	source    Source
	requestID string
	checked   bool
	audit     *AdminAction
}

// ErrNoAnswer is in the chain of the error of an orderQuery that got no answer from MOS (MOS
// unreachable, a timeout, HTTP 5xx or 429, a lost answer), as opposed to one MOS answered or
// refused, or a database failure: the reconciler's view of MOS's health counts these.
var ErrNoAnswer = errors.New("no answer from MOS")

// queryFailed records a failed orderQuery. MOS not knowing a CREATED order long after its
// creation means prepay never reached MOS: the order is FAILED. Otherwise the failure is
// EUNAVAILABLE and changes nothing; for the reconciler, a check that got no answer is made again
// after Schedule.Retry, and one MOS refused goes on with the timetable. The order is returned as
// the write left it.
func (s *Service) queryFailed(ctx context.Context, o *Order, q *QueryRecord, err error, f failedQuery) (*Order, error) {
	now := s.clock.Now()
	if giveUp := s.cfg.Schedule.GiveUp; ErrorCode(err) == ENOTFOUND && o.Status == StatusCreated && now.Sub(o.CreatedAt) >= giveUp {
		e := Observation{Kind: ObservedRejected, Source: f.source, RequestID: f.requestID,
			Reason: fmt.Sprintf("MOS has no record of the order %s after creation", giveUp)}
		in := observed(e, q, f.audit)
		if f.checked {
			in = checked(e, q, f.audit)
		}
		saved, _, aerr := s.apply(ctx, o, in)
		return saved, aerr
	}
	// "No such order" is an answer; MOS unreachable or failing is none, and a refusal says
	// nothing about the order.
	code := ErrorCode(err)
	saved, _, aerr := s.apply(ctx, o, failedCheck(q, code, f.checked, f.audit))
	if aerr != nil {
		s.log.WarnContext(ctx, "recording failed query", "out_trade_no", o.OutTradeNo, "err", aerr)
		saved = o
	}
	switch code {
	case ENOTFOUND:
		return saved, nil
	case EUNAVAILABLE:
		err = fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	return saved, Wrap(EUNAVAILABLE, err, "MOS could not be asked about the order: %s", ErrorMessage(err))
}

// query calls orderQuery and returns MOS's answer with the record of the call.
func (s *Service) query(ctx context.Context, o *Order, source Source) (Remote, *QueryRecord, error) {
	start := time.Now()
	r, err := s.mos.Query(ctx, o.OutTradeNo, o.NonceStr)
	q := &QueryRecord{OrderID: o.ID, Source: source, MOSStatus: r.RawStatus,
		DurationMS: time.Since(start).Milliseconds(), At: s.clock.Now()}
	if r.Amount != nil {
		q.TotalAmount, q.Currency = r.Amount.Raw, r.Amount.Currency
	}
	if err != nil {
		q.Error = ErrorCode(err) + ": " + ErrorMessage(err)
	}
	return r, q, err
}

// remoteObservation turns MOS's answer into an observation for the state machine.
func remoteObservation(r Remote, source Source, requestID, reason string) Observation {
	return Observation{Kind: r.Kind, Source: source, MOSStatus: r.RawStatus, PrepayID: r.PrepayID, Amount: r.Amount,
		RequestID: requestID, Reason: reason}
}
