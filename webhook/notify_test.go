package webhook

import (
	"errors"
	"net/url"
	"testing"

	"github.com/mospay/mospay/mos"
)

const (
	testKey    = "k1"
	testSecret = "s3"
)

func signedJSON(fields map[string]string) []byte {
	fields["appKey"] = testKey
	fields["sign"] = mos.Sign(fields, testSecret)
	b := []byte("{")
	first := true
	for k, v := range fields {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, []byte(`"`+k+`":"`+v+`"`)...)
	}
	return append(b, '}')
}

func TestVerify(t *testing.T) {
	good := signedJSON(map[string]string{"outTradeNo": "o1", "status": "SUCCESS", "totalAmount": "16.99", "currency": "USD"})
	form := url.Values{"outTradeNo": {"o1"}, "status": {"SUCCESS"}, "appKey": {testKey}}
	form.Set("sign", mos.Sign(map[string]string{"outTradeNo": "o1", "status": "SUCCESS", "appKey": testKey}, testSecret))
	// A JSON number is signed as its text: 1699 as a number and "1699" verify alike.
	numFields := map[string]string{"outTradeNo": "o1", "n": "1732262400000", "appKey": testKey}
	numBody := `{"outTradeNo":"o1","n":1732262400000,"appKey":"k1","sign":"` + mos.Sign(numFields, testSecret) + `"}`
	tests := []struct {
		name, ct, body string
		secret         string
		err            error
		malformed      bool
	}{
		{"json", "application/json", string(good), testSecret, nil, false},
		{"form", "application/x-www-form-urlencoded", form.Encode(), testSecret, nil, false},
		{"json number", "application/json", numBody, testSecret, nil, false},
		{"wrong secret", "application/json", string(good), "other", ErrBadSignature, false},
		{"tampered amount", "application/json", string(replace(good, "16.99", "1.99")), testSecret, ErrBadSignature, false},
		{"no sign", "application/json", `{"outTradeNo":"o1","appKey":"k1"}`, testSecret, ErrBadSignature, false},
		{"other appKey", "application/json", `{"appKey":"k2","sign":"` + mos.Sign(map[string]string{"appKey": "k2"}, testSecret) + `"}`, testSecret, ErrBadSignature, false},
		{"not json", "application/json", `{"outTradeNo":`, testSecret, nil, true},
		{"duplicate key", "application/json", `{"appKey":"k1","appKey":"k1"}`, testSecret, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Verify(tt.ct, []byte(tt.body), testKey, tt.secret)
			switch {
			case tt.malformed:
				if err == nil || errors.Is(err, ErrBadSignature) {
					t.Fatalf("err = %v, want a malformed-body error", err)
				}
			case !errors.Is(err, tt.err):
				t.Fatalf("err = %v, want %v", err, tt.err)
			case err == nil && f["outTradeNo"] != "o1":
				t.Fatalf("fields = %v", f)
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
		fields, err := Verify(ct, body, testKey, testSecret)
		if err == nil && !mos.Verify(fields, testSecret) {
			t.Fatalf("accepted an unverified body: %q", body)
		}
		// Whatever the amount text, a body we sign verifies, and changing the amount breaks it.
		signed := map[string]string{"outTradeNo": "o1", "totalAmount": amount, "appKey": testKey}
		signed["sign"] = mos.Sign(signed, testSecret)
		form := url.Values{}
		for k, v := range signed {
			form.Set(k, v)
		}
		if _, err := Verify("application/x-www-form-urlencoded", []byte(form.Encode()), testKey, testSecret); err != nil {
			t.Fatalf("own signature refused for amount %q: %v", amount, err)
		}
		form.Set("totalAmount", amount+"0")
		if _, err := Verify("application/x-www-form-urlencoded", []byte(form.Encode()), testKey, testSecret); err == nil {
			t.Fatalf("tampered amount %q accepted", amount+"0")
		}
	})
}
