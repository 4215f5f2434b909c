package mos

import (
	"context"
	"errors"

	"github.com/mospay/mospay/order"
)

// Provider adapts the Client to what the order service consumes (order.Provider: prepay,
// orderQuery and the login's code2session), translating MOS's errors into coded ones: a retryable failure
// is EUNAVAILABLE (the outcome is unknown), a refusal EUNPROCESSABLE carrying MOS's message, and
// orderQuery's "not found" ENOTFOUND.
type Provider struct {
	Client *Client
}

var _ order.Provider = Provider{}

// Prepay asks MOS for a prepayId.
func (p Provider) Prepay(ctx context.Context, r order.PrepayRequest) (string, error) {
	res, err := p.Client.Prepay(ctx, PrepayRequest{
		NonceStr: r.NonceStr, Desc: r.Desc, OutTradeNo: r.OutTradeNo, Currency: r.Amount.Currency,
		TotalAmount: r.Amount.String(), NotifyURL: r.NotifyURL, OpenID: r.OpenID, ExpireTime: r.ExpireAt,
	})
	if err != nil {
		return "", coded(err)
	}
	return res.PrepayID, nil
}

// stateEvents maps MOS's status classes (status.go's table) to state machine events.
var stateEvents = map[State]order.ObservationKind{
	StatePending:  order.ObservedPending,
	StatePaid:     order.ObservedPaid,
	StateFailed:   order.ObservedFailed,
	StateClosed:   order.ObservedClosed,
	StateRefunded: order.ObservedRefunded,
	StateUnknown:  order.ObservedUnknown,
}

var _ order.StatusReader = Provider{}

// Kind says what a raw MOS status means for the state machine (status.go's table).
func (Provider) Kind(rawStatus string) order.ObservationKind {
	return stateEvents[MapStatus(rawStatus)]
}

// Query asks MOS for an order's status and amount.
func (p Provider) Query(ctx context.Context, outTradeNo, nonceStr string) (order.Remote, error) {
	info, err := p.Client.OrderQuery(ctx, outTradeNo, nonceStr)
	if errors.Is(err, ErrOrderNotFound) {
		return order.Remote{}, order.Wrap(order.ENOTFOUND, err, "MOS has no such order")
	}
	if err != nil {
		return order.Remote{}, coded(err)
	}
	return order.Remote{
		Kind: stateEvents[MapStatus(info.Status)], RawStatus: info.Status, PrepayID: info.PrepayID,
		OpenID: info.OpenID, Amount: readAmount(info.TotalAmount, info.Currency),
	}, nil
}

// Code2Session exchanges a mos.login code for the user's openid. A code MOS refuses is
// EUNAUTHORIZED (the front end calls mos.login again).
func (p Provider) Code2Session(ctx context.Context, code string) (string, error) {
	s, err := p.Client.Code2Session(ctx, code)
	if err != nil {
		if IsRejected(err) {
			return "", order.Wrap(order.EUNAUTHORIZED, err, "the login code is invalid, used or expired")
		}
		return "", coded(err)
	}
	return s.OpenID, nil
}

func coded(err error) error {
	var e *Error
	if errors.As(err, &e) && !e.Retryable {
		msg := e.Message
		if msg == "" {
			msg = "refused"
		}
		return order.Wrap(order.EUNPROCESSABLE, err, "%s", msg)
	}
	if errors.Is(err, context.Canceled) {
		return order.Wrap(order.EUNAVAILABLE, err, "request cancelled")
	}
	return order.Wrap(order.EUNAVAILABLE, err, "MOS is unreachable or failed; try again")
}
