package apptest

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/mospay/mospay/mos/sandbox"
)

// Do sends one request through the stack's client (see Client.Do).
func (h *Stack) Do(method, url string, body any, hdr map[string]string) (Response, error) {
	return h.Client.Do(method, url, body, hdr)
}

// Must is Do that fails the test on a transport error (see Client.Must).
func (h *Stack) Must(t testing.TB, method, url string, body any, hdr map[string]string) Response {
	t.Helper()
	return h.Client.Must(t, method, url, body, hdr)
}

// Login plays mos.login in the sandbox and logs in to mospay with the code: a mini-app token.
func (h *Stack) Login(t testing.TB, openid string) string {
	t.Helper()
	r := h.Must(t, "POST", h.SandboxURL+"/sandbox/login-codes", map[string]string{"openid": openid}, nil)
	var code struct{ Code string }
	r.Decode(t, &code)
	if r.Status != 200 || code.Code == "" {
		t.Fatalf("sandbox login code: HTTP %d %s", r.Status, r.Body)
	}
	r = h.Must(t, "POST", h.URL+"/mp/login/miniAppLogin", map[string]string{"code": code.Code}, nil)
	var tok struct{ Token, ExpiresAt string }
	r.Decode(t, &tok)
	if r.Status != 200 || tok.Token == "" {
		t.Fatalf("login: HTTP %d %s", r.Status, r.Body)
	}
	return tok.Token
}

// Order is an order as the API shows it, decoded independently of package api, so that a
// renamed JSON field fails a test instead of passing silently.
type Order struct {
	OutTradeNo  string   `json:"outTradeNo"`
	PrepayID    string   `json:"prepayId"`
	AppKey      string   `json:"appKey"`
	TotalAmount string   `json:"totalAmount"`
	Currency    string   `json:"currency"`
	Desc        string   `json:"desc"`
	Status      string   `json:"status"`
	Flags       []string `json:"flags"`
	ExpireTime  int64    `json:"expireTime"`
	CreatedAt   string   `json:"createdAt"`
	UpdatedAt   string   `json:"updatedAt"`
	OpenID      string   `json:"openid"`
}

func (o Order) HasFlag(f string) bool {
	for _, g := range o.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// CreateBody is POST /mp/orders.
type CreateBody struct {
	TotalAmount string `json:"totalAmount"`
	Currency    string `json:"currency"`
	Desc        string `json:"desc"`
}

// Create posts an order (body may be a CreateBody or raw JSON text) under key ("" = none).
func (h *Stack) Create(token string, body any, key string) (Response, error) {
	hdr := Bearer(token)
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	return h.Do("POST", h.URL+"/mp/orders", body, hdr)
}

// CreateOrder creates an order that must succeed with 201 PENDING.
func (h *Stack) CreateOrder(t testing.TB, token string, body CreateBody, key string) Order {
	t.Helper()
	r, err := h.Create(token, body, key)
	if err != nil {
		t.Fatal(err)
	}
	var o Order
	r.Decode(t, &o)
	if r.Status != http.StatusCreated || o.Status != "PENDING" || o.PrepayID == "" {
		t.Fatalf("create %+v: HTTP %d %s, want 201 PENDING with a prepayId", body, r.Status, r.Body)
	}
	return o
}

// GetOrder is GET /mp/orders/{o} as token's user.
func (h *Stack) GetOrder(t testing.TB, token, outTradeNo string) (Response, Order) {
	t.Helper()
	r := h.Must(t, "GET", h.URL+"/mp/orders/"+outTradeNo, nil, Bearer(token))
	var o Order
	if r.Status == 200 {
		r.Decode(t, &o)
	}
	return r, o
}

// SandboxPost calls the sandbox's control API and asserts a 200.
func (h *Stack) SandboxPost(t testing.TB, method, path string, body any) Response {
	t.Helper()
	r := h.Must(t, method, h.SandboxURL+path, body, nil)
	if r.Status != 200 {
		t.Fatalf("sandbox %s %s: HTTP %d %s", method, path, r.Status, r.Body)
	}
	return r
}

// Pay plays the user paying in MOS: the sandbox marks the order SUCCESS and notifies mospay.
func (h *Stack) Pay(t testing.TB, outTradeNo string) {
	t.Helper()
	h.SandboxPost(t, "POST", "/sandbox/orders/"+outTradeNo+"/pay", nil)
}

// WaitStatus polls GET /mp/orders/{o} until the order is want.
func (h *Stack) WaitStatus(t testing.TB, token, outTradeNo, want string) Order {
	t.Helper()
	var last Response
	var o Order
	if !Within(WaitFor, func() bool {
		last, o = h.GetOrder(t, token, outTradeNo)
		return last.Status == 200 && o.Status == want
	}) {
		t.Fatalf("order %s never became %s; last answer HTTP %d %s", outTradeNo, want, last.Status, last.Body)
	}
	return o
}

// WaitSandbox polls the sandbox's view of an order until ok says so.
func (h *Stack) WaitSandbox(t testing.TB, outTradeNo string, what string, ok func(sandbox.OrderView) bool) sandbox.OrderView {
	t.Helper()
	var v sandbox.OrderView
	if !Within(WaitFor, func() bool { v, _ = h.Sandbox.Order(outTradeNo); return ok(v) }) {
		t.Fatalf("sandbox order %s: never %s; last %+v", outTradeNo, what, v)
	}
	return v
}

// Admin calls /admin with the finance token.
func (h *Stack) Admin(t testing.TB, path string) Response {
	t.Helper()
	return h.Must(t, "GET", h.URL+path, nil, Bearer(FinanceToken))
}

// Count runs a SELECT COUNT(*) ... directly on the database.
func (h *Stack) Count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.DB.SQL().QueryRow(h.DB.Rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// Transition is one row of the transitions table.
type Transition struct{ From, To, Source string }

func (tr Transition) String() string { return fmt.Sprintf("%s->%s(%s)", tr.From, tr.To, tr.Source) }

// Transitions reads an order's transitions from the database, oldest first.
func (h *Stack) Transitions(t testing.TB, outTradeNo string) []Transition {
	t.Helper()
	rows, err := h.DB.SQL().Query(h.DB.Rebind(`SELECT t.from_status, t.to_status, t.source FROM transitions t
		JOIN orders o ON o.id = t.order_id WHERE o.out_trade_no = ? ORDER BY t.id`), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var tr Transition
		if err := rows.Scan(&tr.From, &tr.To, &tr.Source); err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// WantTransitions asserts an order's whole history.
func (h *Stack) WantTransitions(t testing.TB, outTradeNo string, want ...Transition) {
	t.Helper()
	got := h.Transitions(t, outTradeNo)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("transitions of %s:\n got %v\nwant %v", outTradeNo, got, want)
	}
}

// NotificationRow is one stored notification.
type NotificationRow struct{ MOSStatus, QueriedStatus, Outcome string }

// Notifications reads the notifications stored for outTradeNo, oldest first.
func (h *Stack) Notifications(t testing.TB, outTradeNo string) []NotificationRow {
	t.Helper()
	rows, err := h.DB.SQL().Query(h.DB.Rebind(`SELECT mos_status, queried_status, outcome FROM notifications
		WHERE out_trade_no = ? ORDER BY id`), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []NotificationRow
	for rows.Next() {
		var n NotificationRow
		if err := rows.Scan(&n.MOSStatus, &n.QueriedStatus, &n.Outcome); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Notification builds a notification body as MOS sends one: the order's orderQuery fields as
// the sandbox holds them, overridden by fields, with appKey, a nonceStr and a sign made with
// secret (the app's own secret unless forging).
func (h *Stack) Notification(t testing.TB, outTradeNo string, fields map[string]string, secret string) []byte {
	t.Helper()
	f := map[string]string{"outTradeNo": outTradeNo, "appKey": h.AppKey, "nonceStr": RandHex(16), "country": "KH"}
	if v, ok := h.Sandbox.Order(outTradeNo); ok {
		f["prepayId"], f["openid"], f["currency"] = v.PrepayID, v.OpenID, v.Currency
		f["totalAmount"], f["desc"], f["status"] = v.TotalAmount, v.Desc, v.Status
		f["expireTime"], f["createTime"] = strconv.FormatInt(v.ExpireTime, 10), strconv.FormatInt(v.CreateTime, 10)
	}
	for k, v := range fields {
		f[k] = v
	}
	return SignedJSON(f, h.AppKey, secret)
}
