package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// bindStrict decodes a JSON object body into dst (a pointer to a struct with json tags) and
// refuses, with 400 and a message naming the problem, anything a payment API should not guess
// about: invalid UTF-8 (encoding/json would replace it silently), a key given twice at any depth
// (encoding/json keeps the last: "totalAmount":"1.00", ..., "totalAmount":"9999.00"), a key that
// is not one of dst's fields as spelled (encoding/json matches case-insensitively), a value of
// the wrong type, anything nested deeper than order.MaxDepth, or anything after the object. A body over
// the limit is 413.
func bindStrict(c echo.Context, dst any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the body limit
			return err
		}
		return order.Wrap(order.EINVALID, err, "body could not be read")
	}
	return decodeStrict(body, dst)
}

// decodeStrict is bindStrict's decoding, apart from the request.
func decodeStrict(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return order.Errorf(order.EINVALID, "body is not valid UTF-8")
	}
	// Before any decoder sees it: encoding/json's decoders keep a stack per level of nesting, and
	// scanValue below descends by recursion.
	if err := checkDepth(body); err != nil {
		return err
	}
	keys, err := objectKeys(body)
	if err != nil {
		return err
	}
	fields := jsonFields(dst)
	for _, k := range keys {
		if fields[k] {
			continue
		}
		for f := range fields {
			if strings.EqualFold(f, k) {
				return order.Errorf(order.EINVALID, "field %q must be spelled %q", k, f)
			}
		}
		return order.Errorf(order.EINVALID, "unknown field %q", k)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return order.Errorf(order.EINVALID, "%s must be a %s, as text for amounts", te.Field, te.Type.Kind())
		}
		return order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
	}
	return nil
}

// checkDepth refuses a body that nests objects and arrays deeper than order.MaxDepth. It reads the
// bytes once, in constant memory and without recursion, skipping strings (whose brackets are
// text); whether the body is valid JSON is left to the decoders that run after it.
func checkDepth(body []byte) error {
	depth, inString := 0, false
	for i := 0; i < len(body); i++ {
		b := body[i]
		switch {
		case inString && b == '\\':
			i++ // the escaped byte, which may be a quote
		case b == '"':
			inString = !inString
		case inString:
		case b == '{' || b == '[':
			if depth++; depth > order.MaxDepth {
				return order.Errorf(order.EINVALID, "body is nested deeper than %d levels", order.MaxDepth)
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return nil
}

// objectKeys checks that body is exactly one JSON object with no key given twice in any object
// within it, and returns the object's own keys.
func objectKeys(body []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, order.Errorf(order.EINVALID, "body must be a JSON object")
		}
		return nil, order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, order.Errorf(order.EINVALID, "body must be a JSON object")
	}
	keys, err := scanObject(dec, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, order.Errorf(order.EINVALID, "body must be one JSON object, with nothing after it")
	}
	return keys, nil
}

// scanObject reads an object's members after its '{' up to and including its '}', refusing a key
// given twice, and returns its keys; path names the object in messages.
func scanObject(dec *json.Decoder, path string) ([]string, error) {
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, order.Errorf(order.EINVALID, "field %q is given twice", path+key)
		}
		seen[key] = true
		keys = append(keys, key)
		if err := scanValue(dec, path+key+"."); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
	}
	return keys, nil
}

// scanValue reads one value, descending into objects and arrays to find keys given twice.
func scanValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
	}
	switch tok {
	case json.Delim('{'):
		_, err := scanObject(dec, path)
		return err
	case json.Delim('['):
		for dec.More() {
			if err := scanValue(dec, path); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
		}
	}
	return nil
}

// jsonFields are the names a struct's fields take in JSON, as spelled in their tags.
func jsonFields(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields := map[string]bool{}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("api: decodeStrict into %s, want a struct", t))
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case name == "":
			fields[f.Name] = true
		default:
			fields[name] = true
		}
	}
	return fields
}
