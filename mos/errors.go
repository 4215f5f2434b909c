package mos

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a failed MOS call. It tells the caller whether trying again may help (Retryable:
// transport errors, timeouts, HTTP 5xx and 429, answers that could not be read) or MOS refused
// the request itself (envelope code other than 200 on HTTP 200, or an HTTP 4xx other than 429).
type Error struct {
	Op         string // the call: "getApplication", "code2session", "prepay", "orderQuery"
	Retryable  bool   // trying the same request again may succeed
	HTTPStatus int    // 0 when there was no HTTP answer
	Code       int    // MOS envelope code, when there was an envelope
	Message    string // MOS's message, safe to show; never holds the secret
	Err        error  // the underlying cause, if any
}

// Error describes the failure without any secret or signature.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mos %s", e.Op)
	if e.HTTPStatus != 0 && e.HTTPStatus != 200 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": code %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap gives the underlying cause, so errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is a MOS call failure that the same request may get past
// later (a transport error, timeout, HTTP 5xx or 429, or an unreadable answer).
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// IsRejected reports whether err is MOS refusing the request: repeating it unchanged will fail
// the same way.
func IsRejected(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Retryable
}
