package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

// maxLoginCode bounds the code forwarded to MOS; MOS's codes are far shorter.
const maxLoginCode = 1024

// Sessions exchanges a MOS login code (from mos.login: valid 5 minutes, single use) for the
// user's openid. Errors are coded: order.EUNAUTHORIZED for a bad, used or expired code,
// order.EUNAVAILABLE when MOS is unreachable or failing in a retryable way.
type Sessions interface {
	Code2Session(ctx context.Context, code string) (openid string, err error)
}

type loginRequest struct {
	Code string `json:"code"`
}

type loginResponse struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expiresAt"` // RFC 3339, UTC
}

type userResponse struct {
	AppKey       string `json:"appKey"`
	OpenID       string `json:"openid"`
	LanguageType string `json:"languageType"`
}

// login exchanges a MOS login code for a mospay token (POST /mp/login/miniAppLogin). Neither
// the code nor the token is ever logged.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bindStrict(c, &req); err != nil {
		return err
	}
	code := strings.TrimSpace(req.Code)
	switch {
	case code == "":
		return order.Errorf(order.EINVALID, "code is required")
	case len(code) > maxLoginCode:
		return order.Errorf(order.EINVALID, "code is too long")
	}
	if s.deps.Sessions == nil {
		return errors.New("api: login without Deps.Sessions")
	}
	openid, err := s.deps.Sessions.Code2Session(c.Request().Context(), code)
	switch order.ErrorCode(err) {
	case "":
	case order.EUNAUTHORIZED:
		return order.Wrap(order.EUNAUTHORIZED, err, "login code is invalid, used or expired")
	case order.EUNAVAILABLE:
		return order.Wrap(order.EUNAVAILABLE, err, "MOS is unavailable; try again")
	default:
		return fmt.Errorf("code2session: %w", err)
	}
	if openid == "" {
		return errors.New("api: code2session gave no openid")
	}
	u, err := s.deps.Users.Login(c.Request().Context(), openid, languageOf(c.Request().Header.Get("Lang")))
	if err != nil {
		return err
	}
	token, exp, err := s.tokens.Issue(u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: exp.UTC().Format(time.RFC3339)})
}

// user describes the caller (GET /mp/user), as MOS's getMiniAppUser does: the one answer that
// hands the openid to the front end on purpose.
func (s *Server) user(c echo.Context) error {
	u := userOf(c)
	return c.JSON(http.StatusOK, userResponse{
		AppKey:       u.AppKey,
		OpenID:       u.OpenID,
		LanguageType: languageOf(c.Request().Header.Get("Lang")),
	})
}
