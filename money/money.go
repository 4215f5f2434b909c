// Package money turns decimal amount text into integer minor units per currency and back.
//
// Money is never a float in mospay: amounts arrive as decimal strings ("16.99"), are stored and
// compared as int64 minor units (1699 cents) together with their currency, and go back out in
// canonical text. The arithmetic is done by shopspring/decimal, a well-kept arbitrary-precision
// library, so that overflow and rounding cannot slip in; the accepted grammar is ours and strict.
package money

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 code that MOS accepts.
type Currency string

// The currencies MOS takes (docs/mos.md).
const (
	// USD has cents: two decimals.
	USD Currency = "USD"
	// KHR is used in whole riel: no minor unit in practice, a fractional riel is refused.
	KHR Currency = "KHR"
)

// Currencies lists every supported currency, in a stable order.
var Currencies = []Currency{USD, KHR}

// Errors returned by the parsers, each wrapped with a message that names the problem. Callers
// tell a malformed request (ErrSyntax, ErrCurrency) from one that is well formed but cannot be
// taken (ErrPrecision, ErrRange).
var (
	// ErrSyntax: the text is not a plain decimal number.
	ErrSyntax = errors.New("malformed amount")
	// ErrCurrency: the currency is not one MOS takes.
	ErrCurrency = errors.New("unsupported currency")
	// ErrPrecision: more decimals than the currency has.
	ErrPrecision = errors.New("too many decimals")
	// ErrRange: zero, or above the allowed maximum, or too large to hold.
	ErrRange = errors.New("amount out of range")
)

// ParseCurrency accepts exactly the upper-case code of a supported currency.
func ParseCurrency(s string) (Currency, error) {
	for _, c := range Currencies {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %q (use USD or KHR)", ErrCurrency, s)
}

// Decimals is the number of minor-unit digits the currency is used with.
func (c Currency) Decimals() int32 {
	switch c {
	case USD:
		return 2
	default:
		return 0
	}
}

// Valid reports whether c is a supported currency.
func (c Currency) Valid() bool {
	_, err := ParseCurrency(string(c))
	return err == nil
}

// strict is the only shape a client may send: digits, no leading zero, an optional fraction.
// No sign, exponent, hex, white space, thousands separator, or lone dot.
var strict = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// maxTextLen bounds the input before any arithmetic: no real amount is longer.
const maxTextLen = 32

// Parse reads a client's amount strictly: s must match the grammar above, have at most the
// currency's decimals (a trailing zero counts: "16.990" is refused for USD), be positive, and be
// at most max minor units (max <= 0 means only the int64 limit).
func Parse(s string, c Currency, max int64) (int64, error) {
	if !c.Valid() {
		return 0, fmt.Errorf("%w: %q", ErrCurrency, c)
	}
	if len(s) > maxTextLen || !strict.MatchString(s) {
		return 0, fmt.Errorf("%w: %q is not a plain decimal such as \"16.99\"", ErrSyntax, s)
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && int32(len(s)-i-1) > c.Decimals() {
		return 0, fmt.Errorf("%w: %s takes at most %d decimals", ErrPrecision, c, c.Decimals())
	}
	v, err := toMinor(s, c)
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, fmt.Errorf("%w: the amount must be positive", ErrRange)
	}
	if max > 0 && v > max {
		return 0, fmt.Errorf("%w: at most %s %s", ErrRange, Format(max, c), c)
	}
	return v, nil
}

// ParseLenient reads an amount that MOS reported, for comparison with a stored order: MOS may
// send "4000.00" for KHR, or a JSON number's text. Extra decimals are accepted only when they are
// zeros; signs and exponents are not accepted, and zero is allowed (it will simply not match).
func ParseLenient(s string, c Currency) (int64, error) {
	s = strings.TrimSpace(s)
	if !c.Valid() {
		return 0, fmt.Errorf("%w: %q", ErrCurrency, c)
	}
	if len(s) > maxTextLen || !lenient.MatchString(s) {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	return toMinor(s, c)
}

var lenient = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// toMinor converts text already checked against a grammar; it refuses what does not fit int64
// or has non-zero digits below the currency's minor unit.
func toMinor(s string, c Currency) (int64, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	minor := d.Shift(c.Decimals())
	if !minor.IsInteger() {
		return 0, fmt.Errorf("%w: %s takes at most %d decimals", ErrPrecision, c, c.Decimals())
	}
	if !minor.BigInt().IsInt64() {
		return 0, fmt.Errorf("%w: %q is too large", ErrRange, s)
	}
	return minor.IntPart(), nil
}

// Format writes minor units in canonical text: "16.99" for 1699 USD, "4000" for 4000 KHR.
func Format(minor int64, c Currency) string {
	return decimal.New(minor, -c.Decimals()).StringFixed(c.Decimals())
}

// Amount is a sum of money in one currency, in minor units.
type Amount struct {
	Minor    int64
	Currency Currency
}

// String is the canonical decimal text, as sent to MOS and shown to people.
func (a Amount) String() string { return Format(a.Minor, a.Currency) }
