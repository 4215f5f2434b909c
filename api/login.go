package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

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

// login exchanges a MOS login code for a mospay token (POST /mp/login/miniAppLogin): the service
// turns the code into a user (order.Service.LoginWithCode), and the token is issued here. Neither
// the code nor the token is ever logged.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bindStrict(c, &req); err != nil {
		return err
	}
	if s.deps.Users == nil {
		return errors.New("api: login without Deps.Users")
	}
	u, err := s.deps.Users.LoginWithCode(c.Request().Context(), req.Code, languageOf(c.Request().Header.Get("Lang")))
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
