package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

// tokenIssuer is the iss claim of every mini-app token; a token from anyone else is refused.
const tokenIssuer = "mospay"

// MinTokenSecret is the shortest HS256 key Tokens accepts (docs/operations.md "Configuration": at least 32 bytes). A
// shorter key makes Issue fail and Verify refuse everything, so a misconfigured server fails
// closed instead of signing with a guessable key.
const MinTokenSecret = 32

// DefaultTokenTTL is the token lifetime when none is configured (MOSPAY_JWT_TTL).
const DefaultTokenTTL = 24 * time.Hour

// User is the mini-app user a request acts for, as proven by its bearer token. Handlers behind
// requireUser get it with userOf and scope every lookup to ID.
type User struct {
	ID     string // mospay's user id (the token's subject)
	OpenID string // MOS's id of the same user, for MOS's calls; never sent to the front end but by /mp/user
	AppKey string // the mini-app the token was issued for
}

// Claims is what a verified token says: whom it was issued to and when.
type Claims struct {
	Subject  string // mospay's user id
	AppKey   string
	IssuedAt time.Time
}

// Tokens issues and verifies the HS256 JWTs that stand for a MOS login, so that the front end
// exchanges a single-use MOS code once and then calls /mp for the token's lifetime.
type Tokens struct {
	secret   []byte
	ttl      time.Duration
	appKey   string
	now      func() time.Time
	verified verifiedTokens
}

// verifiedTokens remembers the tokens that verified, with what they said, until they expire: a
// client sends the same token with every request, and its HMAC and two JSON decodings were an
// eighth of a GET's CPU. The key is the whole token, signature included, so only the exact string
// that verified is taken on trust; the user's revocation is checked on every request all the same
// (requireUser). At most maxVerified are kept; when full it starts over.
type verifiedTokens struct {
	mu     sync.Mutex
	tokens map[string]verifiedToken
}

type verifiedToken struct {
	claims  Claims
	expires time.Time
}

// maxVerified bounds verifiedTokens: a few hundred bytes each.
const maxVerified = 8192

func (v *verifiedTokens) get(token string, now time.Time) (Claims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.tokens[token]
	if !ok || !now.Before(e.expires) {
		return Claims{}, false
	}
	return e.claims, true
}

func (v *verifiedTokens) put(token string, c Claims, expires time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokens == nil || len(v.tokens) >= maxVerified {
		v.tokens = make(map[string]verifiedToken)
	}
	v.tokens[token] = verifiedToken{claims: c, expires: expires}
}

// NewTokens returns Tokens signing with secret (at least MinTokenSecret bytes), valid for ttl
// (DefaultTokenTTL when not positive), bound to appKey; now is the clock (time.Now when nil).
func NewTokens(secret []byte, ttl time.Duration, appKey string, now func() time.Time) *Tokens {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: append([]byte(nil), secret...), ttl: ttl, appKey: appKey, now: now}
}

// claims is the token body: the registered claims plus the mini-app's appKey and the issue
// instant to the microsecond (iat is whole seconds: a login in the same second as a revocation of
// the user's tokens must be told apart from a token issued before it).
type claims struct {
	AppKey      string `json:"appKey"`
	IssuedMicro int64  `json:"iatMicro,omitempty"`
	jwt.RegisteredClaims
}

// Issue signs a token for the user with id userID and says when it expires (whole seconds, UTC).
func (t *Tokens) Issue(userID string) (token string, expiresAt time.Time, err error) {
	if len(t.secret) < MinTokenSecret {
		return "", time.Time{}, errors.New("api: token secret shorter than 32 bytes")
	}
	if userID == "" {
		return "", time.Time{}, errors.New("api: token for an empty user id")
	}
	precise := t.now().UTC().Truncate(time.Microsecond)
	now := precise.Truncate(time.Second)
	expiresAt = now.Add(t.ttl)
	c := claims{
		AppKey:      t.appKey,
		IssuedMicro: precise.UnixMicro(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expiresAt),
		},
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("api: sign token: %w", err)
	}
	return token, expiresAt, nil
}

// Verify checks token's signature (HS256 only), issuer, expiry, issue time and appKey, and
// returns what it says: IssuedAt to the microsecond where the token says so (iatMicro, within
// iat's second), else iat's whole second. Every failure is coded order.EUNAUTHORIZED. Whether its
// user still exists and the token was not revoked is requireUser's to check.
func (t *Tokens) Verify(token string) (Claims, error) {
	if len(t.secret) < MinTokenSecret {
		return Claims{}, order.Errorf(order.EUNAUTHORIZED, "invalid token")
	}
	if c, ok := t.verified.get(token, t.now()); ok {
		return c, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, order.Wrap(order.EUNAUTHORIZED, err, "token expired")
	case err != nil:
		return Claims{}, order.Wrap(order.EUNAUTHORIZED, err, "invalid token")
	case c.IssuedAt == nil: // WithIssuedAt checks iat only when present; we require it.
		return Claims{}, order.Errorf(order.EUNAUTHORIZED, "invalid token")
	case c.Subject == "":
		return Claims{}, order.Errorf(order.EUNAUTHORIZED, "invalid token")
	case c.AppKey != t.appKey:
		return Claims{}, order.Errorf(order.EUNAUTHORIZED, "token is for another mini-app")
	case !numericDates(token):
		return Claims{}, order.Errorf(order.EUNAUTHORIZED, "invalid token")
	}
	issued := c.IssuedAt.UTC()
	if c.IssuedMicro != 0 {
		precise := time.UnixMicro(c.IssuedMicro).UTC()
		if !precise.Truncate(time.Second).Equal(issued) {
			return Claims{}, order.Errorf(order.EUNAUTHORIZED, "invalid token")
		}
		issued = precise
	}
	out := Claims{Subject: c.Subject, AppKey: c.AppKey, IssuedAt: issued}
	t.verified.put(token, out, c.ExpiresAt.Time)
	return out, nil
}

// numericDates reports whether the times of a token whose signature verified (exp, iat,
// iatMicro) are JSON numbers: the JWT library also reads a number written as a string.
func numericDates(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(payload, &raw) != nil {
		return false
	}
	for _, k := range []string{"exp", "iat", "iatMicro"} {
		if v, ok := raw[k]; ok && (len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9'))) {
			return false
		}
	}
	return true
}

// userKey keys the verified User in a request's context.
type userKey struct{}

// requireUser lets a request through only with a valid mini-app token in
// "Authorization: Bearer <token>" whose user exists and has not had their tokens revoked since it
// was issued, and puts its User in the request context for userOf. A token whose subject is no
// user (one issued before users existed named the openid) is refused like any invalid token: the
// front end logs in again. Every /mp route except login sits behind it (see routes); CORS
// preflights are answered before it.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		invalid := func(err error) error {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="mospay", error="invalid_token"`)
			return err
		}
		token, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="mospay"`)
			return order.Errorf(order.EUNAUTHORIZED, "missing bearer token")
		}
		req := c.Request()
		user, claims, err := s.verifyToken(req.Context(), token)
		if err != nil {
			if order.ErrorCode(err) == order.EUNAUTHORIZED {
				return invalid(err)
			}
			return err
		}
		u := User{ID: user.ID, OpenID: user.OpenID, AppKey: claims.AppKey}
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), userKey{}, u)))
		return next(c)
	}
}

// verifyToken is the one check of a mini-app token, for requireUser and for the merchant's
// backend (POST /merchant/users/verify): signature, expiry and appKey, then that its user exists
// and has not had their tokens revoked since it was issued. Every refusal is EUNAUTHORIZED.
func (s *Server) verifyToken(ctx context.Context, token string) (*order.User, Claims, error) {
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return nil, Claims{}, err
	}
	user, err := s.deps.Users.User(ctx, claims.Subject)
	switch {
	case order.ErrorCode(err) == order.ENOTFOUND:
		return nil, Claims{}, order.Errorf(order.EUNAUTHORIZED, "invalid token")
	case err != nil:
		return nil, Claims{}, err
	case !user.TokenValid(claims.IssuedAt):
		return nil, Claims{}, order.Errorf(order.EUNAUTHORIZED, "token revoked; log in again")
	}
	return user, claims, nil
}

// userOf returns the user requireUser verified for this request. A handler that calls it on a
// route outside requireUser is a wiring bug: it panics (answered 500 by Recover) rather than
// act for nobody.
func userOf(c echo.Context) User {
	u, ok := c.Request().Context().Value(userKey{}).(User)
	if !ok || u.ID == "" {
		panic("api: userOf on a route without requireUser: " + c.Path())
	}
	return u
}

// bearerToken takes the token out of an Authorization header of the form "Bearer <token>" (the
// scheme in any case, RFC 7235); anything else is no token.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
