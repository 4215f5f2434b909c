package mos_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
)

// The notification tests sign with the vectors' key and secret ("k1", "s3"), through
// apptest.SignedJSON (an external test package may import apptest, which imports mos).
const (
	nKey    = "k1"
	nSecret = "s3"
)

// TestParseNotification: only a body signed with our secret for our appKey is accepted, and it
// comes back in mospay's terms, its amount read.
func TestParseNotification(t *testing.T) {
	good := apptest.SignedJSON(map[string]string{"outTradeNo": "o1", "status": "SUCCESS", "totalAmount": "16.99", "currency": "USD"}, nKey, nSecret)
	form := url.Values{"outTradeNo": {"o1"}, "status": {"SUCCESS"}, "appKey": {nKey}}
	form.Set("sign", mos.Sign(map[string]string{"outTradeNo": "o1", "status": "SUCCESS", "appKey": nKey}, nSecret))
	// A JSON number is signed as its text: 1699 as a number and "1699" verify alike.
	numFields := map[string]string{"outTradeNo": "o1", "n": "1732262400000", "appKey": nKey}
	numBody := `{"outTradeNo":"o1","n":1732262400000,"appKey":"k1","sign":"` + mos.Sign(numFields, nSecret) + `"}`
	tests := []struct {
		name, ct, body string
		secret         string
		err            error
		malformed      bool
	}{
		{"json", "application/json", string(good), nSecret, nil, false},
		{"form", "application/x-www-form-urlencoded", form.Encode(), nSecret, nil, false},
		{"json number", "application/json", numBody, nSecret, nil, false},
		{"wrong secret", "application/json", string(good), "other", mos.ErrBadSignature, false},
		{"tampered amount", "application/json", string(replace(good, "16.99", "1.99")), nSecret, mos.ErrBadSignature, false},
		{"no sign", "application/json", `{"outTradeNo":"o1","appKey":"k1"}`, nSecret, mos.ErrBadSignature, false},
		{"other appKey", "application/json", `{"appKey":"k2","sign":"` + mos.Sign(map[string]string{"appKey": "k2"}, nSecret) + `"}`, nSecret, mos.ErrBadSignature, false},
		{"not json", "application/json", `{"outTradeNo":`, nSecret, nil, true},
		{"duplicate key", "application/json", `{"appKey":"k1","appKey":"k1"}`, nSecret, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := mos.ParseNotification(tt.ct, []byte(tt.body), nKey, tt.secret)
			switch {
			case tt.malformed:
				if err == nil || errors.Is(err, mos.ErrBadSignature) {
					t.Fatalf("err = %v, want a malformed-body error", err)
				}
			case !errors.Is(err, tt.err):
				t.Fatalf("err = %v, want %v", err, tt.err)
			case err == nil && (n.OutTradeNo != "o1" || n.RawBody != tt.body || n.ContentType != tt.ct):
				t.Fatalf("notification = %+v", n)
			}
		})
	}
}

func replace(b []byte, old, new string) []byte {
	s := string(b)
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return []byte(s[:i] + new + s[i+len(old):])
		}
	}
	return b
}

// FuzzNotify feeds arbitrary bodies to the notification parser and verifier: it must never
// panic, never accept a body whose signature it did not check, and always accept a body we
// signed ourselves.
func FuzzNotify(f *testing.F) {
	f.Add([]byte(`{"outTradeNo":"o1","status":"SUCCESS"}`), "application/json", "16.99")
	f.Add([]byte(`outTradeNo=o1&status=SUCCESS`), "application/x-www-form-urlencoded", "4000")
	f.Add([]byte(`{"a":{"b":[1,2]},"n":1e3,"x":null}`), "application/json", " 1 ")
	f.Add([]byte(``), "", "")
	f.Fuzz(func(t *testing.T, body []byte, ct, amount string) {
		if _, err := mos.ParseNotification(ct, body, nKey, nSecret); err == nil {
			fields, derr := mos.DecodeFields(ct, body)
			if derr != nil || !mos.Verify(fields, nSecret) {
				t.Fatalf("accepted an unverified body: %q", body)
			}
		}
		// Whatever the amount text, a body we sign verifies, and changing the amount breaks it.
		signed := map[string]string{"outTradeNo": "o1", "totalAmount": amount, "appKey": nKey}
		signed["sign"] = mos.Sign(signed, nSecret)
		form := url.Values{}
		for k, v := range signed {
			form.Set(k, v)
		}
		if _, err := mos.ParseNotification("application/x-www-form-urlencoded", []byte(form.Encode()), nKey, nSecret); err != nil {
			t.Fatalf("own signature refused for amount %q: %v", amount, err)
		}
		form.Set("totalAmount", amount+"0")
		if _, err := mos.ParseNotification("application/x-www-form-urlencoded", []byte(form.Encode()), nKey, nSecret); err == nil {
			t.Fatalf("tampered amount %q accepted", amount+"0")
		}
	})
}

// TestNotificationAmount: the amount a notification claims is read in its own currency,
// leniently; one mospay cannot read is kept as sent and marked unreadable.
func TestNotificationAmount(t *testing.T) {
	tests := []struct {
		amount, currency string
		want             *order.ReportedAmount
	}{
		{"16.99", "USD", order.Reported(money.Amount{Minor: 1699, Currency: money.USD})},
		{"4000.00", "KHR", &order.ReportedAmount{Amount: money.Amount{Minor: 4000, Currency: money.KHR}, Readable: true, Raw: "4000.00", Currency: "KHR"}},
		{"16.99", "EUR", &order.ReportedAmount{Raw: "16.99", Currency: "EUR"}},
		{"abc", "USD", &order.ReportedAmount{Raw: "abc", Currency: "USD"}},
		{"16.99", "", &order.ReportedAmount{Raw: "16.99"}},
		{"", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.amount+"/"+tt.currency, func(t *testing.T) {
			t.Parallel()
			f := map[string]string{"outTradeNo": "o1", "status": "SUCCESS", "totalAmount": tt.amount, "currency": tt.currency}
			n, err := mos.ParseNotification("application/json", apptest.SignedJSON(f, nKey, nSecret), nKey, nSecret)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(n.Amount, tt.want) {
				t.Fatalf("amount = %+v, want %+v", n.Amount, tt.want)
			}
			if n.Status != "SUCCESS" {
				t.Fatalf("status = %q", n.Status)
			}
		})
	}
}

// TestSignedContentOfVariants: byte variants of one signed notification that the signature does
// not see (spacing, key order, padding trimmed from values, escapes, empty and null fields, form
// encoding) all verify and have one mos.SignedContent; a different signed value has another.
func TestSignedContentOfVariants(t *testing.T) {
	fields := map[string]string{"outTradeNo": "o1", "status": "SUCCESS", "totalAmount": "16.99", "currency": "USD", "appKey": nKey}
	sign := mos.Sign(fields, nSecret)
	pad := func(n int) string { return strings.Repeat(" ", n) }
	form := url.Values{"outTradeNo": {"o1"}, "status": {" SUCCESS"}, "totalAmount": {"16.99"}, "currency": {"USD"}, "appKey": {nKey}, "sign": {sign}}
	variants := []struct{ ct, body string }{
		{"application/json", `{"outTradeNo":"o1","status":"SUCCESS","totalAmount":"16.99","currency":"USD","appKey":"k1","sign":"` + sign + `"}`},
		{"application/json", ` { "sign" : "` + sign + `" , "appKey":"k1","currency":"USD","totalAmount":"16.99","status":"SUCCESS","outTradeNo":"o1" } `},
		{"application/json", `{"outTradeNo":"` + pad(200<<10) + `o1` + pad(200<<10) + `","status":"SUCCESS","totalAmount":"16.99","currency":"USD","appKey":"k1","sign":"` + sign + `"}`},
		{"application/json", `{"outTradeNo":"o1","status":"\u0053UCCESS","totalAmount":16.99,"currency":"USD","appKey":"k1","sign":"` + sign + `","extra":"","x":null}`},
		{"application/x-www-form-urlencoded", form.Encode()},
	}
	var want string
	for i, v := range variants {
		n, err := mos.ParseNotification(v.ct, []byte(v.body), nKey, nSecret)
		if err != nil {
			t.Fatalf("variant %d: %v", i, err)
		}
		if i == 0 {
			want = n.Signed
		}
		if n.Signed != want || len(n.Signed) > 200 {
			t.Fatalf("variant %d: signed content %q, want %q", i, n.Signed, want)
		}
	}
	if !strings.Contains(want, `"sign":"`+sign+`"`) || !strings.Contains(want, `"outTradeNo":"o1"`) {
		t.Fatalf("signed content %q lacks the sign or a field", want)
	}
	other := map[string]string{"outTradeNo": "o1", "status": "REFUNDED", "appKey": nKey}
	other["sign"] = mos.Sign(other, nSecret)
	if mos.SignedContent(other) == want {
		t.Fatal("another signed status has the same signed content")
	}
}
