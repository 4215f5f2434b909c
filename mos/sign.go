package mos

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"sort"
	"strings"
)

// SignField is the name of the field that carries the signature in every MOS body.
const SignField = "sign"

// SigningString is the text whose MD5 is the signature (docs/mos.md "Signing"): every field but
// sign, empty values dropped, sorted by key, values trimmed as Java's String.trim does, joined
// as key=value with '&', then "&secret=" and the secret. It exists for tests and debugging only;
// it holds the secret, so it must never be logged.
func SigningString(fields map[string]string, secret string) string {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		// The emptiness check is on the untrimmed value: "  " is kept (as "k=").
		if k == SignField || v == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(javaTrim(fields[k]))
		b.WriteByte('&')
	}
	b.WriteString("secret=")
	b.WriteString(secret)
	return b.String()
}

// SignedContent is what a signature covers, in one canonical text: the fields SigningString
// signs (empty values dropped, values trimmed) and sign itself, as a JSON object with sorted
// keys. Two bodies that differ only in what the signature does not see (spacing, key order,
// padding trimmed from a value, escapes, a field that is empty or null) have the same
// SignedContent; it holds no secret, and is no longer than what the signer signed.
func SignedContent(fields map[string]string) string {
	signed := make(map[string]string, len(fields))
	for k, v := range fields {
		switch {
		case k == SignField:
			signed[k] = v
		case v != "":
			signed[k] = javaTrim(v)
		}
	}
	b, _ := json.Marshal(signed) // a map of strings always marshals
	return string(b)
}

// javaTrim removes leading and trailing bytes up to and including U+0020, as Java's String.trim
// does with chars. Those are all ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte
// sequence, so trimming bytes is exact and leaves U+00A0 and other Unicode spaces alone.
func javaTrim(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

// Sign returns the lower-case hex MD5 signature of fields under secret, the value MOS expects
// in (and puts into) the sign field. A sign already in fields is ignored.
func Sign(fields map[string]string, secret string) string {
	sum := md5.Sum([]byte(SigningString(fields, secret)))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether fields["sign"] is the signature of fields under secret. The comparison
// is in constant time, and only the exact lower-case 32-digit form is accepted.
func Verify(fields map[string]string, secret string) bool {
	got, ok := fields[SignField]
	if !ok || len(got) != md5.Size*2 {
		return false
	}
	want := Sign(fields, secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Errors of DecodeFields, wrapped with detail.
var (
	// ErrBody means the body is not a single flat-enough JSON object or form that can be signed.
	ErrBody = errors.New("mos: malformed body")
	// ErrDuplicateField means a key appears twice, which would make the signature ambiguous.
	ErrDuplicateField = errors.New("mos: duplicate field")
)

// DecodeFields reads a MOS-signed body into the string fields its signature covers, exactly as
// the sender signed them. A form body (contentType application/x-www-form-urlencoded) gives its
// values; anything else is read as one JSON object where strings are unquoted, numbers keep
// their literal text ("16.990" stays "16.990", never a float), booleans become "true" or
// "false", null drops the field, and nested objects or arrays become their compact JSON text.
// A key that appears twice is an error (ErrDuplicateField): the two readers of such a body could
// disagree on which value was signed.
func DecodeFields(contentType string, body []byte) (map[string]string, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "application/x-www-form-urlencoded" {
		return decodeForm(body)
	}
	return decodeJSON(body)
}

func decodeForm(body []byte) (map[string]string, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form: %w", ErrBody, err)
	}
	fields := make(map[string]string, len(vals))
	for k, vs := range vals {
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateField, k)
		}
		fields[k] = vs[0]
	}
	return fields, nil
}

func decodeJSON(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBody, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrBody)
	}
	fields := make(map[string]string)
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBody, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: object key expected", ErrBody)
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateField, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrBody, key, err)
		}
		v, keep, err := fieldText(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrBody, key, err)
		}
		if keep {
			fields[key] = v
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%w: %w", ErrBody, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBody)
	}
	return fields, nil
}

// fieldText is the text a JSON value is signed as; keep is false for null.
func fieldText(raw json.RawMessage) (text string, keep bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false, errors.New("empty value")
	}
	switch raw[0] {
	case 'n':
		return "", false, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return "", false, err
		}
		return b.String(), true, nil
	default: // a number's literal text, true or false
		return string(raw), true, nil
	}
}
