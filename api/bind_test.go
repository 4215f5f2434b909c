package api

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
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
		{"nested too deeply", `{"desc":` + strings.Repeat("[", 8) + strings.Repeat("]", 8) + `}`, false},
		{"a million brackets", `{"code":` + strings.Repeat("[", 1<<20), false},
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

func TestCheckDepth(t *testing.T) {
	nest := func(n int, open, end string) string { return strings.Repeat(open, n) + strings.Repeat(end, n) }
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"flat", `{"currency":"USD"}`, true},
		{"eight levels", `{"a":` + nest(7, "[", "]") + `}`, true},
		{"eight levels of objects", nest(8, `{"a":`, `}`), true},
		{"nine levels", `{"a":` + nest(8, "[", "]") + `}`, false},
		{"nine levels, mixed", `{"a":[{"b":[{"c":[{"d":[{"e":1}]}]}]}]}`, false},
		{"unclosed", `{"code":` + strings.Repeat("[", 976<<10), false},
		{"brackets in a string are text", `{"a":"` + strings.Repeat("[", 100) + `"}`, true},
		{"an escaped quote does not end the string", `{"a":"\"` + strings.Repeat("[", 100) + `"}`, true},
		{"an escaped backslash does", `{"a":"\\"` + strings.Repeat("[", 9) + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDepth([]byte(tt.body))
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("error code %q, want %q", order.ErrorCode(err), order.EINVALID)
			}
		})
	}
}

// tokenDepth is how deeply body nests, as encoding/json's tokenizer reads it (the fuzz target's
// oracle, independent of checkDepth).
func tokenDepth(body []byte) int {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
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
	// Deep nesting: refused before any decoder descends into it.
	f.Add([]byte(`{"desc":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`))
	f.Add([]byte(`{"desc":` + strings.Repeat(`{"a":`, 9) + `1` + strings.Repeat("}", 9) + `}`))
	f.Add([]byte(`{"code":` + strings.Repeat("[", 100000)))
	f.Add([]byte(`{"desc":"` + strings.Repeat("[", 100) + `\"` + strings.Repeat("{", 100) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got createBody
		if decodeStrict(body, &got) != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		if d := tokenDepth(body); d > order.MaxDepth {
			t.Fatalf("accepted a body nested %d levels deep: %.200q", d, body)
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
