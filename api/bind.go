package api

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

// bindStrict decodes a JSON object body into dst: unknown fields, a second value and wrong types
// are refused with a message naming the field (a payment API should not guess what was meant).
func bindStrict(c echo.Context, dst any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return order.Errorf(order.EINVALID, "body must be one JSON object")
		}
		return nil
	}
	var he *echo.HTTPError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &he): // the body limit
		return err
	case errors.As(err, &te):
		return order.Errorf(order.EINVALID, "%s must be a %s, as text for amounts", te.Field, te.Type.Kind())
	case errors.Is(err, io.EOF):
		return order.Errorf(order.EINVALID, "body must be a JSON object")
	}
	return order.Wrap(order.EINVALID, err, "body is not valid JSON: %s", err.Error())
}
