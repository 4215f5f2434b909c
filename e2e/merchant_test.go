package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/store/pgtest"
)

// merchantOrder is an order as the merchant API shows it.
type merchantOrder struct {
	apptest.Order
	UserID    string            `json:"userId"`
	Reference string            `json:"reference"`
	Metadata  map[string]string `json:"metadata"`
	Merchant  string            `json:"merchant"`
}

// merchant calls the merchant API with key.
func merchant(t *testing.T, h *apptest.Stack, key, method, path string, body any) apptest.Response {
	t.Helper()
	return h.Must(t, method, h.URL+path, body, apptest.Bearer(key))
}

// verifyUser asks the merchant API who token stands for.
func verifyUser(t *testing.T, h *apptest.Stack, token string) (apptest.Response, map[string]string) {
	t.Helper()
	r := merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/users/verify", map[string]string{"token": token})
	var who map[string]string
	if r.Status == http.StatusOK {
		r.Decode(t, &who)
	}
	return r, who
}

// TestMerchantVerifiesTokens: the merchant's backend learns the user of a good mini-app token;
// a bad, expired or revoked one is 401.
func TestMerchantVerifiesTokens(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-verify")
	r, who := verifyUser(t, h, token)
	if r.Status != http.StatusOK || who["userId"] == "" || who["openid"] != "user-verify" || who["languageType"] == "" {
		t.Fatalf("verify a good token: HTTP %d %s", r.Status, r.Body)
	}

	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "mospay", "sub": who["userId"], "appKey": h.AppKey,
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}).SignedString([]byte(h.App.Config().JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "mospay", "sub": who["userId"], "appKey": h.AppKey,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(strings.Repeat("x", 32)))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"garbage": "not-a-token", "expired": expired, "forged": forged} {
		r, _ := verifyUser(t, h, tok)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("verify a %s token: HTTP %d %s, want 401", name, r.Status, r.Body)
		}
		r.WantError(t, http.StatusUnauthorized, "unauthorized")
	}
	merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/users/verify", map[string]string{"token": ""}).
		WantError(t, http.StatusBadRequest, "invalid_request")

	time.Sleep(1100 * time.Millisecond) // tokens have whole-second times: revoke in a later second
	if r := h.Must(t, http.MethodPost, h.URL+"/admin/users/"+who["userId"]+"/revoke", nil, apptest.Bearer(apptest.FinanceToken)); r.Status != http.StatusOK {
		t.Fatalf("revoke: HTTP %d %s", r.Status, r.Body)
	}
	r, _ = verifyUser(t, h, token)
	r.WantError(t, http.StatusUnauthorized, "unauthorized")
}

// TestMerchantOrders: the merchant's backend creates an order at its price under its reference;
// the same request again is the same order, another body under the reference is 409, another
// merchant's reference is its own; the user pays it and the order.paid event carries the
// reference and metadata, as do the mini-app's view, the admin API, the CSV, the finance pages and
// the audit trail.
func TestMerchantOrders(t *testing.T) {
	rc := apptest.NewEventReceiver(t, nil)
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) {
		apptest.WithEvents(nil, rc)(c)
		c.ClientAmounts = false
	}})
	token := h.Login(t, "user-merchant")
	_, who := verifyUser(t, h, token)
	body := map[string]any{"userId": who["userId"], "totalAmount": "42.50", "currency": "USD", "desc": "Order 1001",
		"reference": "ORD-1001", "metadata": map[string]string{"cart": "c-77", "note": "gift wrap, please"}}
	r := merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/orders", body)
	var o merchantOrder
	r.Decode(t, &o)
	if r.Status != http.StatusCreated || o.Status != "PENDING" || o.PrepayID == "" || o.TotalAmount != "42.50" || o.Reference != "ORD-1001" ||
		o.Metadata["cart"] != "c-77" || o.UserID != who["userId"] || o.OpenID != "" {
		t.Fatalf("create: HTTP %d %s", r.Status, r.Body)
	}
	if v, _ := h.Sandbox.Order(o.OutTradeNo); v.OpenID != "user-merchant" || v.TotalAmount != "42.50" {
		t.Fatalf("MOS's order: %+v, want the user's at the merchant's price", v)
	}

	r = merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/orders", body)
	var again merchantOrder
	r.Decode(t, &again)
	if r.Status != http.StatusOK || again.OutTradeNo != o.OutTradeNo || again.PrepayID != o.PrepayID {
		t.Fatalf("repeat: HTTP %d %s, want 200 with %s", r.Status, r.Body, o.OutTradeNo)
	}
	changed := map[string]any{}
	for k, v := range body {
		changed[k] = v
	}
	changed["totalAmount"] = "0.01"
	merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/orders", changed).WantError(t, http.StatusConflict, "conflict")
	changed["totalAmount"], changed["metadata"] = "42.50", map[string]string{"cart": "c-78"}
	merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/orders", changed).WantError(t, http.StatusConflict, "conflict")
	r = merchant(t, h, apptest.OtherMerchantKey, http.MethodPost, "/merchant/orders", body)
	var theirs merchantOrder
	r.Decode(t, &theirs)
	if r.Status != http.StatusCreated || theirs.OutTradeNo == o.OutTradeNo {
		t.Fatalf("another merchant's same reference: HTTP %d %s, want an order of its own", r.Status, r.Body)
	}

	// Reading: its own orders only.
	r = merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders/"+o.OutTradeNo, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"reference":"ORD-1001"`) {
		t.Fatalf("get: HTTP %d %s", r.Status, r.Body)
	}
	merchant(t, h, apptest.OtherMerchantKey, http.MethodGet, "/merchant/orders/"+o.OutTradeNo, nil).WantError(t, http.StatusNotFound, "not_found")
	var page struct {
		Orders     []merchantOrder
		NextCursor string
	}
	merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders?reference=ORD-1001", nil).Decode(t, &page)
	if len(page.Orders) != 1 || page.Orders[0].OutTradeNo != o.OutTradeNo {
		t.Fatalf("list by reference: %+v", page)
	}
	merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders?status=PAID", nil).Decode(t, &page)
	if len(page.Orders) != 0 {
		t.Fatalf("list of PAID before payment: %+v", page)
	}

	// The user pays; the event tells the merchant's systems which of theirs it was.
	h.Pay(t, o.OutTradeNo)
	paid := rc.WaitFor(t, "order.paid", func(es []apptest.ReceivedEvent) bool { return len(es) == 1 })[0]
	var ev struct {
		Type string
		Data struct{ Order merchantOrder }
	}
	if err := json.Unmarshal(paid.Body, &ev); err != nil || ev.Type != "order.paid" || ev.Data.Order.Reference != "ORD-1001" ||
		ev.Data.Order.Metadata["note"] != "gift wrap, please" || ev.Data.Order.Merchant != "shop" || paid.Verified != nil {
		t.Fatalf("order.paid event: %s (%v)", paid.Body, paid.Verified)
	}
	apptest.CheckSchema(t, "EventPayload", paid.Body)
	merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders?status=PAID", nil).Decode(t, &page)
	if len(page.Orders) != 1 || page.Orders[0].Status != "PAID" {
		t.Fatalf("list of PAID: %+v", page)
	}

	// Everywhere the order is shown.
	if r, mine := h.GetOrder(t, token, o.OutTradeNo); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"reference":"ORD-1001"`) ||
		!strings.Contains(string(r.Body), `"cart":"c-77"`) || mine.OpenID != "" {
		t.Fatalf("the user's view: HTTP %d %s", r.Status, r.Body)
	}
	var list struct{ Orders []merchantOrder }
	h.Admin(t, "/admin/orders?q=ORD-1001").Decode(t, &list)
	if len(list.Orders) != 2 || list.Orders[0].Reference != "ORD-1001" || list.Orders[1].Merchant != "shop" {
		t.Fatalf("admin search by reference: %+v", list.Orders)
	}
	csv := string(h.Admin(t, "/admin/orders.csv?q=ORD-1001&bom=0").Body)
	if !strings.Contains(csv, "reference") || !strings.Contains(csv, ",shop,ORD-1001,") || !strings.Contains(csv, `gift wrap, please`) {
		t.Fatalf("CSV:\n%s", csv)
	}
	f := h.FinanceClient(t)
	f.MustSignIn(t, apptest.FinanceToken)
	if p := f.Get(t, "/finance/orders?q=ORD-1001"); p.Status != http.StatusOK || !strings.Contains(p.Body, o.OutTradeNo) || !strings.Contains(p.Body, "ORD-1001") {
		t.Fatalf("finance search by reference: HTTP %d", p.Status)
	}
	if p := f.Get(t, "/finance/orders/"+o.OutTradeNo); p.Status != http.StatusOK || !strings.Contains(p.Body, "ORD-1001") ||
		!strings.Contains(p.Body, "gift wrap, please") || !strings.Contains(p.Body, "c-77") {
		t.Fatalf("finance story: HTTP %d", p.Status)
	}
	var audit struct {
		Actions []struct{ Actor, Action, OutTradeNo, Detail string }
	}
	h.Admin(t, "/admin/audit?actor=shop").Decode(t, &audit)
	if len(audit.Actions) != 1 || audit.Actions[0].Action != "create" || audit.Actions[0].OutTradeNo != o.OutTradeNo ||
		!strings.Contains(audit.Actions[0].Detail, "ORD-1001") {
		t.Fatalf("audit of the merchant: %+v", audit.Actions)
	}
}

// TestMerchantRefusals: bad bodies are 400 and change nothing; an unknown user is 422; each key
// opens its own API only: a mini-app or admin token is refused on /merchant, a merchant key on
// /mp, /admin and the finance pages.
func TestMerchantRefusals(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-refusals")
	_, who := verifyUser(t, h, token)
	many := map[string]string{}
	for i := range 21 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	good := func(change func(map[string]any)) map[string]any {
		b := map[string]any{"userId": who["userId"], "totalAmount": "1.00", "currency": "USD", "desc": "x", "reference": "R-1",
			"metadata": map[string]string{"a": "b"}}
		change(b)
		return b
	}
	tests := []struct {
		name string
		body any
		code int
	}{
		{"21 metadata keys", good(func(b map[string]any) { b["metadata"] = many }), 400},
		{"a 41-character key", good(func(b map[string]any) { b["metadata"] = map[string]string{strings.Repeat("k", 41): "v"} }), 400},
		{"a key with a space", good(func(b map[string]any) { b["metadata"] = map[string]string{"a b": "v"} }), 400},
		{"a 501-character value", good(func(b map[string]any) { b["metadata"] = map[string]string{"k": strings.Repeat("v", 501)} }), 400},
		{"a nested value", `{"userId":"u","totalAmount":"1.00","currency":"USD","reference":"R-1","metadata":{"a":{"b":"c"}}}`, 400},
		{"a null value", `{"userId":"u","totalAmount":"1.00","currency":"USD","reference":"R-1","metadata":{"a":null}}`, 400},
		{"a number value", `{"userId":"u","totalAmount":"1.00","currency":"USD","reference":"R-1","metadata":{"a":1}}`, 400},
		{"metadata an array", `{"userId":"u","totalAmount":"1.00","currency":"USD","reference":"R-1","metadata":["a"]}`, 400},
		{"no reference", good(func(b map[string]any) { delete(b, "reference") }), 400},
		{"a reference with a space", good(func(b map[string]any) { b["reference"] = "R 1" }), 400},
		{"a 65-character reference", good(func(b map[string]any) { b["reference"] = strings.Repeat("r", 65) }), 400},
		{"an amount as a number", `{"userId":"u","totalAmount":1,"currency":"USD","reference":"R-1"}`, 400},
		{"an unknown field", good(func(b map[string]any) { b["openid"] = "x" }), 400},
		{"an unknown user", good(func(b map[string]any) { b["userId"] = "nobody" }), 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := map[int]string{400: "invalid_request", 422: "unprocessable"}[tc.code]
			merchant(t, h, apptest.MerchantKey, http.MethodPost, "/merchant/orders", tc.body).WantError(t, tc.code, code)
		})
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM orders`); n != 0 || h.Sandbox.Stats().Calls["prepay"] != 0 {
		t.Fatalf("refused requests left %d orders", n)
	}

	// Each credential opens its own API.
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "mine"}, "")
	for _, c := range []struct{ name, cred, method, path string }{
		{"a mini-app token on /merchant", token, http.MethodGet, "/merchant/orders"},
		{"an admin token on /merchant", apptest.FinanceToken, http.MethodGet, "/merchant/orders"},
		{"no key on /merchant", "", http.MethodGet, "/merchant/orders/" + o.OutTradeNo},
		{"a merchant key on /mp", apptest.MerchantKey, http.MethodGet, "/mp/orders"},
		{"a merchant key on /mp/products", apptest.MerchantKey, http.MethodGet, "/mp/products"},
		{"a merchant key on /admin", apptest.MerchantKey, http.MethodGet, "/admin/orders"},
		{"a merchant key on /admin/products", apptest.MerchantKey, http.MethodGet, "/admin/products"},
	} {
		hdr := apptest.Bearer(c.cred)
		if c.cred == "" {
			hdr = nil
		}
		h.Must(t, c.method, h.URL+c.path, nil, hdr).WantError(t, http.StatusUnauthorized, "unauthorized")
	}
	// A mini-app's order is not a merchant's.
	merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders/"+o.OutTradeNo, nil).WantError(t, http.StatusNotFound, "not_found")
	if p := h.FinanceClient(t).SignIn(t, apptest.MerchantKey); p.Status != http.StatusUnauthorized {
		t.Fatalf("finance sign-in with a merchant key: HTTP %d, want 401", p.Status)
	}
}

// TestMerchantConcurrentRepeats: 20 identical creates at once, on SQLite and on PostgreSQL (there
// spread over two instances sharing the database), make one order and one prepay: one 201,
// nineteen 200s with the same order. The database's unique index decides, not a process's memory.
func TestMerchantConcurrentRepeats(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, dbURL string) {
		h := apptest.Start(t, apptest.Options{DBURL: dbURL})
		instances := []*apptest.Stack{h}
		if strings.HasPrefix(dbURL, "postgres") {
			instances = append(instances, apptest.Start(t, apptest.Options{DBURL: dbURL, MOS: h}))
		}
		token := h.Login(t, "user-merchant-race")
		_, who := verifyUser(t, h, token)
		body := map[string]any{"userId": who["userId"], "totalAmount": "9.99", "currency": "USD", "desc": "Race",
			"reference": "RACE-1", "metadata": map[string]string{"try": "1"}}
		const n = 20
		before := h.Sandbox.Stats().Calls["prepay"]
		answers := make([]apptest.Response, n)
		errs := make([]error, n)
		concurrently(n, func(i int) {
			on := instances[i%len(instances)]
			answers[i], errs[i] = on.Do(http.MethodPost, on.URL+"/merchant/orders", body, apptest.Bearer(apptest.MerchantKey))
		})
		byStatus := map[int]int{}
		var first string
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			var o merchantOrder
			answers[i].Decode(t, &o)
			byStatus[answers[i].Status]++
			if first == "" {
				first = o.OutTradeNo
			}
			if o.OutTradeNo != first || o.PrepayID == "" || o.Status != "PENDING" || o.Reference != "RACE-1" {
				t.Fatalf("answer %d: HTTP %d %s", i, answers[i].Status, answers[i].Body)
			}
		}
		if byStatus[http.StatusCreated] != 1 || byStatus[http.StatusOK] != n-1 {
			t.Fatalf("answers by status %v, want one 201 and %d 200", byStatus, n-1)
		}
		if c := h.Count(t, `SELECT COUNT(*) FROM orders WHERE reference = 'RACE-1'`); c != 1 {
			t.Fatalf("%d orders, want 1", c)
		}
		if d := h.Sandbox.Stats().Calls["prepay"] - before; d != 1 {
			t.Fatalf("%d prepay calls reached the sandbox, want 1", d)
		}
		if c := h.Count(t, `SELECT COUNT(*) FROM admin_actions WHERE action = 'create' AND actor = 'shop'`); c != 1 {
			t.Fatalf("%d audit rows of the creation, want 1", c)
		}
	})
}

// TestMerchantRateLimit: each merchant key has its own limit; over it, 429 rate_limited with
// Retry-After, while another key is still served.
func TestMerchantRateLimit(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.MerchantRate, c.MerchantBurst = 0.5, 3 }})
	for i := range 3 {
		if r := merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders", nil); r.Status != http.StatusOK {
			t.Fatalf("request %d within the burst: HTTP %d %s", i+1, r.Status, r.Body)
		}
	}
	r := merchant(t, h, apptest.MerchantKey, http.MethodGet, "/merchant/orders", nil)
	r.WantError(t, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if r := merchant(t, h, apptest.OtherMerchantKey, http.MethodGet, "/merchant/orders", nil); r.Status != http.StatusOK {
		t.Fatalf("another key: HTTP %d %s, want its own limit", r.Status, r.Body)
	}
}
