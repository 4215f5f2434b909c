package ui

import (
	"strings"
	"testing"
	"time"
)

// The sign-in's pure parts: the session cookie and the sign-in's next. The pages themselves are
// tested through HTTP in login_test.go and the other page tests, and in a browser in e2e.

func sessionServer(tokens ...AdminToken) *Handler {
	return New(Config{Secret: []byte(strings.Repeat("k", 32)), AdminTokens: tokens}, Deps{})
}

// TestSessionCookie: a sealed session opens until it expires, and only while an admin token of
// its name and fingerprint is configured; any change to the cookie, another key, or a token
// rotated or removed ends it.
func TestSessionCookie(t *testing.T) {
	fin := AdminToken{Name: "finance", Token: "finance-token-0123456789"}
	s := sessionServer(fin, AdminToken{Name: "admin", Token: "admin-token-0123456789"})
	now := time.Unix(1_800_000_000, 0)
	key := s.financeKey()
	value := sealSession(key, sessionClaims{Admin: "finance", Fingerprint: tokenFingerprint(key, fin.Token),
		Expires: now.Add(SessionTTL).Unix(), ID: "SESSIONID"})
	if strings.Contains(value, fin.Token) {
		t.Fatal("the cookie holds the token")
	}
	sess, ok := s.openSession(value, now)
	if !ok || sess.Admin != "finance" || sess.ID != "SESSIONID" || !sess.Expires.Equal(now.Add(SessionTTL)) {
		t.Fatalf("open: %+v %v", sess, ok)
	}
	if _, ok := s.openSession(value, now.Add(SessionTTL)); ok {
		t.Error("an expired session opens")
	}
	for i := range value {
		b := []byte(value)
		b[i] ^= 0x01
		if _, ok := s.openSession(string(b), now); ok {
			t.Fatalf("a cookie changed at byte %d opens", i)
		}
	}
	for _, v := range []string{"", "v1.", "v1..", "v2" + value[2:], value + ".x"} {
		if _, ok := s.openSession(v, now); ok {
			t.Errorf("%q opens", v)
		}
	}
	// Another token under the same name (the same admin) is not the token the session was made with.
	forged := sealSession(key, sessionClaims{Admin: "admin", Fingerprint: tokenFingerprint(key, fin.Token),
		Expires: now.Add(time.Hour).Unix(), ID: "X"})
	if _, ok := s.openSession(forged, now); ok {
		t.Error("a session naming another admin with finance's token opens")
	}
	rotated := sessionServer(AdminToken{Name: "finance", Token: "finance-token-rotated-0123"})
	if _, ok := rotated.openSession(value, now); ok {
		t.Error("a session of a rotated token opens")
	}
	both := sessionServer(AdminToken{Name: "finance", Token: "finance-token-rotated-0123"}, fin)
	if _, ok := both.openSession(value, now); !ok {
		t.Error("a session of a token still listed beside its successor does not open")
	}
	other := New(Config{Secret: []byte(strings.Repeat("j", 32)), AdminTokens: []AdminToken{fin}}, Deps{})
	if _, ok := other.openSession(value, now); ok {
		t.Error("a session opens under another key")
	}
	short := New(Config{Secret: []byte("short"), AdminTokens: []AdminToken{fin}}, Deps{})
	if short.financeKey() != nil {
		t.Error("a JWT secret under 32 bytes gives a session key")
	}
	if s.csrfToken(sess) == s.csrfToken(session{ID: "OTHER"}) || s.csrfToken(sess) == s.preLoginToken(sess.ID) {
		t.Error("CSRF tokens are not bound to the session, or the two kinds coincide")
	}
}

// TestLocalNext: only a finance page of this site is a place to return to after signing in.
func TestLocalNext(t *testing.T) {
	for in, want := range map[string]string{
		"/finance/orders": "/finance/orders",
		"/finance/orders?status=PAID&tz=Asia/Tokyo":  "/finance/orders?status=PAID&tz=Asia/Tokyo",
		"/finance/orders/0123abcd":                   "/finance/orders/0123abcd",
		"":                                           "",
		"/finance":                                   "",
		"/finance/login":                             "",
		"/finance/logout":                            "",
		"/finance/static/finance.css":                "",
		"/finance/../admin/orders":                   "",
		"/finance/./orders":                          "",
		"/admin/orders":                              "",
		"//evil.example/finance/orders":              "",
		"https://evil.example/finance/orders":        "",
		"javascript:alert(1)":                        "",
		"/finance/orders\r\nSet-Cookie: x=1":         "",
		`/finance/\evil.example`:                     "",
		"/finance/orders#x":                          "",
		"/financeX/orders":                           "",
		"/finance/" + strings.Repeat("a", 3000):      "",
		"http://127.0.0.1:8080/finance/orders":       "",
		"/finance/orders?next=https://evil.example/": "/finance/orders?next=https://evil.example/",
	} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}
