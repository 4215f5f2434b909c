package mos

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// The vectors of docs/mos.md, computed with MOS's own Java signer (secret "s3"). They are not to
// be regenerated with our code.
func TestSignVectors(t *testing.T) {
	const secret = "s3"
	tests := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{"worked example", map[string]string{"appKey": "k1", "code": "abc"}, "56bfe506b6901917efce076b8f1fb475"},
		{"spaces only kept as empty", map[string]string{"appKey": "k1", "code": "abc", "note": "  "}, "bc9dc303084c6a6894480b5f2f643133"},
		{"empty dropped", map[string]string{"appKey": "k1", "code": "abc", "note": ""}, "56bfe506b6901917efce076b8f1fb475"},
		{"value trimmed", map[string]string{"appKey": "k1", "code": " abc\t\n"}, "56bfe506b6901917efce076b8f1fb475"},
		{"sign ignored", map[string]string{"appKey": "k1", "code": "abc", "sign": "deadbeef"}, "56bfe506b6901917efce076b8f1fb475"},
		{"control character trimmed, key kept", map[string]string{"appKey": "k1", "code": "abc", "z": "\u0001"}, "fc064bf669f17c2d5ae1324bffe355a2"},
		{"unicode and numbers as text", map[string]string{"appKey": "k1", "desc": "Café ☕ 咖啡", "totalAmount": "16.99", "expireTime": "1732262400000"}, "fbcefff9a32f56070ed87f370f789c90"},
		{"no-break space not trimmed", map[string]string{"appKey": "k1", "desc": "\u00a0x\u00a0"}, "649d13e77a3279ab2ad89dd626986a35"},
		{"JSON number as its text", map[string]string{"appKey": "k1", "code": "abc", "n": "1732262400000"}, "b3925939de8350aa25f4840c49873642"},
		{"upper case sorts first", map[string]string{"appKey": "k1", "B": "x", "a": "y"}, "aaad081c0b804e2cdfacfea4c9dab966"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Sign(tt.fields, secret); got != tt.want {
				t.Fatalf("Sign = %s, want %s", got, tt.want)
			}
			signed := maps.Clone(tt.fields)
			signed["sign"] = tt.want
			if !Verify(signed, secret) {
				t.Fatal("Verify refused the vector")
			}
		})
	}
}

func TestSigningString(t *testing.T) {
	tests := []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"code": "abc", "appKey": "k1"}, "appKey=k1&code=abc&secret=s3"},
		{map[string]string{"appKey": "k1", "note": "  "}, "appKey=k1&note=&secret=s3"},
		{map[string]string{"appKey": "k1", "B": "x", "a": "y", "sign": "x"}, "B=x&a=y&appKey=k1&secret=s3"},
		{map[string]string{}, "secret=s3"},
	}
	for _, tt := range tests {
		if got := SigningString(tt.fields, "s3"); got != tt.want {
			t.Errorf("SigningString(%v) = %q, want %q", tt.fields, got, tt.want)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	const secret = "s3"
	good := map[string]string{"appKey": "k1", "code": "abc", "sign": "56bfe506b6901917efce076b8f1fb475"}
	with := func(k, v string) map[string]string {
		m := maps.Clone(good)
		m[k] = v
		return m
	}
	without := func(k string) map[string]string {
		m := maps.Clone(good)
		delete(m, k)
		return m
	}
	tests := []struct {
		name   string
		fields map[string]string
		secret string
	}{
		{"tampered value", with("code", "abd"), secret},
		{"added field", with("extra", "1"), secret},
		{"removed field", without("code"), secret},
		{"missing sign", without("sign"), secret},
		{"empty sign", with("sign", ""), secret},
		{"upper-case sign", with("sign", strings.ToUpper(good["sign"])), secret},
		{"short sign", with("sign", good["sign"][:31]), secret},
		{"long sign", with("sign", good["sign"]+"0"), secret},
		{"wrong secret", good, "s4"},
		{"empty secret", good, ""},
	}
	if !Verify(good, secret) {
		t.Fatal("Verify refused the good body")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if Verify(tt.fields, tt.secret) {
				t.Fatal("Verify accepted")
			}
		})
	}
}

func FuzzSignVerify(f *testing.F) {
	f.Add("appKey", "k1", "code", "abc", "s3")
	f.Add("desc", "Café ☕ 咖啡", "totalAmount", "16.99", "secret")
	f.Add("note", "  ", "z", "\u0001", "s3")
	f.Add("desc", "\u00a0x\u00a0", "n", "1732262400000", "")
	f.Add("a=b", "c&d", "sign", "deadbeef", "&secret=")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, secret string) {
		fields := map[string]string{"appKey": "k1", k1: v1, k2: v2}
		fields["sign"] = Sign(fields, secret)
		if !Verify(fields, secret) {
			t.Fatalf("round trip failed for %q", fields)
		}
		// Changing a signed value so that it still differs after trimming must fail.
		for _, k := range []string{k1, k2} {
			if k == "sign" || fields[k] == "" {
				continue
			}
			m := maps.Clone(fields)
			m[k] = "x" + fields[k]
			if Verify(m, secret) {
				t.Fatalf("tampered %q still verifies", k)
			}
		}
	})
}

func TestDecodeFields(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        map[string]string
		err         error
	}{
		{
			name: "numbers keep their text",
			body: `{"expireTime":1732262400000,"totalAmount":16.990,"big":123456789012345678901234567890,"neg":-1.5e3}`,
			want: map[string]string{"expireTime": "1732262400000", "totalAmount": "16.990", "big": "123456789012345678901234567890", "neg": "-1.5e3"},
		},
		{
			name: "strings, booleans, null dropped",
			body: ` {"a":"x\u00e9","b":true,"c":false,"d":null,"e":""} `,
			want: map[string]string{"a": "xé", "b": "true", "c": "false", "e": ""},
		},
		{
			name: "nested values as compact JSON",
			body: `{"o": { "k" : [1, 2.50 ] }, "l":[ ]}`,
			want: map[string]string{"o": `{"k":[1,2.50]}`, "l": `[]`},
		},
		{
			name:        "JSON with charset",
			contentType: "application/json; charset=utf-8",
			body:        `{"a":"1"}`,
			want:        map[string]string{"a": "1"},
		},
		{
			name:        "form",
			contentType: "application/x-www-form-urlencoded",
			body:        "appKey=k1&desc=Caf%C3%A9+%E2%98%95&totalAmount=16.990&empty=",
			want:        map[string]string{"appKey": "k1", "desc": "Café ☕", "totalAmount": "16.990", "empty": ""},
		},
		{
			name:        "form with charset",
			contentType: "application/x-www-form-urlencoded; charset=UTF-8",
			body:        "a=1",
			want:        map[string]string{"a": "1"},
		},
		{name: "JSON duplicate", body: `{"a":"1","a":"2"}`, err: ErrDuplicateField},
		{name: "JSON duplicate with null", body: `{"a":null,"a":"2"}`, err: ErrDuplicateField},
		{name: "form duplicate", contentType: "application/x-www-form-urlencoded", body: "a=1&a=2", err: ErrDuplicateField},
		{name: "form malformed", contentType: "application/x-www-form-urlencoded", body: "a=%zz", err: ErrBody},
		{name: "empty body", body: "", err: ErrBody},
		{name: "array", body: `[1]`, err: ErrBody},
		{name: "trailing data", body: `{"a":"1"}{"b":"2"}`, err: ErrBody},
		{name: "truncated", body: `{"a":"1"`, err: ErrBody},
		{name: "bad number", body: `{"a":01}`, err: ErrBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeFields(tt.contentType, []byte(tt.body))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil && !maps.Equal(got, tt.want) {
				t.Fatalf("fields = %q, want %q", got, tt.want)
			}
		})
	}
}

// A body decoded by DecodeFields verifies against the sign of the values it was built from: the
// JSON number 1732262400000 is signed as its text (a docs/mos.md vector).
func TestDecodeFieldsThenVerify(t *testing.T) {
	body := `{"appKey":"k1","code":"abc","n":1732262400000,"sign":"b3925939de8350aa25f4840c49873642"}`
	fields, err := DecodeFields("application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(fields, "s3") {
		t.Fatal("Verify refused the number vector")
	}
}
