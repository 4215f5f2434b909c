package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store"
	"github.com/mospay/mospay/store/pgtest"
	"github.com/mospay/mospay/webhook"
)

// TestMain starts one throw-away PostgreSQL server for the package, so that the race tests run
// on both databases (they skip the PostgreSQL half where it is not installed, outside CI).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// waitFor bounds every wait for something asynchronous (a notification, a retry). It is
// generous on purpose: the tests assert what happens, never how fast.
const waitFor = 30 * time.Second

// Admin tokens the harness configures: one named, one bare (named "admin" as CONTRACT.md says).
const (
	financeToken = "finance-token-0123456789abcdef"
	adminToken   = "admin-token-0123456789abcdef01"
)

// options tune a harness.
type options struct {
	dbURL      string        // "" = a fresh SQLite file in t.TempDir()
	mosTimeout time.Duration // one MOS call; 0 = 5 s
}

// harness is mospay assembled as cmd/mospay/app.go assembles `serve --sandbox`, with both HTTP
// servers on loopback ports: the API (with /mos/notify) and the MOS sandbox.
type harness struct {
	db      *store.DB
	sb      *sandbox.Server
	sbURL   string
	apiURL  string
	appKey  string
	secret  string
	mchID   string
	logs    *logBuffer
	client  *http.Client
	timeout time.Duration
}

// newHarness builds and starts everything; it is all torn down when the test ends.
func newHarness(t testing.TB, opt options) *harness {
	t.Helper()
	ctx := context.Background()
	if opt.dbURL == "" {
		opt.dbURL = "sqlite:" + filepath.Join(t.TempDir(), "mospay.db")
	}
	if opt.mosTimeout == 0 {
		opt.mosTimeout = 5 * time.Second
	}
	h := &harness{
		appKey: "sbx" + randHex(8), secret: randHex(16), mchID: "sbxmerchant" + randHex(4),
		logs: &logBuffer{}, client: &http.Client{Timeout: waitFor}, timeout: opt.mosTimeout,
	}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mospay log (tail):\n%s", h.logs.tail(16<<10))
		}
	})

	db, err := store.Open(ctx, opt.dbURL, store.Options{Logger: log})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	h.db = db

	// The API server's address is needed for notifyUrl before the handler exists: the listener
	// of an unstarted httptest.Server is already bound.
	apiSrv := httptest.NewUnstartedServer(nil)
	h.apiURL = "http://" + apiSrv.Listener.Addr().String()
	notifyURL := h.apiURL + "/mos/notify"

	h.sb = sandbox.New(sandbox.Config{
		AppKey: h.appKey, AppSecret: h.secret, MchID: h.mchID, AppName: "mospay e2e",
		NotifyURL: notifyURL, RetryScale: 0.001, Logger: log.With("component", "sandbox"),
	})
	sbSrv := httptest.NewServer(h.sb.Handler())
	h.sbURL = sbSrv.URL

	client := mos.NewClient(mos.Config{
		BaseURL: sbSrv.URL, AppKey: h.appKey, AppSecret: h.secret, MchID: h.mchID,
		Timeout: opt.mosTimeout, Logger: log,
	})
	svc := order.NewService(db, mos.Provider{Client: client}, order.SystemClock{}, log, order.Config{
		AppKey: h.appKey, NotifyURL: notifyURL, OrderTTL: 30 * time.Minute,
		MaxAmount: map[money.Currency]int64{money.USD: 1_000_000, money.KHR: 40_000_000},
		Sandbox:   true, PrepayLease: opt.mosTimeout + 5*time.Second, Instance: "e2e",
	})
	const maxBody = 1 << 20
	srv := api.New(api.Config{
		MaxBody: maxBody, JWTSecret: []byte(randHex(32)), JWTTTL: time.Hour, AppKey: h.appKey,
		AdminTokens: []api.AdminToken{{Name: "finance", Token: financeToken}, {Name: "admin", Token: adminToken}},
		ReportTZ:    time.UTC,
	}, api.Deps{
		Logger: log, Metrics: api.NewMetrics(), Ready: db.Ready,
		Sessions: mos.Provider{Client: client}, Orders: svc,
		Notify: &webhook.Receiver{AppKey: h.appKey, Secret: h.secret, Service: svc, Log: log, MaxBody: maxBody},
	})
	apiSrv.Config.Handler = srv.Handler()
	apiSrv.Start()

	// Torn down in reverse: the sandbox first (its deliveries post to the API), then the API,
	// then the database (registered above).
	t.Cleanup(apiSrv.Close)
	t.Cleanup(func() {
		h.sb.Close()
		sbSrv.Close()
	})
	return h
}

// forEachDB runs f on a fresh SQLite file and on a fresh PostgreSQL database (skipped with the
// reason where PostgreSQL is not installed, failed in CI).
func forEachDB(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, "sqlite:"+filepath.Join(t.TempDir(), "mospay.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, pgtest.NewDB(t))
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuffer collects mospay's log lines, shown when a test fails and searched by some tests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "...\n" + s[len(s)-n:]
	}
	return s
}

// response is one HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode reads the answer's JSON into v, failing the test if it is not JSON.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer is not JSON (%v): HTTP %d %s", err, r.status, r.body)
	}
}

// apiError is CONTRACT.md's error format.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError asserts the answer is status with CONTRACT.md's error body of code.
func (r response) wantError(t testing.TB, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("HTTP %d %s, want %d %s", r.status, r.body, status, code)
	}
	var e apiError
	r.decode(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error body %s, want code %q and a message", r.body, code)
	}
	var raw map[string]json.RawMessage
	r.decode(t, &raw)
	if len(raw) != 1 {
		t.Fatalf("error body %s has keys besides \"error\"", r.body)
	}
}

// do sends one request; body is sent as is when it is a string or []byte, else as JSON.
// Safe to call from several goroutines: failures are returned as status 0, not t.Fatal.
func (h *harness) do(method, url string, body any, hdr map[string]string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// must is do that fails the test on a transport error; only from the test's goroutine.
func (h *harness) must(t testing.TB, method, url string, body any, hdr map[string]string) response {
	t.Helper()
	r, err := h.do(method, url, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// login plays mos.login in the sandbox and logs in to mospay with the code: a mini-app token.
func (h *harness) login(t testing.TB, openid string) string {
	t.Helper()
	r := h.must(t, "POST", h.sbURL+"/sandbox/login-codes", map[string]string{"openid": openid}, nil)
	var code struct{ Code string }
	r.decode(t, &code)
	if r.status != 200 || code.Code == "" {
		t.Fatalf("sandbox login code: HTTP %d %s", r.status, r.body)
	}
	r = h.must(t, "POST", h.apiURL+"/mp/login/miniAppLogin", map[string]string{"code": code.Code}, nil)
	var tok struct{ Token, ExpiresAt string }
	r.decode(t, &tok)
	if r.status != 200 || tok.Token == "" {
		t.Fatalf("login: HTTP %d %s", r.status, r.body)
	}
	return tok.Token
}

// orderJSON is an order as CONTRACT.md shows it.
type orderJSON struct {
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

func (o orderJSON) hasFlag(f string) bool {
	for _, g := range o.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// createBody is POST /mp/orders.
type createBody struct {
	TotalAmount string `json:"totalAmount"`
	Currency    string `json:"currency"`
	Desc        string `json:"desc"`
}

// create posts an order (body may be a createBody or raw JSON text) under key ("" = none).
func (h *harness) create(token string, body any, key string) (response, error) {
	hdr := bearer(token)
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	return h.do("POST", h.apiURL+"/mp/orders", body, hdr)
}

// createOrder creates an order that must succeed with 201 PENDING.
func (h *harness) createOrder(t testing.TB, token string, body createBody, key string) orderJSON {
	t.Helper()
	r, err := h.create(token, body, key)
	if err != nil {
		t.Fatal(err)
	}
	var o orderJSON
	r.decode(t, &o)
	if r.status != http.StatusCreated || o.Status != "PENDING" || o.PrepayID == "" {
		t.Fatalf("create %+v: HTTP %d %s, want 201 PENDING with a prepayId", body, r.status, r.body)
	}
	return o
}

// getOrder is GET /mp/orders/{o} as token's user.
func (h *harness) getOrder(t testing.TB, token, outTradeNo string) (response, orderJSON) {
	t.Helper()
	r := h.must(t, "GET", h.apiURL+"/mp/orders/"+outTradeNo, nil, bearer(token))
	var o orderJSON
	if r.status == 200 {
		r.decode(t, &o)
	}
	return r, o
}

// sandboxPost calls the sandbox's control API and asserts a 200.
func (h *harness) sandboxPost(t testing.TB, method, path string, body any) response {
	t.Helper()
	r := h.must(t, method, h.sbURL+path, body, nil)
	if r.status != 200 {
		t.Fatalf("sandbox %s %s: HTTP %d %s", method, path, r.status, r.body)
	}
	return r
}

// pay plays the user paying in MOS: the sandbox marks the order SUCCESS and notifies mospay.
func (h *harness) pay(t testing.TB, outTradeNo string) {
	t.Helper()
	h.sandboxPost(t, "POST", "/sandbox/orders/"+outTradeNo+"/pay", nil)
}

// waitStatus polls GET /mp/orders/{o} until the order is want.
func (h *harness) waitStatus(t testing.TB, token, outTradeNo, want string) orderJSON {
	t.Helper()
	var last response
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r, o := h.getOrder(t, token, outTradeNo)
		if r.status == 200 && o.Status == want {
			return o
		}
		last = r
	}
	t.Fatalf("order %s never became %s; last answer HTTP %d %s", outTradeNo, want, last.status, last.body)
	return orderJSON{}
}

// waitSandbox polls the sandbox's view of an order until ok says so.
func (h *harness) waitSandbox(t testing.TB, outTradeNo string, what string, ok func(sandbox.OrderView) bool) sandbox.OrderView {
	t.Helper()
	var v sandbox.OrderView
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		v, _ = h.sb.Order(outTradeNo)
		if ok(v) {
			return v
		}
	}
	t.Fatalf("sandbox order %s: never %s; last %+v", outTradeNo, what, v)
	return v
}

// admin calls /admin with the finance token.
func (h *harness) admin(t testing.TB, path string) response {
	t.Helper()
	return h.must(t, "GET", h.apiURL+path, nil, bearer(financeToken))
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (h *harness) rebind(q string) string {
	if h.db.Dialect != store.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// count runs a SELECT COUNT(*) ... directly on the database.
func (h *harness) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.db.SQL().QueryRow(h.rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// transition is one row of the transitions table.
type transition struct{ From, To, Source string }

func (tr transition) String() string { return fmt.Sprintf("%s->%s(%s)", tr.From, tr.To, tr.Source) }

// transitions reads an order's transitions from the database, oldest first.
func (h *harness) transitions(t testing.TB, outTradeNo string) []transition {
	t.Helper()
	rows, err := h.db.SQL().Query(h.rebind(`SELECT t.from_status, t.to_status, t.source FROM transitions t
		JOIN orders o ON o.id = t.order_id WHERE o.out_trade_no = ? ORDER BY t.id`), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []transition
	for rows.Next() {
		var tr transition
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

// wantTransitions asserts an order's whole history.
func (h *harness) wantTransitions(t testing.TB, outTradeNo string, want ...transition) {
	t.Helper()
	got := h.transitions(t, outTradeNo)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("transitions of %s:\n got %v\nwant %v", outTradeNo, got, want)
	}
}

// notificationRow is one stored notification.
type notificationRow struct{ MOSStatus, QueriedStatus, Outcome string }

// notifications reads the notifications stored for outTradeNo, oldest first.
func (h *harness) notifications(t testing.TB, outTradeNo string) []notificationRow {
	t.Helper()
	rows, err := h.db.SQL().Query(h.rebind(`SELECT mos_status, queried_status, outcome FROM notifications
		WHERE out_trade_no = ? ORDER BY id`), outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []notificationRow
	for rows.Next() {
		var n notificationRow
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

// notification builds a notification body as MOS sends one: the order's orderQuery fields as
// the sandbox holds them, overridden by fields, with appKey, a nonceStr and a sign made with
// secret (the app's own secret unless forging).
func (h *harness) notification(t testing.TB, outTradeNo string, fields map[string]string, secret string) []byte {
	t.Helper()
	f := map[string]string{"outTradeNo": outTradeNo, "appKey": h.appKey, "nonceStr": randHex(16), "country": "KH"}
	if v, ok := h.sb.Order(outTradeNo); ok {
		f["prepayId"], f["openid"], f["currency"] = v.PrepayID, v.OpenID, v.Currency
		f["totalAmount"], f["desc"], f["status"] = v.TotalAmount, v.Desc, v.Status
		f["expireTime"], f["createTime"] = strconv.FormatInt(v.ExpireTime, 10), strconv.FormatInt(v.CreateTime, 10)
	}
	for k, v := range fields {
		f[k] = v
	}
	f[mos.SignField] = mos.Sign(f, secret)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mosAnswer is the envelope /mos/notify answers with.
type mosAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// wantMOSAnswer asserts /mos/notify answered status in MOS's envelope with the same code.
func wantMOSAnswer(t testing.TB, r response, status int) {
	t.Helper()
	var a mosAnswer
	if err := json.Unmarshal(r.body, &a); err != nil || r.status != status || a.Code != status || a.Message == "" {
		t.Fatalf("/mos/notify answered HTTP %d %s, want %d {\"code\":%d,\"message\":...}", r.status, r.body, status, status)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(r.body, &raw)
	if len(raw) != 2 {
		t.Fatalf("/mos/notify answer %s: want exactly code and message", r.body)
	}
}
