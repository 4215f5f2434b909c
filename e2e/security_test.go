package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
)

// metric reads one sample of mospay's /metrics at url: the value of the line name{labels}, 0 when
// absent.
func metric(t *testing.T, h *apptest.Stack, url, sample string) float64 {
	t.Helper()
	r := h.Must(t, http.MethodGet, url+"/metrics", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// mosCalls is how many calls of op the sandbox has answered.
func mosCalls(h *apptest.Stack, op string) int { return h.Sandbox.Stats().Calls[op] }

// TestRequestIDBounded: a client's X-Request-Id is kept only when it is 1 to 64 characters of
// [A-Za-z0-9._:-]; a huge one or one carrying a line break is replaced, never echoed, logged or
// stored. What mospay stores is its own request id, never the client's.
func TestRequestIDBounded(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-request-id")
	huge := strings.Repeat("A", 200<<10)
	for _, tc := range []struct {
		name, id string
		kept     bool
	}{
		{"huge", huge, false},
		{"tab and colon", "evil\tX-Admin: yes", false},
		{"not ASCII", "é-request", false},
		{"spaces", "drop table orders", false},
		{"65 characters", strings.Repeat("a", 65), false},
		{"good", "client-req_1.2:3", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := apptest.Bearer(token)
			hdr["X-Request-Id"] = tc.id
			r := h.Must(t, http.MethodPost, h.URL+"/mp/orders", apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "id"}, hdr)
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			var o apptest.Order
			r.Decode(t, &o)
			got := r.Header.Get("X-Request-Id")
			if tc.kept != (got == tc.id) || len(got) == 0 || len(got) > 64 {
				t.Fatalf("answered X-Request-Id %.80q for %.80q, kept %v", got, tc.id, tc.kept)
			}
			var stored string
			if err := h.DB.SQL().QueryRow(h.DB.Rebind(`SELECT request_id FROM transitions t JOIN orders o ON o.id = t.order_id
				WHERE o.out_trade_no = ? ORDER BY t.id LIMIT 1`), o.OutTradeNo).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored == tc.id || len(stored) != 26 || (!tc.kept && stored != got) {
				t.Fatalf("stored request id %.80q, answered %.80q for %.80q", stored, got, tc.id)
			}
		})
	}
	if strings.Contains(h.Logs.String(), huge[:1000]) || strings.Contains(h.Logs.String(), "X-Admin") {
		t.Fatal("a client's request id reached the log")
	}
}

// TestUserRateLimit: after login each user is limited on /mp (here 5/s, burst 20): one user's
// 200 creates in a burst make at most the burst (and what refills) of prepays at MOS, the rest
// answered 429 rate_limited with Retry-After and counted; another user is not held back.
func TestUserRateLimit(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.UserRate, c.UserBurst = 5, 20 }})
	greedy, other := h.Login(t, "user-greedy"), h.Login(t, "user-other")
	start := time.Now()
	created, limited := 0, 0
	for range 200 {
		r := h.Must(t, http.MethodPost, h.URL+"/mp/orders", apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "burst"}, apptest.Bearer(greedy))
		switch r.Status {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			limited++
			r.WantError(t, http.StatusTooManyRequests, "rate_limited")
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("429 without a Retry-After in seconds: %q", r.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
	}
	allowed := 20 + int(5*time.Since(start).Seconds()) + 1
	if created > allowed || limited == 0 || mosCalls(h, "prepay") > allowed {
		t.Fatalf("%d created, %d limited, %d prepays at MOS; want at most %d", created, limited, mosCalls(h, "prepay"), allowed)
	}
	if n := metric(t, h, h.URL, `mospay_rate_limited_total{limit="user"}`); int(n) != limited {
		t.Fatalf("metric counts %v user-limited requests, %d were answered 429", n, limited)
	}
	h.CreateOrder(t, other, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "other"}, "")
}

// TestQueryAnsweredFromDatabase: the first /query of an order asks MOS; further ones within 5 s
// answer from the database (200 queries, one orderQuery); a notification's confirmation just
// before does not count as the user's query. mospay's clock is stopped, so the window does not
// end while a loaded machine works through the 200.
func TestQueryAnsweredFromDatabase(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(apptest.DayBoundaries[0])})
	token := h.Login(t, "user-query")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "query"}, "")
	h.Pay(t, o.OutTradeNo) // its notification is confirmed with an orderQuery
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	before := mosCalls(h, "orderQuery")
	for range 200 {
		r := h.Must(t, http.MethodPost, h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(token))
		var got apptest.Order
		r.Decode(t, &got)
		if r.Status != http.StatusOK || got.Status != "PAID" {
			t.Fatalf("query: %d %s", r.Status, r.Body)
		}
	}
	if n := mosCalls(h, "orderQuery") - before; n != 1 {
		t.Fatalf("200 queries within the window cost %d orderQuery calls, want 1", n)
	}
	if mos, db := metric(t, h, h.URL, `mospay_user_order_queries_total{answer="mos"}`), metric(t, h, h.URL, `mospay_user_order_queries_total{answer="database"}`); mos != 1 || db != 199 {
		t.Fatalf("query metrics: mos %v, database %v; want 1 and 199", mos, db)
	}
}

// TestAdminAuthFailuresLimited: after 10 failed admin authentications in a minute from an
// address, further failures get 429 until it cools down, whatever the wrong token's length; a
// valid token from that address still passes; failures are counted.
func TestAdminAuthFailuresLimited(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	for i, n := range []int{1, 5, 16, 31, 32, 33, 64, 1024, 1025, 6000} {
		guess := fmt.Sprintf("%02d", i) + strings.Repeat("g", n)
		h.Must(t, http.MethodGet, h.URL+"/admin/orders", nil, apptest.Bearer(guess[:n])).WantError(t, 401, "unauthorized")
	}
	r := h.Must(t, http.MethodGet, h.URL+"/admin/orders", nil, apptest.Bearer("guess-11-0123456789"))
	r.WantError(t, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if r := h.Admin(t, "/admin/orders"); r.Status != http.StatusOK {
		t.Fatalf("a valid token from the limited address: %d %s", r.Status, r.Body)
	}
	if n := metric(t, h, h.URL, `mospay_rate_limited_total{limit="admin_auth"}`); n != 1 {
		t.Fatalf("admin_auth limited %v times, want 1", n)
	}
}

// TestNotificationsCannotBeBent: a notification's values are read as its signature covered them
// (trimmed); a description that could re-split a signing string is refused; a notification whose
// fields disagree with MOS's answer changes nothing but its own row; a replayed body costs no
// query and no row.
func TestNotificationsCannotBeBent(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-bend")

	t.Run("padded currency", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "pad"}, "")
		h.Pay(t, o.OutTradeNo)
		h.WaitStatus(t, token, o.OutTradeNo, "PAID")
		r := h.Must(t, http.MethodPost, h.URL+"/mos/notify", h.Notification(t, o.OutTradeNo, map[string]string{"currency": " USD "}, h.Secret), nil)
		apptest.WantMOSAnswer(t, r, 200)
		_, got := h.GetOrder(t, token, o.OutTradeNo)
		if got.Status != "PAID" || len(got.Flags) != 0 {
			t.Fatalf("after \" USD \": %+v, want PAID without a flag", got)
		}
		for _, n := range h.Notifications(t, o.OutTradeNo) {
			if n.Outcome == "flagged" {
				t.Fatalf("a padded currency flagged the order: %+v", n)
			}
		}
	})

	t.Run("separators in desc", func(t *testing.T) {
		for _, desc := range []string{"x&outTradeNo=0123&status=SUCCESS", "a=b", "tea & cake"} {
			r, err := h.Create(token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: desc}, "")
			if err != nil {
				t.Fatal(err)
			}
			r.WantError(t, http.StatusBadRequest, "invalid_request")
			var e apptest.APIError
			r.Decode(t, &e)
			if !strings.Contains(e.Error.Message, "'&' and '='") {
				t.Fatalf("the refusal does not say why: %s", e.Error.Message)
			}
		}
		if n := mosCalls(h, "prepay"); n != 1 {
			t.Fatalf("%d prepays reached MOS, want only the padded-currency test's", n)
		}
	})

	t.Run("fields disagree with MOS", func(t *testing.T) {
		// A re-split or otherwise bent notification names another order and claims it paid for
		// another amount; MOS says that order awaits payment.
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "2.00", Currency: "USD", Desc: "victim"}, "")
		body := h.Notification(t, o.OutTradeNo, map[string]string{"status": "SUCCESS", "totalAmount": "0.01", "prepayId": "ppFORGED", "openid": "attacker"}, h.Secret)
		apptest.WantMOSAnswer(t, h.Must(t, http.MethodPost, h.URL+"/mos/notify", body, nil), 200)
		_, got := h.GetOrder(t, token, o.OutTradeNo)
		if got.Status != "PENDING" || len(got.Flags) != 0 {
			t.Fatalf("the victim order is %+v, want PENDING without a flag", got)
		}
		var story struct {
			Notifications []struct{ Outcome, Disagreement string }
		}
		h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
		if len(story.Notifications) != 1 || story.Notifications[0].Outcome != "no_change" {
			t.Fatalf("notifications %+v", story.Notifications)
		}
		for _, want := range []string{"amount 0.01 USD", `prepayId "ppFORGED"`, `openid "attacker"`} {
			if !strings.Contains(story.Notifications[0].Disagreement, want) {
				t.Fatalf("disagreement %q does not say %s", story.Notifications[0].Disagreement, want)
			}
		}
	})

	t.Run("100 replays", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "3.00", Currency: "USD", Desc: "replay"}, "")
		h.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1})
		h.Pay(t, o.OutTradeNo)
		body := h.Notification(t, o.OutTradeNo, nil, h.Secret)
		dupBefore := metric(t, h, h.URL, `mospay_notifications_total{outcome="duplicate"}`)
		queries := mosCalls(h, "orderQuery")
		for range 100 {
			apptest.WantMOSAnswer(t, h.Must(t, http.MethodPost, h.URL+"/mos/notify", body, nil), 200)
		}
		if n := mosCalls(h, "orderQuery") - queries; n != 1 {
			t.Fatalf("100 identical notifications cost %d orderQuery calls, want 1", n)
		}
		if ns := h.Notifications(t, o.OutTradeNo); len(ns) != 1 || ns[0].Outcome != "applied" {
			t.Fatalf("stored notifications %+v, want the one applied", ns)
		}
		if n := metric(t, h, h.URL, `mospay_notifications_total{outcome="duplicate"}`) - dupBefore; n != 99 {
			t.Fatalf("%v duplicates counted, want 99", n)
		}
		h.SandboxPost(t, http.MethodDelete, "/sandbox/faults", nil)
	})
}

// TestStrictJSON: the bodies the red team sent are refused with 400 and change nothing: a key
// given twice (the last would win), a key in another case, an unknown key, invalid UTF-8.
func TestStrictJSON(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-json")
	for _, tc := range []struct{ name, path, body string }{
		{"duplicate amount", "/mp/orders", `{"totalAmount":"1.00","currency":"USD","desc":"x","totalAmount":"9999.00"}`},
		{"duplicate nested", "/mp/orders", `{"totalAmount":"1.00","currency":"USD","desc":"x","extra":{"a":1,"a":2}}`},
		{"other case", "/mp/orders", `{"TotalAmount":"1.00","currency":"USD","desc":"x"}`},
		{"unknown key", "/mp/orders", `{"totalAmount":"1.00","currency":"USD","desc":"x","discount":"100%"}`},
		{"invalid UTF-8", "/mp/orders", "{\"totalAmount\":\"1.00\",\"currency\":\"USD\",\"desc\":\"caf\xe9\"}"},
		{"trailing data", "/mp/orders", `{"totalAmount":"1.00","currency":"USD","desc":"x"}{"totalAmount":"9999.00"}`},
		{"login duplicate", "/mp/login/miniAppLogin", `{"code":"a","code":"b"}`},
		{"login other case", "/mp/login/miniAppLogin", `{"Code":"a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Must(t, http.MethodPost, h.URL+tc.path, tc.body, apptest.Bearer(token))
			r.WantError(t, http.StatusBadRequest, "invalid_request")
		})
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM orders`); n != 0 {
		t.Fatalf("%d orders stored from refused bodies", n)
	}
	if n := mosCalls(h, "prepay"); n != 0 {
		t.Fatalf("%d prepays reached MOS", n)
	}
}

// TestCORS: with no origins configured there is no CORS at all; with one, only it is allowed.
func TestCORS(t *testing.T) {
	preflight := func(h *apptest.Stack, origin string) apptest.Response {
		return h.Must(t, http.MethodOptions, h.URL+"/mp/orders", nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
	}
	none := apptest.Start(t, apptest.Options{})
	for _, origin := range []string{"https://evil.example", "null"} {
		r := preflight(none, origin)
		for k := range r.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("CORS header %s with no origin configured (origin %s)", k, origin)
			}
		}
	}
	one := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.CORSOrigins = []string{"https://app.example"} }})
	if got := preflight(one, "https://app.example").Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("configured origin: allow-origin %q", got)
	}
	if got := preflight(one, "https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("another origin: allow-origin %q", got)
	}
}

// TestHeadersAndOpsListener: every answer says nosniff and no-referrer, finance's are never
// cached; with an ops listener /metrics moves there (health and readiness on both); pprof does
// not serve the command line.
func TestHeadersAndOpsListener(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.OpsAddr, c.DebugAddr = "127.0.0.1:0", "127.0.0.1:0" }})
	token := h.Login(t, "user-headers")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "hdr"}, "")
	for _, tc := range []struct {
		path    string
		hdr     map[string]string
		noStore bool
	}{
		{"/healthz", nil, false},
		{"/mp/orders/" + o.OutTradeNo, apptest.Bearer(token), false},
		{"/mp/orders/nope", apptest.Bearer(token), false},
		{"/admin/orders", apptest.Bearer(apptest.FinanceToken), true},
		{"/admin/orders.csv", apptest.Bearer(apptest.FinanceToken), true},
		{"/admin/orders/" + o.OutTradeNo, apptest.Bearer(apptest.FinanceToken), true},
		{"/finance", nil, true},
	} {
		r := h.Must(t, http.MethodGet, h.URL+tc.path, nil, tc.hdr)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", tc.path, r.Header)
		}
		if tc.noStore != (r.Header.Get("Cache-Control") == "no-store") {
			t.Errorf("%s: Cache-Control %q", tc.path, r.Header.Get("Cache-Control"))
		}
	}
	if r := h.Must(t, http.MethodGet, h.URL+"/metrics", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics on the API's listener with an ops listener: %d", r.Status)
	}
	ops := h.App.OpsURL()
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if r := h.Must(t, http.MethodGet, ops+path, nil, nil); r.Status != http.StatusOK {
			t.Fatalf("ops %s: %d", path, r.Status)
		}
	}
	if r := h.Must(t, http.MethodGet, h.URL+"/readyz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("/readyz on the API's listener: %d", r.Status)
	}
	if r := h.Must(t, http.MethodGet, h.App.DebugURL()+"/debug/pprof/cmdline", nil, nil); r.Status == http.StatusOK {
		t.Fatalf("pprof serves the command line: %s", r.Body)
	}
	if r := h.Must(t, http.MethodGet, h.App.DebugURL()+"/debug/pprof/", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("pprof index: %d", r.Status)
	}
}

// TestDatabaseFilesPrivate: the SQLite file, its -wal and -shm and the directory are for mospay's
// user alone; files found looser are tightened at start, with a log line.
func TestDatabaseFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mospay.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := apptest.Start(t, apptest.Options{DBURL: "sqlite:" + path})
	h.CreateOrder(t, h.Login(t, "user-files"), apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "files"}, "")
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	if !strings.Contains(h.Logs.String(), "tightened the permissions") {
		t.Error("no log line for the tightened files")
	}
}

// TestSandboxTimeouts: the sandbox's listener, like the API's, drops a client that never finishes
// its request headers.
func TestSandboxTimeouts(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	for _, u := range []string{h.SandboxURL, h.URL} {
		c, err := net.Dial("tcp", strings.TrimPrefix(u, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("GET /sandbox/stats HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(apptest.WaitFor))
		start := time.Now()
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == nil {
			// The server may answer 408 before closing; what matters is that it does not wait.
			t.Logf("%s answered a slow client", u)
		} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s kept a client without headers for %s", u, time.Since(start))
		}
	}
}

// TestUsersAndTokens: the mini-app token names mospay's user, not the openid (which only
// /mp/user hands out, as MOS's getMiniAppUser does); a token of the old kind (subject = openid) is
// refused; finance finds the user by openid, sees the owner of orders, and can revoke the user's
// tokens, which is audited; the user then logs in again.
func TestUsersAndTokens(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "openid-carol")
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Sub string }
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Sub == "" || claims.Sub == "openid-carol" {
		t.Fatalf("token subject %q, want mospay's user id (%v)", claims.Sub, err)
	}
	var me map[string]string
	h.Must(t, http.MethodGet, h.URL+"/mp/user", nil, apptest.Bearer(token)).Decode(t, &me)
	if me["openid"] != "openid-carol" {
		t.Fatalf("/mp/user = %v", me)
	}
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "carol"}, "")

	// A token of the old kind: the same key, the openid as subject.
	old := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "mospay", "sub": "openid-carol", "appKey": h.AppKey,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	oldToken, err := old.SignedString([]byte(h.App.Config().JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	h.Must(t, http.MethodGet, h.URL+"/mp/orders", nil, apptest.Bearer(oldToken)).WantError(t, 401, "unauthorized")

	var users struct {
		Users []struct{ ID, OpenID, LanguageType string }
	}
	h.Admin(t, "/admin/users?openid=openid-carol").Decode(t, &users)
	if len(users.Users) != 1 || users.Users[0].ID != claims.Sub {
		t.Fatalf("users by openid: %+v", users)
	}
	var story struct {
		Order struct{ UserID string }
	}
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
	if story.Order.UserID != claims.Sub {
		t.Fatalf("the order's owner %q, want %q", story.Order.UserID, claims.Sub)
	}

	// Revocation instants are compared as they are: a token issued just before the revocation is
	// refused and a login just after it is not, within one second (aligned to the start of one).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	before := h.Login(t, "openid-carol")
	r := h.Must(t, http.MethodPost, h.URL+"/admin/users/"+claims.Sub+"/revoke", nil, apptest.Bearer(apptest.FinanceToken))
	if r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	fresh := h.Login(t, "openid-carol")
	for _, tok := range []string{token, before} {
		h.Must(t, http.MethodGet, h.URL+"/mp/orders", nil, apptest.Bearer(tok)).WantError(t, 401, "unauthorized")
	}
	if r := h.Must(t, http.MethodGet, h.URL+"/mp/orders/"+o.OutTradeNo, nil, apptest.Bearer(fresh)); r.Status != http.StatusOK {
		t.Fatalf("the user's new token, in the second of the revocation: %d %s", r.Status, r.Body)
	}
	if a, b := iatOf(t, before), iatOf(t, fresh); a != b {
		t.Logf("(the machine was slow: the tokens were issued in seconds %d and %d)", a, b)
	}
	h.Must(t, http.MethodPost, h.URL+"/admin/users/nobody/revoke", nil, apptest.Bearer(apptest.FinanceToken)).WantError(t, 404, "not_found")
	h.Must(t, http.MethodGet, h.URL+"/admin/users", nil, apptest.Bearer(apptest.FinanceToken)).WantError(t, 400, "invalid_request")
}

// TestAuditTrail: admin actions are recorded with who, what, which and mospay's request id (the
// client's beside it), in the same transaction as their effect; reads of payers' data (a user
// lookup, a CSV export, by the API or the pages) are actions too; the trail pages newest first and
// filters by actor, action and time.
func TestAuditTrail(t *testing.T) {
	at := apptest.DayBoundaries[2] // the last minute of a day: "tomorrow" is a minute away
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(at)})
	token := h.Login(t, "openid-dave")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "audit"}, "")
	h.Pay(t, o.OutTradeNo)
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	reconcile := func(tok, id string) {
		hdr := apptest.Bearer(tok)
		hdr["X-Request-Id"] = id
		if r := h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+o.OutTradeNo+"/reconcile", nil, hdr); r.Status != http.StatusOK {
			t.Fatalf("reconcile: %d %s", r.Status, r.Body)
		}
	}
	reconcile(apptest.FinanceToken, "req-audit-1")
	reconcile(apptest.AdminToken, "req-audit-2")
	var users struct{ Users []struct{ ID string } }
	h.Admin(t, "/admin/users?openid=openid-dave").Decode(t, &users)
	h.Must(t, http.MethodPost, h.URL+"/admin/users/"+users.Users[0].ID+"/revoke", nil, apptest.Bearer(apptest.FinanceToken))

	type action struct{ Actor, Action, OutTradeNo, UserID, Detail, RequestID, ClientRequestID, At string }
	var page struct {
		Actions    []action
		NextCursor string
	}
	h.Admin(t, "/admin/audit").Decode(t, &page)
	if len(page.Actions) != 4 || page.Actions[0].Action != "revoke" || page.Actions[0].UserID != users.Users[0].ID ||
		page.Actions[1].Action != "lookup" || page.Actions[1].Actor != "finance" || page.Actions[1].Detail != "openid openid-dave" ||
		page.Actions[1].UserID != users.Users[0].ID ||
		page.Actions[3].Action != "reconcile" || page.Actions[3].Actor != "finance" || page.Actions[3].ClientRequestID != "req-audit-1" ||
		len(page.Actions[3].RequestID) != 26 || page.Actions[3].OutTradeNo != o.OutTradeNo || page.Actions[2].Actor != "admin" {
		t.Fatalf("audit trail %+v", page.Actions)
	}
	h.Admin(t, "/admin/audit?actor=admin&action=reconcile").Decode(t, &page)
	if len(page.Actions) != 1 || page.Actions[0].ClientRequestID != "req-audit-2" {
		t.Fatalf("audit by actor and action: %+v", page.Actions)
	}
	h.Admin(t, "/admin/audit?limit=3").Decode(t, &page)
	if len(page.Actions) != 3 || page.NextCursor == "" {
		t.Fatalf("first page: %+v", page)
	}
	h.Admin(t, "/admin/audit?limit=3&cursor="+page.NextCursor).Decode(t, &page)
	if len(page.Actions) != 1 || page.NextCursor != "" || page.Actions[0].ClientRequestID != "req-audit-1" {
		t.Fatalf("second page: %+v", page)
	}

	// Each read of payers' data adds a row naming the admin: a lookup that finds no one, an
	// export through the API (with its filter), an export from the pages.
	count := func(action string) int {
		page.Actions = nil // (decoding into the old elements would keep fields the answer leaves out)
		h.Admin(t, "/admin/audit?action="+action).Decode(t, &page)
		return len(page.Actions)
	}
	h.Admin(t, "/admin/users?openid=openid-nobody")
	if n := count("lookup"); n != 2 || page.Actions[0].Detail != "openid openid-nobody" || page.Actions[0].UserID != "" {
		t.Fatalf("after a lookup that finds no one: %d lookups, %+v", n, page.Actions)
	}
	if r := h.Must(t, http.MethodGet, h.URL+"/admin/orders.csv?status=PAID&currency=USD&from=2026-01-01", nil,
		apptest.Bearer(apptest.FinanceToken)); r.Status != http.StatusOK {
		t.Fatalf("export: %d", r.Status)
	}
	if n := count("export"); n != 1 || page.Actions[0].Actor != "finance" ||
		page.Actions[0].Detail != "basis=created&currency=USD&from=2026-01-01T00%3A00%3A00Z&status=PAID&tz=UTC" {
		t.Fatalf("after an export: %d exports, %+v", n, page.Actions)
	}
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	if p := f.Get(t, "/finance/orders.csv?flag=any"); p.Status != http.StatusOK {
		t.Fatalf("export from the pages: %d", p.Status)
	}
	if n := count("export"); n != 2 || page.Actions[0].Actor != "finance" || !strings.Contains(page.Actions[0].Detail, "flag=any") {
		t.Fatalf("after an export from the pages: %d exports, %+v", n, page.Actions)
	}
	h.Admin(t, "/admin/audit?action=nonsense").WantError(t, 400, "invalid_request")
	tomorrow := at.AddDate(0, 0, 1).Format(time.DateOnly)
	h.Admin(t, "/admin/audit?from="+tomorrow).Decode(t, &page)
	if len(page.Actions) != 0 {
		t.Fatalf("audit from tomorrow: %+v", page.Actions)
	}
	var story struct {
		Actions []action
	}
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
	if len(story.Actions) != 2 || story.Actions[0].ClientRequestID != "req-audit-1" {
		t.Fatalf("the order's story shows actions %+v", story.Actions)
	}
	h.Admin(t, "/admin/audit?from=nonsense").WantError(t, 400, "invalid_request")
}

// TestFinanceSessionsEnd: finance's sessions live in the database. A copy of a session cookie
// works until its session signs out, then nowhere (another instance on the same PostgreSQL
// included); finance sees their open sessions and ends one of them, on the page or through the
// admin API, which signs that browser out; an instance started without an admin token ends that
// token's sessions on every instance.
func TestFinanceSessionsEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			opt := apptest.Options{}
			if db == "postgres" {
				opt.DBURL = pgtest.NewDB(t)
			}
			a := apptest.Start(t, opt)
			b := a // the second instance: itself on SQLite (one instance per file)
			if db == "postgres" {
				b = apptest.Start(t, apptest.Options{MOS: a, DBURL: opt.DBURL})
			}
			cookie := func(f *apptest.FinanceClient) *http.Cookie { return f.Cookie(t, "/finance/orders", "mospay_finance") }
			copyOn := func(s *apptest.Stack, ck *http.Cookie) *apptest.FinanceClient {
				f := s.FinanceClient(t)
				f.PutCookie(t, ck.Name, ck.Value)
				return f
			}
			wantSignedIn := func(f *apptest.FinanceClient, yes bool, what string) {
				t.Helper()
				p := f.Get(t, "/finance/orders")
				if yes && p.Status != http.StatusOK || !yes && (p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/finance/login")) {
					t.Fatalf("%s: HTTP %d to %q, want signed in %v", what, p.Status, p.Location, yes)
				}
			}

			// Sign out ends the session everywhere: a copied cookie stops working too.
			alice := a.FinanceClient(t)
			alice.MustSignIn(t, apptest.FinanceToken)
			stolen := copyOn(b, cookie(alice))
			wantSignedIn(stolen, true, "a copy of the cookie, before sign-out")
			signOut := alice.Post(t, "/finance/logout", url.Values{"csrf": {alice.Get(t, "/finance/orders").CSRF(t)}})
			if signOut.Status != http.StatusSeeOther || signOut.Location != "/finance/login" {
				t.Fatalf("sign out: %d %q", signOut.Status, signOut.Location)
			}
			wantSignedIn(stolen, false, "a copy of the cookie, after sign-out")

			// Finance's open sessions: two browsers; the first ends the second's session.
			first, second := a.FinanceClient(t), b.FinanceClient(t)
			first.MustSignIn(t, apptest.FinanceToken)
			second.MustSignIn(t, apptest.FinanceToken)
			page := first.Get(t, "/finance/sessions")
			if page.Status != http.StatusOK || strings.Count(page.Body, `action="/finance/sessions/`) != 2 ||
				!strings.Contains(page.Body, "(this one)") {
				t.Fatalf("sessions page: %d\n%s", page.Status, page.Body)
			}
			ended := false
			for _, m := range regexp.MustCompile(`action="(/finance/sessions/[0-9a-f]{64}/end)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">\s*<button type="submit" class="secondary">End session`).FindAllStringSubmatch(page.Body, -1) {
				p := first.Post(t, m[1], url.Values{"csrf": {m[2]}})
				if p.Status != http.StatusSeeOther || p.Location != "/finance/sessions?done=ended" {
					t.Fatalf("ending the other session: %d %q", p.Status, p.Location)
				}
				ended = true
			}
			if !ended {
				t.Fatalf("no other session to end on the page:\n%s", page.Body)
			}
			wantSignedIn(second, false, "the session ended from the other browser")
			wantSignedIn(first, true, "the browser that ended the other session")
			// The same through the admin API, for the token's name.
			third := b.FinanceClient(t)
			third.MustSignIn(t, apptest.FinanceToken)
			var list struct {
				Sessions []struct{ ID, CreatedAt, ExpiresAt, RemoteIP, UserAgent string }
			}
			a.Admin(t, "/admin/sessions").Decode(t, &list)
			if len(list.Sessions) != 2 || list.Sessions[0].RemoteIP != "127.0.0.1" {
				t.Fatalf("open sessions by the API: %+v", list.Sessions)
			}
			if r := a.Must(t, http.MethodPost, a.URL+"/admin/sessions/"+list.Sessions[0].ID+"/end", nil,
				apptest.Bearer(apptest.FinanceToken)); r.Status != http.StatusNoContent {
				t.Fatalf("ending a session by the API: %d %s", r.Status, r.Body)
			}
			wantSignedIn(third, false, "the session ended by the API")
			wantSignedIn(first, true, "the session the API left alone")
			a.Must(t, http.MethodPost, a.URL+"/admin/sessions/"+list.Sessions[1].ID+"/end", nil,
				apptest.Bearer(apptest.AdminToken)).WantError(t, http.StatusNotFound, "not_found")
			// An admin ends only their own sessions; a form without its token changes nothing.
			other := a.FinanceClient(t)
			other.MustSignIn(t, apptest.AdminToken)
			if p := other.Post(t, "/finance/sessions/"+strings.Repeat("0", 64)+"/end",
				url.Values{"csrf": {other.Get(t, "/finance/sessions").CSRF(t)}}); p.Status != http.StatusNotFound {
				t.Fatalf("ending a session that is not one's own: %d", p.Status)
			}
			var audit struct {
				Actions []struct{ Actor, Action string }
			}
			a.Admin(t, "/admin/audit?action=logout").Decode(t, &audit)
			if len(audit.Actions) != 3 || audit.Actions[0].Actor != "finance" {
				t.Fatalf("logouts audited: %+v", audit.Actions)
			}

			// An instance started without finance's token ends its sessions on every instance.
			if db == "postgres" {
				apptest.Start(t, apptest.Options{MOS: a, DBURL: opt.DBURL, Config: func(c *app.Config) {
					c.AdminTokens = c.AdminTokens[1:]
				}})
				wantSignedIn(first, false, "a session of a token another instance no longer has")
				wantSignedIn(other, true, "a session of a token every instance still has")
			}
		})
	}
}

// iatOf is a mini-app token's iat (whole seconds), read without verifying it.
func iatOf(t *testing.T, token string) int64 {
	t.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Iat int64 }
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.Iat
}

// TestInfoItems: a description with a Unicode format character (U+202E and its kin) is refused
// like a control character; only canonical time zone names are zones; a JWT whose exp is a
// string is no token; the finance pages read a CSRF token from the form's body only.
func TestInfoItems(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "openid-info")
	for _, tc := range []struct {
		desc string
		want int
	}{
		{"pay\u202egnp.exe", http.StatusBadRequest}, // RIGHT-TO-LEFT OVERRIDE
		{"\u202e", http.StatusBadRequest},
		{"zero\u200bwidth", http.StatusBadRequest}, // ZERO WIDTH SPACE
		{"soft\u00adhyphen", http.StatusBadRequest},
		{"bom\ufeff", http.StatusBadRequest},
		{"bell\u0007", http.StatusBadRequest},
		{"ក្រុមហ៊ុន coffee", http.StatusCreated}, // Khmer, with its combining marks (Mn, Mc): fine
	} {
		r := h.Must(t, http.MethodPost, h.URL+"/mp/orders", apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: tc.desc},
			apptest.Bearer(token))
		if r.Status != tc.want {
			t.Errorf("desc %+q: %d %s, want %d", tc.desc, r.Status, r.Body, tc.want)
		}
		if tc.want == http.StatusBadRequest {
			r.WantError(t, http.StatusBadRequest, "invalid_request")
		}
	}

	for _, tc := range []struct {
		tz   string
		want int
	}{
		{"Asia/Tokyo", http.StatusOK},
		{"America/Argentina/Buenos_Aires", http.StatusOK},
		{"Etc/GMT+7", http.StatusOK},
		{"Asia/./Tokyo", http.StatusBadRequest},
		{"Asia//Tokyo", http.StatusBadRequest},
		{"Asia/Tokyo/", http.StatusBadRequest},
		{"Asia/../Asia/Tokyo", http.StatusBadRequest},
		{"/usr/share/zoneinfo/Asia/Tokyo", http.StatusBadRequest},
		{"posix/Asia/Tokyo", http.StatusBadRequest},
		{"Local", http.StatusBadRequest},
		{"Nowhere/Atlantis", http.StatusBadRequest},
	} {
		if r := h.Admin(t, "/admin/orders?tz="+url.QueryEscape(tc.tz)); r.Status != tc.want {
			t.Errorf("tz=%s: %d %s, want %d", tc.tz, r.Status, r.Body, tc.want)
		}
	}

	sub := strings.Split(token, ".")[1]
	payload, _ := base64.RawURLEncoding.DecodeString(sub)
	var c struct{ Sub string }
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	withExp := func(exp string) string {
		head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
		body := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"iss":"mospay","sub":%q,"appKey":%q,"iat":%d,"exp":%s}`,
			c.Sub, h.AppKey, time.Now().Add(-time.Minute).Unix(), exp))
		sig, err := jwt.SigningMethodHS256.Sign(head+"."+body, []byte(h.App.Config().JWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	exp := time.Now().Add(time.Hour).Unix()
	if r := h.Must(t, http.MethodGet, h.URL+"/mp/user", nil, apptest.Bearer(withExp(strconv.FormatInt(exp, 10)))); r.Status != http.StatusOK {
		t.Fatalf("a token with a numeric exp: %d %s", r.Status, r.Body)
	}
	h.Must(t, http.MethodGet, h.URL+"/mp/user", nil, apptest.Bearer(withExp(strconv.Quote(strconv.FormatInt(exp, 10))))).
		WantError(t, http.StatusUnauthorized, "unauthorized")

	// The CSRF token in the URL instead of the form's body: refused, and the session goes on.
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	csrf := f.Get(t, "/finance/orders").CSRF(t)
	if p := f.Post(t, "/finance/logout?csrf="+url.QueryEscape(csrf), url.Values{}); p.Status != http.StatusForbidden {
		t.Fatalf("sign out with the CSRF token in the URL: %d", p.Status)
	}
	if p := f.Get(t, "/finance/orders"); p.Status != http.StatusOK {
		t.Fatalf("after a refused sign-out: %d", p.Status)
	}
	if p := f.Post(t, "/finance/logout", url.Values{"csrf": {csrf}}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign out with the CSRF token in the body: %d", p.Status)
	}
}

// TestSandboxOrigins: the embedded sandbox's control API answers browsers of its own origin (as
// 127.0.0.1 and as localhost) and of MOSPAY_CORS_ORIGINS; a page of any other origin gets no CORS
// header and no Private Network Access, and cannot mint a login code, pay an order or inject a
// fault (403, nothing changed).
func TestSandboxOrigins(t *testing.T) {
	const dev = "http://localhost:5173"
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.CORSOrigins = []string{dev} }})
	token := h.Login(t, "openid-origins")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "origins"}, "")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.SandboxURL, "http://"))
	ask := func(method, path, origin string, extra map[string]string) apptest.Response {
		hdr := map[string]string{"Origin": origin}
		for k, v := range extra {
			hdr[k] = v
		}
		return h.Must(t, method, h.SandboxURL+path, nil, hdr)
	}
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
		"Access-Control-Request-Private-Network": "true"}
	for _, origin := range []string{"http://127.0.0.1:" + port, "http://localhost:" + port, dev} {
		r := ask(http.MethodOptions, "/sandbox/login-codes", origin, preflight)
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin ||
			r.Header.Get("Access-Control-Allow-Private-Network") != "true" {
			t.Errorf("preflight from %s: %d %v", origin, r.Status, r.Header)
		}
		if r := ask(http.MethodPost, "/sandbox/login-codes", origin, nil); r.Status != http.StatusOK ||
			r.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("login code from %s: %d %v", origin, r.Status, r.Header)
		}
	}
	for _, foreign := range []string{"https://evil.example", "http://127.0.0.1:1", "http://localhost", "null"} {
		r := ask(http.MethodOptions, "/sandbox/orders/"+o.OutTradeNo+"/pay", foreign, preflight)
		if r.Status == http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "" ||
			r.Header.Get("Access-Control-Allow-Private-Network") != "" {
			t.Errorf("preflight from %s: %d %v", foreign, r.Status, r.Header)
		}
		for _, path := range []string{"/sandbox/login-codes", "/sandbox/orders/" + o.OutTradeNo + "/pay"} {
			ask(http.MethodPost, path, foreign, nil).WantError(t, http.StatusForbidden, "forbidden")
		}
		ask(http.MethodPut, "/sandbox/faults", foreign, nil).WantError(t, http.StatusForbidden, "forbidden")
		if r := ask(http.MethodGet, "/sandbox/orders/"+o.OutTradeNo, foreign, nil); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET an order from %s: CORS allows reading it", foreign)
		}
	}
	if v, _ := h.Sandbox.Order(o.OutTradeNo); v.Status != "PENDING" {
		t.Fatalf("the order after refused payments: %s, want PENDING", v.Status)
	}
}

// TestRevocationReachesEveryInstance: an instance answers "is this user's token revoked" from
// memory for at most order.UserCacheTTL, so a revocation made at one instance is refused there
// at once and at the other instance within that time, never later.
func TestRevocationReachesEveryInstance(t *testing.T) {
	dsn := pgtest.NewDB(t)
	a := apptest.Start(t, apptest.Options{DBURL: dsn})
	b := apptest.Start(t, apptest.Options{DBURL: dsn, MOS: a})
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // tokens know their second
	token := a.Login(t, "openid-two-instances")
	for _, h := range []*apptest.Stack{a, b} { // both instances now hold the user in memory
		if r := h.Must(t, http.MethodGet, h.URL+"/mp/user", nil, apptest.Bearer(token)); r.Status != http.StatusOK {
			t.Fatalf("/mp/user: HTTP %d %s", r.Status, r.Body)
		}
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	if r := a.Must(t, http.MethodPost, a.URL+"/admin/users/"+claims["sub"].(string)+"/revoke", nil, apptest.Bearer(apptest.FinanceToken)); r.Status != http.StatusOK {
		t.Fatalf("revoke: HTTP %d %s", r.Status, r.Body)
	}
	a.Must(t, http.MethodGet, a.URL+"/mp/user", nil, apptest.Bearer(token)).WantError(t, 401, "unauthorized")
	// What b remembers was read before the revocation: once it is older than the cache's time to
	// live, b reads the table again, and refuses.
	time.Sleep(order.UserCacheTTL)
	b.Must(t, http.MethodGet, b.URL+"/mp/user", nil, apptest.Bearer(token)).WantError(t, 401, "unauthorized")
}
