package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mospay/mospay/order"
)

// FuzzMerchantCreateBody feeds arbitrary bytes to the POST /merchant/orders body parser. It must
// never panic, and whatever it accepts is within the documented bounds: one object of valid UTF-8
// with only the body's own keys, a reference of 1 to 64 visible ASCII characters, and a flat
// metadata map of at most 20 string values under keys of at most 40 characters, each value at
// most 500 characters without control characters; and it reads what encoding/json reads.
func FuzzMerchantCreateBody(f *testing.F) {
	f.Add([]byte(`{"userId":"u1","totalAmount":"16.99","currency":"USD","desc":"Coffee","reference":"ORD-1","metadata":{"cart":"c-1"}}`))
	f.Add([]byte(`{"userId":"u1","totalAmount":"1.00","currency":"USD","reference":"R","metadata":{"a":{"b":"c"}}}`))
	f.Add([]byte(`{"userId":"u1","totalAmount":"1.00","currency":"USD","reference":"R","metadata":{"a":null}}`))
	f.Add([]byte(`{"userId":"u1","totalAmount":"1.00","currency":"USD","reference":"R","metadata":{"a":"1","a":"2"}}`))
	f.Add([]byte(`{"reference":"R","metadata":{"` + strings.Repeat("k", 41) + `":"v"}}`))
	f.Add([]byte(`{"reference":"R","metadata":{"k":"` + strings.Repeat("v", 501) + `"}}`))
	f.Add([]byte(`{"reference":"R","metadata":{"k":"\u0000"}}`))
	f.Add([]byte(`{"reference":"R","metadata":[["a"]]}`))
	f.Add([]byte(`{"reference":"R R","metadata":{}}`))
	many := map[string]string{}
	for _, k := range strings.Split("a b c d e f g h i j k l m n o p q r s t u", " ") {
		many[k] = k
	}
	b, _ := json.Marshal(map[string]any{"reference": "R", "metadata": many})
	f.Add(b)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeMerchantCreate(body)
		if err != nil {
			if order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("refused with %q, want invalid_request: %v", order.ErrorCode(err), err)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		if !referenceRe(r.Reference) {
			t.Fatalf("accepted the reference %q", r.Reference)
		}
		if len(r.Metadata) > order.MaxMetadataKeys {
			t.Fatalf("accepted %d metadata keys", len(r.Metadata))
		}
		for k, v := range r.Metadata {
			if k == "" || len(k) > order.MaxMetadataKeyLen || strings.ContainsFunc(k, func(c rune) bool {
				return !(c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("_.:-", c)))
			}) {
				t.Fatalf("accepted the metadata key %q", k)
			}
			if utf8.RuneCountInString(v) > order.MaxMetadataValueLen || strings.ContainsFunc(v, func(c rune) bool {
				return unicode.IsControl(c) || unicode.Is(unicode.Cf, c)
			}) {
				t.Fatalf("accepted the metadata value %q", v)
			}
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(body, &keys); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %q", body)
		}
		for k := range keys {
			if !jsonFields(&merchantCreateBody{})[k] {
				t.Fatalf("accepted the key %q", k)
			}
		}
		var want struct {
			UserID, TotalAmount, Currency, Desc, Reference string
			Metadata                                       map[string]string
		}
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("encoding/json refuses what was accepted (%v): %q", err, body)
		}
		got := order.MerchantCreateRequest{UserID: want.UserID, TotalAmount: want.TotalAmount, Currency: want.Currency, Desc: want.Desc,
			Reference: want.Reference, Metadata: want.Metadata}
		if len(got.Metadata) == 0 && len(r.Metadata) == 0 {
			got.Metadata, r.Metadata = nil, nil
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("read %+v, encoding/json reads %+v", r, got)
		}
	})
}

// referenceRe is the reference's rule, restated: 1 to 64 characters from '!' to '~'.
func referenceRe(s string) bool {
	if len(s) < 1 || len(s) > order.MaxReferenceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}
