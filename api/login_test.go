package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLoginIssuesAWorkingToken(t *testing.T) {
	mos := newFakeSessions(map[string]string{"code-1": "openid-1"})
	s := newAuthServer(t, mos, nil)
	rec := do(t, s.Handler(), http.MethodPost, "/mp/login/miniAppLogin", `{"code":"code-1"}`,
		map[string]string{"Content-Type": "application/json"})
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["token"] == "" {
		t.Fatalf("body = %s", rec.Body)
	}
	// RFC 3339, UTC, the clock's second plus the configured TTL.
	if want := "2025-03-14T17:09:26Z"; got["expiresAt"] != want {
		t.Errorf("expiresAt = %q, want %q", got["expiresAt"], want)
	}
	u, err := s.tokens.Verify(got["token"])
	if err != nil || u.Subject != "user-openid-1" || u.AppKey != testAppKey {
		t.Fatalf("token verifies as %+v, %v; want mospay's user id, not the openid", u, err)
	}
	rec = do(t, s.Handler(), http.MethodGet, "/mp/user", "", map[string]string{"Authorization": "Bearer " + got["token"]})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"openid":"openid-1"`) {
		t.Fatalf("user with the issued token: %d %s", rec.Code, rec.Body)
	}
}

func TestLoginFailures(t *testing.T) {
	tests := []struct {
		name, body string
		down       bool
		status     int
		code       string
		callsMOS   bool
	}{
		{"used code", `{"code":"usedQ9"}`, false, 401, "unauthorized", true},
		{"unknown code", `{"code":"nopeQ9"}`, false, 401, "unauthorized", true},
		{"expired code", `{"code":"expired"}`, false, 401, "unauthorized", true},
		{"MOS down", `{"code":"freshQ9"}`, true, 503, "provider_unavailable", true},
		{"missing code", `{}`, false, 400, "invalid_request", false},
		{"empty code", `{"code":""}`, false, 400, "invalid_request", false},
		{"blank code", `{"code":"  "}`, false, 400, "invalid_request", false},
		{"code not a string", `{"code":42}`, false, 400, "invalid_request", false},
		{"not JSON", `code=freshQ9`, false, 400, "invalid_request", false},
		{"empty body", ``, false, 400, "invalid_request", false},
		{"huge code", `{"code":"` + strings.Repeat("a", 2000) + `"}`, false, 400, "invalid_request", false},
		{"body over the limit", `{"code":"` + strings.Repeat("a", 5000) + `"}`, false, 413, "payload_too_large", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mos := newFakeSessions(map[string]string{"usedQ9": "openid-1", "freshQ9": "openid-2"})
			mos.used["usedQ9"] = true
			mos.down = tt.down
			var logs bytes.Buffer
			s := New(Config{MaxBody: 4096, JWTSecret: testSecret, AppKey: testAppKey},
				Deps{Users: newFakeUsers(mos), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			rec := do(t, s.Handler(), http.MethodPost, "/mp/login/miniAppLogin", tt.body, map[string]string{"Content-Type": "application/json"})
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if e := decodeError(t, rec); e.Code != tt.code {
				t.Errorf("error = %+v, want %s", e, tt.code)
			}
			if (mos.calls > 0) != tt.callsMOS {
				t.Errorf("MOS calls = %d", mos.calls)
			}
			// Neither the code (all test codes hold "Q9") nor the key reach the caller or the log,
			// and MOS's internals do not reach the caller.
			for _, leak := range []string{"Q9", string(testSecret)} {
				if strings.Contains(rec.Body.String(), leak) || strings.Contains(logs.String(), leak) {
					t.Errorf("%q leaked: body %s log %s", leak, rec.Body, logs.String())
				}
			}
			if strings.Contains(rec.Body.String(), "connection refused") {
				t.Errorf("MOS detail shown: %s", rec.Body)
			}
		})
	}
}

// TestLoginCodeIsSingleUse: the same code logs in once; a replay is 401.
func TestLoginCodeIsSingleUse(t *testing.T) {
	s := newAuthServer(t, newFakeSessions(map[string]string{"c": "openid-1"}), nil)
	if rec := do(t, s.Handler(), http.MethodPost, "/mp/login/miniAppLogin", `{"code":"c"}`, nil); rec.Code != 200 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, s.Handler(), http.MethodPost, "/mp/login/miniAppLogin", `{"code":"c"}`, nil); rec.Code != 401 {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
}

// TestLoginWithoutUsers: a server wired without the users' service answers 500, not a token.
func TestLoginWithoutUsers(t *testing.T) {
	s := New(Config{MaxBody: 4096, JWTSecret: testSecret, AppKey: testAppKey}, Deps{})
	rec := do(t, s.Handler(), http.MethodPost, "/mp/login/miniAppLogin", `{"code":"c"}`, nil)
	if rec.Code != 500 || decodeError(t, rec).Code != "internal" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestLoginWithShortSecret: a misconfigured key fails closed with 500 and issues nothing.
func TestLoginWithShortSecret(t *testing.T) {
	s := New(Config{MaxBody: 4096, JWTSecret: []byte("short"), AppKey: testAppKey},
		Deps{Users: newFakeUsers(newFakeSessions(map[string]string{"c": "openid-1"})), Now: func() time.Time { return testNow }})
	rec := do(t, s.Handler(), http.MethodPost, "/mp/login/miniAppLogin", `{"code":"c"}`, nil)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "token") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
