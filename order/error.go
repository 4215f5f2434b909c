package order

import (
	"errors"
	"fmt"
)

// The error codes of docs/api.md "Errors" and the OpenAPI document's Error schema. Every layer speaks them: the store turns driver errors into
// them, the API maps each to one HTTP status, and anything uncoded is EINTERNAL, logged and never
// shown.
const (
	// EINVALID is a malformed request or event: HTTP 400.
	EINVALID = "invalid_request"
	// EUNAUTHORIZED is a missing, bad or expired credential: HTTP 401.
	EUNAUTHORIZED = "unauthorized"
	// EFORBIDDEN is a credential that may not do this: HTTP 403.
	EFORBIDDEN = "forbidden"
	// EAMOUNTREFUSED is an amount a mini-app chose while client-chosen amounts are off: HTTP 403.
	EAMOUNTREFUSED = "client_amount_refused"
	// ENOTFOUND is an order (or other thing) that does not exist for this caller: HTTP 404.
	ENOTFOUND = "not_found"
	// ECONFLICT is a request or event that contradicts the current state: HTTP 409.
	ECONFLICT = "conflict"
	// EUNPROCESSABLE is a well-formed request that cannot be taken (an amount above the maximum): HTTP 422.
	EUNPROCESSABLE = "unprocessable"
	// ETOOLARGE is a body above the configured maximum: HTTP 413.
	ETOOLARGE = "payload_too_large"
	// ERATELIMITED is a caller over its rate: HTTP 429.
	ERATELIMITED = "rate_limited"
	// EUNAVAILABLE is a dependency unavailable now, in a way worth retrying: MOS unreachable or
	// failing, or the database unreachable or refusing writes (a full disk). HTTP 503.
	EUNAVAILABLE = "provider_unavailable"
	// EINTERNAL is a bug or an unexpected failure; its details are logged, never shown: HTTP 500.
	EINTERNAL = "internal"
)

// Error is an error with a code and a message fit to show to the caller. Err keeps the
// underlying cause for logs and errors.Is/As; it is never shown.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Message is safe to show to the caller.
	Message string
	// Err is the wrapped cause, if any, for logs only.
	Err error
}

// Error returns the message, followed by the cause when there is one, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause so that errors.Is and errors.As see through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message. The message is shown to callers,
// so it must not hold secrets or internal detail; use Wrap to keep a cause.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and a formatted message that keeps err as its hidden cause.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain: "" for nil, and EINTERNAL for
// an error that carries no code (an uncoded error is a bug to log, not a message to show).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, without its cause: ""
// for nil, and "internal error" for an error that carries no code, so that no detail leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		if e.Message == "" {
			return e.Code
		}
		return e.Message
	}
	return "internal error"
}
