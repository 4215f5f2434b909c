package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/mospay/mospay/order"
)

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"exact", `{"totalAmount":"1.00","currency":"USD","desc":"x"}`, true},
		{"fields left out", `{"currency":"USD"}`, true},
		{"white space", " \n{ \"currency\" : \"USD\" }\n", true},
		{"duplicate", `{"totalAmount":"1.00","totalAmount":"9999.00"}`, false},
		{"duplicate in a nested object", `{"currency":"USD","desc":{"a":1,"a":2}}`, false},
		{"duplicate in an array's object", `{"currency":"USD","desc":[{"a":1},{"b":1,"b":2}]}`, false},
		{"other case", `{"TotalAmount":"1.00"}`, false},
		{"unknown", `{"discount":"1"}`, false},
		{"invalid UTF-8", "{\"desc\":\"\xff\"}", false},
		{"number amount", `{"totalAmount":1.00}`, false},
		{"array", `[]`, false},
		{"two objects", `{}{}`, false},
		{"empty", ``, false},
		{"null", `null`, false},
		{"truncated", `{"currency":"USD"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b createBody
			err := decodeStrict([]byte(tt.body), &b)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("error code %q, want %q", order.ErrorCode(err), order.EINVALID)
			}
		})
	}
}

// FuzzCreateBody feeds arbitrary bytes to the /mp/orders body parser. It must never panic; what
// it accepts is one object of valid UTF-8 whose keys are createBody's own, and it reads it as
// encoding/json does (TestDecodeStrict holds the refusals of keys given twice).
func FuzzCreateBody(f *testing.F) {
	f.Add([]byte(`{"totalAmount":"16.99","currency":"USD","desc":"Coffee"}`))
	f.Add([]byte(`{"totalAmount":"1.00","currency":"USD","desc":"x","totalAmount":"9999.00"}`))
	f.Add([]byte(`{"TotalAmount":"1.00"}`))
	f.Add([]byte("{\"desc\":\"caf\xe9\"}"))
	f.Add([]byte(`{"desc":{"a":[1,{"b":null}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got createBody
		if decodeStrict(body, &got) != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(body, &keys); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %q", body)
		}
		for k := range keys {
			if k != "totalAmount" && k != "items" && k != "currency" && k != "desc" {
				t.Fatalf("accepted the key %q", k)
			}
		}
		var want createBody
		if err := json.Unmarshal(body, &want); err != nil || !reflect.DeepEqual(want, got) {
			t.Fatalf("read %+v, encoding/json reads %+v (%v)", got, want, err)
		}
	})
}
