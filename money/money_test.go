package money

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	const max = 1_000_000_00 // 1,000,000.00 USD
	tests := []struct {
		in   string
		cur  Currency
		want int64
		err  error
	}{
		{"16.99", USD, 1699, nil},
		{"16.9", USD, 1690, nil},
		{"16", USD, 1600, nil},
		{"0.01", USD, 1, nil},
		{"1000000.00", USD, 100000000, nil},
		{"4000", KHR, 4000, nil},
		{"0", USD, 0, ErrRange},
		{"0.00", USD, 0, ErrRange},
		{"1000000.01", USD, 0, ErrRange},
		{"16.990", USD, 0, ErrPrecision},
		{"16.999", USD, 0, ErrPrecision},
		{"4000.5", KHR, 0, ErrPrecision},
		{"4000.0", KHR, 0, ErrPrecision},
		{"", USD, 0, ErrSyntax},
		{"-1", USD, 0, ErrSyntax},
		{"+1", USD, 0, ErrSyntax},
		{"1e2", USD, 0, ErrSyntax},
		{"0x10", USD, 0, ErrSyntax},
		{" 1", USD, 0, ErrSyntax},
		{"1 ", USD, 0, ErrSyntax},
		{"1,000", USD, 0, ErrSyntax},
		{".5", USD, 0, ErrSyntax},
		{"5.", USD, 0, ErrSyntax},
		{"01.00", USD, 0, ErrSyntax},
		{"NaN", USD, 0, ErrSyntax},
		{"Infinity", USD, 0, ErrSyntax},
		{"١٢", USD, 0, ErrSyntax},
		{"123456789012345678901234567890123", USD, 0, ErrSyntax},
		{"16.99", "EUR", 0, ErrCurrency},
		{"16.99", "usd", 0, ErrCurrency},
	}
	for _, tt := range tests {
		t.Run(string(tt.cur)+"/"+tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, tt.cur, max)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q, %s) error = %v, want %v", tt.in, tt.cur, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q, %s) = %d, want %d", tt.in, tt.cur, got, tt.want)
			}
		})
	}
}

func TestParseNoMaxStillRefusesOverflow(t *testing.T) {
	if _, err := Parse("92233720368547758.08", USD, 0); !errors.Is(err, ErrRange) {
		t.Fatalf("overflow: err = %v, want ErrRange", err)
	}
	if v, err := Parse("92233720368547758.07", USD, 0); err != nil || v != 9223372036854775807 {
		t.Fatalf("int64 max: %d, %v", v, err)
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		in   string
		cur  Currency
		want int64
		err  error
	}{
		{"4000.00", KHR, 4000, nil},
		{"4000", KHR, 4000, nil},
		{"16.99", USD, 1699, nil},
		{"16.990", USD, 1699, nil},
		{" 16.99 ", USD, 1699, nil},
		{"0", USD, 0, nil},
		{"4000.50", KHR, 0, ErrPrecision},
		{"16.991", USD, 0, ErrPrecision},
		{"-1", USD, 0, ErrSyntax},
		{"1e3", USD, 0, ErrSyntax},
		{"", USD, 0, ErrSyntax},
		{"1", "XXX", 0, ErrCurrency},
	}
	for _, tt := range tests {
		got, err := ParseLenient(tt.in, tt.cur)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("ParseLenient(%q, %s) = %d, %v; want %d, %v", tt.in, tt.cur, got, err, tt.want, tt.err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		minor int64
		cur   Currency
		want  string
	}{
		{1699, USD, "16.99"},
		{1, USD, "0.01"},
		{1600, USD, "16.00"},
		{4000, KHR, "4000"},
		{0, USD, "0.00"},
	}
	for _, tt := range tests {
		if got := Format(tt.minor, tt.cur); got != tt.want {
			t.Errorf("Format(%d, %s) = %q, want %q", tt.minor, tt.cur, got, tt.want)
		}
		if got := (Amount{tt.minor, tt.cur}).String(); got != tt.want {
			t.Errorf("Amount.String = %q, want %q", got, tt.want)
		}
	}
}

// FuzzParse checks that whatever Parse accepts formats back to text that parses to the same
// value, and that it never accepts a sign, exponent or white space.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"16.99", "0.01", "4000", "1e3", "-1", " 1", "01", "1.", ".1", "99999999999999999999"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, usd bool) {
		c := KHR
		if usd {
			c = USD
		}
		v, err := Parse(s, c, 0)
		if err != nil {
			return
		}
		if v <= 0 {
			t.Fatalf("Parse(%q) accepted non-positive %d", s, v)
		}
		back := Format(v, c)
		v2, err := Parse(back, c, 0)
		if err != nil || v2 != v {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, v, back, v2, err)
		}
		for _, r := range s {
			if (r < '0' || r > '9') && r != '.' {
				t.Fatalf("Parse(%q) accepted a character %q", s, r)
			}
		}
	})
}
