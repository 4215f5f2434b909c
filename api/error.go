package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

// statusOf is the one table from error codes to HTTP statuses (docs/api.md "Errors").
var statusOf = map[string]int{
	order.EINVALID:       http.StatusBadRequest,
	order.EUNAUTHORIZED:  http.StatusUnauthorized,
	order.EFORBIDDEN:     http.StatusForbidden,
	order.EAMOUNTREFUSED: http.StatusForbidden,
	order.ENOTFOUND:      http.StatusNotFound,
	order.ECONFLICT:      http.StatusConflict,
	order.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	order.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	order.ERATELIMITED:   http.StatusTooManyRequests,
	order.EUNAVAILABLE:   http.StatusServiceUnavailable,
	order.EINTERNAL:      http.StatusInternalServerError,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
}

// codeMethodNotAllowed is the one code the router alone produces.
const codeMethodNotAllowed = "method_not_allowed"

// codeOfStatus maps the statuses Echo's own errors carry back to codes.
var codeOfStatus = map[int]string{
	http.StatusBadRequest:            order.EINVALID,
	http.StatusUnauthorized:          order.EUNAUTHORIZED,
	http.StatusForbidden:             order.EFORBIDDEN,
	http.StatusNotFound:              order.ENOTFOUND,
	http.StatusMethodNotAllowed:      codeMethodNotAllowed,
	http.StatusConflict:              order.ECONFLICT,
	http.StatusRequestEntityTooLarge: order.ETOOLARGE,
	http.StatusUnsupportedMediaType:  order.EINVALID,
	http.StatusUnprocessableEntity:   order.EUNPROCESSABLE,
	http.StatusTooManyRequests:       order.ERATELIMITED,
	http.StatusServiceUnavailable:    order.EUNAVAILABLE,
}

// ErrorBody is the shape of every error answer except /mos/notify's.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail carries a machine-readable code and a message fit for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorHandler renders any error in mospay's error format. Uncoded errors are internal: they
// are logged with the request id and answered without detail.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, code, msg := answerOf(log, c, err, "request failed")
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
	}
}

// answerOf is the HTTP status, code and message err is answered with; a 5xx is logged as what
// (saying where it failed) with the request id.
func answerOf(log *slog.Logger, c echo.Context, err error, what string) (status int, code, msg string) {
	code, msg = classify(err)
	status = statusOf[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		log.ErrorContext(c.Request().Context(), what, "request_id", requestID(c),
			"method", methodLabel(c.Request().Method), "route", routeLabel(c), "code", code, "err", err)
	}
	return status, code, msg
}

func classify(err error) (code, msg string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = codeOfStatus[he.Code]
		if code == "" {
			return order.EINTERNAL, "internal error"
		}
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			return code, m
		}
		return code, http.StatusText(he.Code)
	}
	return order.ErrorCode(err), order.ErrorMessage(err)
}
