package order_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/mospay/mospay/order"
)

func TestErrorCodeAndMessage(t *testing.T) {
	cause := errors.New("sqlite: UNIQUE constraint failed: orders.out_trade_no")
	notFound := order.Errorf(order.ENOTFOUND, "order %q not found", "T1")
	wrapped := order.Wrap(order.ECONFLICT, cause, "order already exists")
	tests := []struct {
		name      string
		err       error
		code, msg string
		errorText string
		isCause   bool
	}{
		{"nil", nil, "", "", "", false},
		{"plain", errors.New("dial tcp: connection refused"), order.EINTERNAL, "internal error", "dial tcp: connection refused", false},
		{"coded", notFound, order.ENOTFOUND, `order "T1" not found`, `order "T1" not found`, false},
		{"coded behind %w", fmt.Errorf("load: %w", notFound), order.ENOTFOUND, `order "T1" not found`, `load: order "T1" not found`, false},
		{"wrap keeps cause hidden", wrapped, order.ECONFLICT, "order already exists",
			"order already exists: sqlite: UNIQUE constraint failed: orders.out_trade_no", true},
		{"wrap behind %w twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", wrapped)), order.ECONFLICT, "order already exists",
			"a: b: order already exists: sqlite: UNIQUE constraint failed: orders.out_trade_no", true},
		{"uncoded *Error", &order.Error{Message: "oops"}, order.EINTERNAL, "internal error", "oops", false},
		{"coded without message", &order.Error{Code: order.ERATELIMITED}, order.ERATELIMITED, "rate_limited", "", false},
		{"plain wrapped", fmt.Errorf("x: %w", io.EOF), order.EINTERNAL, "internal error", "x: EOF", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := order.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := order.ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
			if tt.err != nil && tt.err.Error() != tt.errorText {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.errorText)
			}
			if got := errors.Is(tt.err, cause); got != tt.isCause {
				t.Errorf("errors.Is(err, cause) = %v, want %v", got, tt.isCause)
			}
		})
	}
}

func TestWrapUnwrap(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	err := order.Wrap(order.EUNAVAILABLE, cause, "MOS unreachable after %d tries", 3)
	if err.Code != order.EUNAVAILABLE || err.Message != "MOS unreachable after 3 tries" {
		t.Fatalf("Wrap = %+v", err)
	}
	if !errors.Is(err.Unwrap(), cause) {
		t.Fatalf("Unwrap = %v, want %v", err.Unwrap(), cause)
	}
	var target *order.Error
	if !errors.As(fmt.Errorf("query: %w", err), &target) || target != err {
		t.Fatalf("errors.As did not find the *Error")
	}
	if order.Errorf(order.EINVALID, "x").Unwrap() != nil {
		t.Fatal("Errorf has a cause")
	}
	if got := order.Wrap(order.EINTERNAL, nil, "no cause").Error(); got != "no cause" {
		t.Fatalf("Wrap with nil cause: Error() = %q", got)
	}
}

func TestErrorCodes(t *testing.T) {
	// The codes are part of the public interface (docs/api.md, OpenAPI): a change here is a change of the public interface.
	want := map[string]string{
		order.EINVALID: "invalid_request", order.EUNAUTHORIZED: "unauthorized", order.EFORBIDDEN: "forbidden",
		order.ENOTFOUND: "not_found", order.ECONFLICT: "conflict", order.EUNPROCESSABLE: "unprocessable",
		order.ETOOLARGE: "payload_too_large", order.ERATELIMITED: "rate_limited",
		order.EUNAVAILABLE: "provider_unavailable", order.EINTERNAL: "internal",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("code %q, want %q", got, w)
		}
	}
	if len(want) != 10 {
		t.Errorf("%d distinct codes, want 10", len(want))
	}
}
