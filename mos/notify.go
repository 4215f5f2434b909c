package mos

import (
	"crypto/subtle"
	"errors"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// ErrBadSignature is a notification whose sign does not match, or that names another appKey:
// forged, tampered with, or meant for another mini-app.
var ErrBadSignature = errors.New("mos: bad signature")

// ParseNotification reads a notification MOS posted to notifyUrl, verifies that it is MOS's
// (our appKey, signed with our appSecret, compared in constant time) and returns it in mospay's
// terms, so that MOS's field names stay in this package. Errors: ErrBody or ErrDuplicateField
// (wrapped) for a body that cannot be read as one signed object, ErrBadSignature.
func ParseNotification(contentType string, body []byte, appKey, secret string) (order.Notification, error) {
	fields, err := DecodeFields(contentType, body)
	if err != nil {
		return order.Notification{}, err
	}
	if subtle.ConstantTimeCompare([]byte(fields["appKey"]), []byte(appKey)) != 1 || !Verify(fields, secret) {
		return order.Notification{}, ErrBadSignature
	}
	// Exactly the values the signature covered: trimmed as the signing rule trims them, so that
	// " USD " (which verifies as "USD") reads as "USD".
	signed := func(k string) string { return javaTrim(fields[k]) }
	return order.Notification{
		OutTradeNo:  signed("outTradeNo"),
		PrepayID:    signed("prepayId"),
		OpenID:      signed("openid"),
		Status:      signed("status"),
		Amount:      readAmount(signed("totalAmount"), signed("currency")),
		Signed:      SignedContent(fields),
		RawBody:     string(body),
		ContentType: contentType,
	}, nil
}

// readAmount reads an amount MOS reported as text, leniently ("4000.00" is 4000 KHR): nil when
// MOS reported neither an amount nor a currency, unreadable when the currency is not one mospay
// takes or the text is not an amount in it.
func readAmount(raw, currency string) *order.ReportedAmount {
	if raw == "" && currency == "" {
		return nil
	}
	r := &order.ReportedAmount{Raw: raw, Currency: currency}
	cur, err := money.ParseCurrency(currency)
	if err != nil {
		return r
	}
	minor, err := money.ParseLenient(raw, cur)
	if err != nil {
		return r
	}
	r.Amount, r.Readable = money.Amount{Minor: minor, Currency: cur}, true
	return r
}
