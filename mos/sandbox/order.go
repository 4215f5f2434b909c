package sandbox

import "github.com/mospay/mospay/money"

// order is the sandbox's record of one prepaid order.
type order struct {
	outTradeNo string
	prepayID   string
	openid     string
	mchID      string
	currency   money.Currency
	amount     string // canonical, as prepaid
	desc       string
	notifyURL  string
	expireTime int64 // ms
	createTime int64 // ms

	status         string // what orderQuery reports; PATCH may set any text
	reportedAmount string // PATCH override of the amount orderQuery reports; "" = amount

	request map[string]string // the prepay's fields, for idempotency

	prepayCalls    int
	notifications  int // notifications triggered (before drop and duplicate faults)
	notifyAttempts int // HTTP deliveries attempted
	notifyAcked    int
}

// totalAmount is the amount orderQuery reports.
func (o *order) totalAmount() string {
	if o.reportedAmount != "" {
		return o.reportedAmount
	}
	return o.amount
}

// queryData is the data of orderQuery (docs/mos.md): amounts as decimal strings, times as ms
// numbers. Notifications carry the same fields.
func (o *order) queryData() map[string]any {
	return map[string]any{
		"openid":      o.openid,
		"prepayId":    o.prepayID,
		"outTradeNo":  o.outTradeNo,
		"country":     "KH",
		"currency":    string(o.currency),
		"totalAmount": o.totalAmount(),
		"desc":        o.desc,
		"status":      o.status,
		"expireTime":  o.expireTime,
		"createTime":  o.createTime,
	}
}

// OrderView is the sandbox's view of an order, as GET /sandbox/orders/{outTradeNo} answers it.
type OrderView struct {
	OutTradeNo     string `json:"outTradeNo"`
	PrepayID       string `json:"prepayId"`
	OpenID         string `json:"openid"`
	MchID          string `json:"mcId"`
	Currency       string `json:"currency"`
	TotalAmount    string `json:"totalAmount"`   // what orderQuery reports now
	PrepaidAmount  string `json:"prepaidAmount"` // what prepay asked for, canonical
	Desc           string `json:"desc"`
	NotifyURL      string `json:"notifyUrl"`
	Status         string `json:"status"`
	ExpireTime     int64  `json:"expireTime"`
	CreateTime     int64  `json:"createTime"`
	PrepayCalls    int    `json:"prepayCalls"`
	Notifications  int    `json:"notifications"`
	NotifyAttempts int    `json:"notifyAttempts"`
	NotifyAcked    int    `json:"notifyAcked"`
}

func (o *order) view() OrderView {
	return OrderView{
		OutTradeNo:     o.outTradeNo,
		PrepayID:       o.prepayID,
		OpenID:         o.openid,
		MchID:          o.mchID,
		Currency:       string(o.currency),
		TotalAmount:    o.totalAmount(),
		PrepaidAmount:  o.amount,
		Desc:           o.desc,
		NotifyURL:      o.notifyURL,
		Status:         o.status,
		ExpireTime:     o.expireTime,
		CreateTime:     o.createTime,
		PrepayCalls:    o.prepayCalls,
		Notifications:  o.notifications,
		NotifyAttempts: o.notifyAttempts,
		NotifyAcked:    o.notifyAcked,
	}
}

// Order returns the sandbox's view of the order outTradeNo, if it was prepaid.
func (s *Server) Order(outTradeNo string) (OrderView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return OrderView{}, false
	}
	return o.view(), true
}
