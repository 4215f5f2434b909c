package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	testAppKey = "k1"
	// testNow is the fixed clock of these tests, deliberately not on a whole second.
	testNow = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
)

// fakeSessions is MOS's code2session in miniature: each code maps to an openid and works once;
// "expired" is a code MOS no longer accepts; down makes every call fail as MOS unreachable.
type fakeSessions struct {
	mu    sync.Mutex
	codes map[string]string
	used  map[string]bool
	down  bool
	calls int
}

func newFakeSessions(codes map[string]string) *fakeSessions {
	return &fakeSessions{codes: codes, used: map[string]bool{}}
}

func (f *fakeSessions) Code2Session(ctx context.Context, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := ctx.Err(); err != nil {
		return "", order.Wrap(order.EUNAVAILABLE, err, "cancelled")
	}
	if f.down {
		return "", order.Wrap(order.EUNAVAILABLE, errors.New("dial tcp: connection refused"), "MOS unreachable")
	}
	if code == "expired" {
		return "", order.Errorf(order.EUNAUTHORIZED, "mos code2session: code 40029: code expired")
	}
	openid, ok := f.codes[code]
	if !ok || f.used[code] {
		return "", order.Errorf(order.EUNAUTHORIZED, "mos code2session: code 40029: invalid code")
	}
	f.used[code] = true
	return openid, nil
}

// fakeUsers is the user store in miniature, for the HTTP layer's tests: the user of openid X is
// "user-X" ("user-openid-1" for openid-1), made at first login; the login codes are mos's.
type fakeUsers struct {
	mu    sync.Mutex
	users map[string]*order.User
	mos   *fakeSessions
}

var _ Users = (*fakeUsers)(nil)

func newFakeUsers(mos *fakeSessions) *fakeUsers {
	f := &fakeUsers{users: map[string]*order.User{}, mos: mos}
	_, _ = f.Login(context.Background(), "openid-1", "en-US")
	return f
}

// LoginWithCode is order.Service's in miniature: a blank or overlong code is refused before MOS
// is asked; MOS's refusals keep their codes.
func (f *fakeUsers) LoginWithCode(ctx context.Context, code, language string) (*order.User, error) {
	if code = strings.TrimSpace(code); code == "" || len(code) > order.MaxLoginCode {
		return nil, order.Errorf(order.EINVALID, "code is required, of at most %d bytes", order.MaxLoginCode)
	}
	openid, err := f.mos.Code2Session(ctx, code)
	if err != nil {
		return nil, err
	}
	return f.Login(ctx, openid, language)
}

func (f *fakeUsers) Login(_ context.Context, openid, language string) (*order.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users["user-"+openid]
	if !ok {
		u = &order.User{ID: "user-" + openid, OpenID: openid, FirstLoginAt: testNow}
		f.users[u.ID] = u
	}
	u.Language, u.LastLoginAt = language, testNow
	return u, nil
}

func (f *fakeUsers) User(_ context.Context, id string) (*order.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[id]; ok {
		c := *u
		return &c, nil
	}
	return nil, order.Errorf(order.ENOTFOUND, "no such user")
}

func (f *fakeUsers) UsersByOpenID(_ context.Context, openid string) ([]*order.User, error) {
	u, err := f.User(context.Background(), "user-"+openid)
	if err != nil {
		return nil, nil
	}
	return []*order.User{u}, nil
}

func (f *fakeUsers) RevokeUser(_ context.Context, id, _, _ string) (*order.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return nil, order.Errorf(order.ENOTFOUND, "no such user")
	}
	at := testNow
	u.TokensRevokedAt = &at
	return u, nil
}

// newAuthServer is a server with a token key, a fake MOS, the users of fakeUsers and the fixed
// clock; cfg may adjust the configuration.
func newAuthServer(t *testing.T, sessions *fakeSessions, cfg func(*Config)) *Server {
	t.Helper()
	c := Config{MaxBody: 4096, CORSOrigins: []string{"https://miniapp.example"},
		JWTSecret: testSecret, JWTTTL: 2 * time.Hour, AppKey: testAppKey}
	if cfg != nil {
		cfg(&c)
	}
	return New(c, Deps{Users: newFakeUsers(sessions), Now: func() time.Time { return testNow }})
}

// sign makes a token with any method, key and claims, as an attacker or a buggy issuer might.
func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() claims {
	return claims{AppKey: testAppKey, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    "mospay",
		Subject:   "user-openid-1",
		IssuedAt:  jwt.NewNumericDate(testNow.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(testNow.Add(time.Hour)),
	}}
}

func TestTokensRoundTrip(t *testing.T) {
	tok := NewTokens(testSecret, 2*time.Hour, testAppKey, func() time.Time { return testNow })
	s, exp, err := tok.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Truncate(time.Second).Add(2 * time.Hour); !exp.Equal(want) || exp.Location() != time.UTC {
		t.Errorf("expiresAt = %v, want %v UTC", exp, want)
	}
	u, err := tok.Verify(s)
	if err != nil {
		t.Fatal(err)
	}
	if u != (Claims{Subject: "user-1", AppKey: testAppKey, IssuedAt: testNow}) { // to the microsecond
		t.Errorf("claims = %+v", u)
	}
	// The token carries exactly the claims of the contract.
	var c claims
	if _, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return testSecret, nil },
		jwt.WithTimeFunc(func() time.Time { return testNow })); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "mospay" || c.Subject != "user-1" || c.AppKey != testAppKey || c.IssuedMicro != testNow.UnixMicro() ||
		c.IssuedAt == nil || !c.IssuedAt.Equal(testNow.Truncate(time.Second)) || c.ExpiresAt == nil || !c.ExpiresAt.Equal(exp) {
		t.Errorf("claims = %+v", c)
	}
}

// TestVerifiedTokensKeepTheirLimits: a token that verified once is taken from memory at its
// next use, but only the exact string, and only until it expires.
func TestVerifiedTokensKeepTheirLimits(t *testing.T) {
	now := testNow
	tok := NewTokens(testSecret, time.Hour, testAppKey, func() time.Time { return now })
	s, exp, err := tok.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is answered from memory
		if c, err := tok.Verify(s); err != nil || c.Subject != "user-1" {
			t.Fatalf("Verify = %+v, %v", c, err)
		}
	}
	// The same claims under another signature: not the string that verified.
	parts := strings.Split(s, ".")
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if _, err := tok.Verify(forged); order.ErrorCode(err) != order.EUNAUTHORIZED {
		t.Fatalf("a token with another signature: %v, want unauthorized", err)
	}
	now = exp
	if _, err := tok.Verify(s); order.ErrorCode(err) != order.EUNAUTHORIZED {
		t.Fatalf("the remembered token at its expiry: %v, want unauthorized", err)
	}
}

func TestTokensFailClosed(t *testing.T) {
	now := func() time.Time { return testNow }
	short := NewTokens([]byte("short"), time.Hour, testAppKey, now)
	if _, _, err := short.Issue("user-1"); err == nil {
		t.Error("issued a token with a short key")
	}
	forged := sign(t, jwt.SigningMethodHS256, []byte("short"), validClaims())
	if _, err := short.Verify(forged); order.ErrorCode(err) != order.EUNAUTHORIZED {
		t.Errorf("short key verified a token: %v", err)
	}
	empty := NewTokens(nil, time.Hour, testAppKey, now)
	if _, err := empty.Verify(sign(t, jwt.SigningMethodHS256, []byte{}, validClaims())); order.ErrorCode(err) != order.EUNAUTHORIZED {
		t.Errorf("empty key verified a token: %v", err)
	}
	good := NewTokens(testSecret, time.Hour, testAppKey, now)
	if _, _, err := good.Issue(""); err == nil {
		t.Error("issued a token for no one")
	}
	// The caller's slice may change later; the key may not.
	secret := append([]byte(nil), testSecret...)
	kept := NewTokens(secret, time.Hour, testAppKey, now)
	s, _, err := kept.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 1
	if _, err := kept.Verify(s); err != nil {
		t.Errorf("key aliased the caller's slice: %v", err)
	}
}

// TestBadTokens sends every kind of bad credential to /mp/user; each is 401 in the error format.
func TestBadTokens(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	with := func(f func(*claims)) claims { c := validClaims(); f(&c); return c }
	good := sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	parts := strings.Split(good, ".") // only to forge tampered tokens below
	tests := []struct {
		name, auth string
	}{
		{"missing header", ""},
		{"basic scheme", "Basic b3BlbmlkOnB3"},
		{"bearer without token", "Bearer "},
		{"token without scheme", good},
		{"two tokens", "Bearer " + good + " " + good},
		{"malformed", "Bearer not.a.jwt"},
		{"garbage", "Bearer abc"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) {
			c.IssuedAt = jwt.NewNumericDate(testNow.Add(-3 * time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Second))
		}))},
		{"wrong key", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-thirty-two-byt"), validClaims())},
		{"HS512 with the right key", "Bearer " + sign(t, jwt.SigningMethodHS512, testSecret, validClaims())},
		{"wrong issuer", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.Issuer = "evil" }))},
		{"no issuer", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.Issuer = "" }))},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims())},
		{"alg none, signature kept", "Bearer " + strings.Join([]string{
			strings.Split(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()), ".")[0],
			parts[1], parts[2]}, ".")},
		{"wrong appKey", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.AppKey = "k2" }))},
		{"no appKey", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.AppKey = "" }))},
		{"missing exp", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.ExpiresAt = nil }))},
		{"missing iat", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.IssuedAt = nil }))},
		{"iat in the future", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) {
			c.IssuedAt = jwt.NewNumericDate(testNow.Add(10 * time.Minute))
		}))},
		{"missing subject", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) { c.Subject = "" }))},
		{"tampered payload", "Bearer " + parts[0] + "." + jwtSegment(t, `{"appKey":"k1","iss":"mospay","sub":"someone-else","exp":9999999999,"iat":1}`) + "." + parts[2]},
		{"exp a string", "Bearer " + signRaw(t, fmt.Sprintf(`{"appKey":"k1","iss":"mospay","sub":"user-openid-1","exp":"%d","iat":%d}`,
			testNow.Add(time.Hour).Unix(), testNow.Add(-time.Minute).Unix()))},
		{"iat a string", "Bearer " + signRaw(t, fmt.Sprintf(`{"appKey":"k1","iss":"mospay","sub":"user-openid-1","exp":%d,"iat":"%d"}`,
			testNow.Add(time.Hour).Unix(), testNow.Add(-time.Minute).Unix()))},
		{"iatMicro outside iat's second", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with(func(c *claims) {
			c.IssuedMicro = c.IssuedAt.Add(-time.Second).UnixMicro()
		}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			rec := do(t, s.Handler(), http.MethodGet, "/mp/user", "", hdr)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401 (%s)", rec.Code, rec.Body)
			}
			if e := decodeError(t, rec); e.Code != "unauthorized" || e.Message == "" {
				t.Errorf("error = %+v", e)
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
			if strings.Contains(rec.Body.String(), "openid-1") {
				t.Errorf("the answer leaks the token's subject: %s", rec.Body)
			}
		})
	}
	// The good token passes, so the cases above fail for their own reason (the raw ones too);
	// the scheme's case does not matter (RFC 7235).
	raw := signRaw(t, fmt.Sprintf(`{"appKey":"k1","iss":"mospay","sub":"user-openid-1","exp":%d,"iat":%d}`,
		testNow.Add(time.Hour).Unix(), testNow.Add(-time.Minute).Unix()))
	if rec := do(t, s.Handler(), http.MethodGet, "/mp/user", "", map[string]string{"Authorization": "Bearer " + raw}); rec.Code != 200 {
		t.Fatalf("the raw token with numbers: %d %s", rec.Code, rec.Body)
	}
	for _, scheme := range []string{"Bearer ", "bearer "} {
		if rec := do(t, s.Handler(), http.MethodGet, "/mp/user", "", map[string]string{"Authorization": scheme + good}); rec.Code != 200 {
			t.Fatalf("%q good token: %d %s", scheme, rec.Code, rec.Body)
		}
	}
}

// signRaw signs the JSON payload as it is, with testSecret (HS256).
func signRaw(t *testing.T, payload string) string {
	t.Helper()
	head := jwtSegment(t, `{"alg":"HS256","typ":"JWT"}`) + "." + jwtSegment(t, payload)
	sig, err := jwt.SigningMethodHS256.Sign(head, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return head + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func jwtSegment(t *testing.T, payload string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(payload))
}

func TestExpiredTokenSaysSo(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	c := validClaims()
	c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Minute))
	rec := do(t, s.Handler(), http.MethodGet, "/mp/user", "", map[string]string{
		"Authorization": "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, c)})
	if e := decodeError(t, rec); rec.Code != 401 || e.Message != "token expired" {
		t.Fatalf("%d %+v", rec.Code, e)
	}
}

// TestMPRoutesNeedAToken checks that the /mp group itself carries requireUser: a route added to
// it later cannot forget authentication, and an unknown /mp path reveals nothing without one.
func TestMPRoutesNeedAToken(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	token := "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	tests := []struct {
		name, method, path, auth string
		status                   int
	}{
		{"unknown path, no token", http.MethodGet, "/mp/nothing/here", "", 401},
		{"unknown path, token", http.MethodGet, "/mp/nothing/here", token, 404},
		{"group root, no token", http.MethodGet, "/mp", "", 401},
		{"login needs none", http.MethodPost, "/mp/login/miniAppLogin", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, s.Handler(), tt.method, tt.path, "{}", map[string]string{"Authorization": tt.auth})
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
		})
	}
}

// TestUserOfOutsideRequireUser: a handler wired outside the middleware fails closed.
func TestUserOfOutsideRequireUser(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	s.echo.GET("/test/who", func(c echo.Context) error { return c.String(200, userOf(c).OpenID) })
	rec := do(t, s.Handler(), http.MethodGet, "/test/who", "", nil)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d (%s)", rec.Code, rec.Body)
	}
}

func TestCORSPreflightWithoutToken(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	for _, path := range []string{"/mp/user", "/mp/login/miniAppLogin"} {
		t.Run(path, func(t *testing.T) {
			rec := do(t, s.Handler(), http.MethodOptions, path, "", map[string]string{
				"Origin":                         "https://miniapp.example",
				"Access-Control-Request-Method":  "GET",
				"Access-Control-Request-Headers": "authorization,lang",
			})
			if rec.Code != http.StatusNoContent {
				t.Fatalf("preflight status %d %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://miniapp.example" {
				t.Errorf("allow origin = %q", got)
			}
		})
	}
}

func TestUserEndpoint(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(nil), nil)
	rec := do(t, s.Handler(), http.MethodGet, "/mp/user", "", map[string]string{
		"Authorization": "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, validClaims()),
		"Lang":          "km",
	})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"appKey": testAppKey, "openid": "openid-1", "languageType": "km-KH"}
	if len(got) != len(want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
