package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// The finance pages' pure parts: the session cookie, the sign-in's next, and the timeline. The
// pages themselves are tested through HTTP in pages_test.go and in a browser in e2e.

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

// TestTimeline: the story's parts merge into one sequence, oldest first (within an instant:
// notification, query, transition, flag, event); identical consecutive queries collapse into
// one counted entry, a different one in between breaks the run; a resolution appears once.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	resolved := at(50)
	q := func(s int, status string) order.QueryRecord {
		return order.QueryRecord{At: at(s), Source: order.SourceReconciler, MOSStatus: status, TotalAmount: "1.00", Currency: "USD"}
	}
	st := &order.Story{
		Order: &order.Order{OutTradeNo: "o1", Amount: money.Amount{Minor: 100, Currency: money.USD}},
		Transitions: []order.Transition{
			{From: "", To: order.StatusCreated, Source: order.SourceAPI, At: at(0)},
			{From: order.StatusCreated, To: order.StatusPending, Source: order.SourceAPI, At: at(0)},
			{From: order.StatusPending, To: order.StatusPaid, Source: order.SourceNotify, At: at(10)},
		},
		Notifications: []order.NotificationRecord{{ReceivedAt: at(10), MOSStatus: "SUCCESS", QueriedStatus: "SUCCESS",
			Outcome: order.OutcomeApplied, RawBody: `{"status":"SUCCESS"}`, ContentType: "application/json"}},
		Queries: []order.QueryRecord{
			{At: at(10), Source: order.SourceNotify, MOSStatus: "SUCCESS", TotalAmount: "1.00", Currency: "USD"},
			q(20, "SUCCESS"), q(30, "SUCCESS"), q(31, "SUCCESS"), q(40, "REFUND"), q(41, "SUCCESS"),
		},
		Flags: []order.FlagRecord{{Flag: order.FlagMOSDisagrees, Note: "MOS says REFUND", RaisedAt: at(40),
			ResolvedAt: &resolved, ResolvedBy: "finance", Resolution: "checked"}},
		Actions: []order.AdminAction{
			{Actor: "finance", Action: order.ActionResolve, Detail: "mos_disagrees: checked", At: resolved},
			{Actor: "finance", Action: order.ActionReconcile, At: at(60)},
		},
	}
	tz := time.FixedZone("ICT", 7*3600)
	var got []string
	for _, e := range buildTimeline(st, tz) {
		line := e.Kind + " " + e.Title
		if e.Repeated() {
			line += " x" + string(rune('0'+e.Count)) + " last " + e.LastAt
		}
		got = append(got, line)
	}
	want := []string{
		"status Created as CREATED (api)",
		"status CREATED → PENDING (api)",
		"notification Notification from MOS: SUCCESS",
		"query orderQuery (notify): SUCCESS 1.00 USD",
		"status PENDING → PAID (notify)",
		"query orderQuery (reconciler): SUCCESS 1.00 USD x3 last 2026-11-30 14:00:31 +07:00",
		"query orderQuery (reconciler): REFUND 1.00 USD",
		"flag Flag mos_disagrees raised",
		"query orderQuery (reconciler): SUCCESS 1.00 USD",
		"resolved Flag mos_disagrees resolved by finance",
		"admin finance asked MOS now (reconcile)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tl := buildTimeline(st, tz); tl[0].At != "2026-11-30 14:00:00 +07:00" || tl[2].Raw != `{"status":"SUCCESS"}` {
		t.Fatalf("first entry at %q, notification body %q", tl[0].At, tl[2].Raw)
	}
}
