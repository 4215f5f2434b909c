package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
)

const (
	appKey    = "app1"
	appSecret = "sandbox-secret-1"
	mchID     = "mch1"
)

// fixture is a sandbox behind a real HTTP server, with a clock, and apptest's client to call it.
type fixture struct {
	t     *testing.T
	sb    *sandbox.Server
	url   string
	clock *apptest.Clock
	http  *apptest.Client
}

func setup(t *testing.T) *fixture {
	t.Helper()
	c := apptest.ClockAt(time.UnixMilli(1732260600000))
	sb := sandbox.New(sandbox.Config{
		AppKey: appKey, AppSecret: appSecret, MchID: mchID, AppName: "Shop",
		NotifyURL: "http://example.invalid/mos/notify", RetryScale: 0.001, Now: c.Now,
		Origins: []string{devOrigin},
	})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		sb.Close()
		srv.Close()
	})
	return &fixture{t: t, sb: sb, url: srv.URL, clock: c, http: apptest.NewClient(t, "")}
}

// envelope is MOS's answer as a test reads it; data is kept raw to check number types.
type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call POSTs fields to a MOS endpoint, signed with secret unless fields already hold a sign.
func (f *fixture) call(path string, fields map[string]string, secret string) (int, envelope) {
	f.t.Helper()
	raw := apptest.SignedJSON(fields, appKey, secret)
	return f.post(path, "application/json", raw)
}

func (f *fixture) post(path, contentType string, raw []byte) (int, envelope) {
	f.t.Helper()
	r := f.http.Must(f.t, "POST", f.url+path, raw, map[string]string{"Content-Type": contentType})
	var env envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		f.t.Fatalf("%s: answer %q is not an envelope: %v", path, r.Body, err)
	}
	return r.Status, env
}

// control calls the control API and decodes its JSON answer into out (if not nil).
func (f *fixture) control(method, path, body string, out any) int {
	f.t.Helper()
	r := f.http.Must(f.t, method, f.url+path, body, nil)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Fatalf("%s %s: Content-Type %q, body %q", method, path, ct, r.Body)
	}
	if out != nil {
		r.Decode(f.t, out)
	}
	return r.Status
}

func prepayFields(outTradeNo, notifyURL string) map[string]string {
	return map[string]string{
		"mcId": mchID, "nonceStr": "n1", "desc": "Café ☕", "outTradeNo": outTradeNo, "currency": "USD",
		"totalAmount": "16.99", "notifyUrl": notifyURL, "openid": "o1", "expireTime": "1732262400000",
	}
}

// prepay creates an order and returns its prepayId.
func (f *fixture) prepay(outTradeNo, notifyURL string) string {
	f.t.Helper()
	_, env := f.call(mos.PathPrepay, prepayFields(outTradeNo, notifyURL), appSecret)
	var d struct {
		PrepayID string `json:"prepayId"`
	}
	if env.Code != 200 || json.Unmarshal(env.Data, &d) != nil || d.PrepayID == "" {
		f.t.Fatalf("prepay %s: %+v", outTradeNo, env)
	}
	return d.PrepayID
}

// receiver is a notifyUrl that records each notification and answers as told.
type receiver struct {
	t      *testing.T
	url    string
	mu     sync.Mutex
	got    []map[string]string
	at     []time.Time
	answer func(n int) (int, string) // n counts from 1
}

func newReceiver(t *testing.T, answer func(n int) (int, string)) *receiver {
	rc := &receiver{t: t, answer: answer}
	if rc.answer == nil {
		rc.answer = func(int) (int, string) { return 200, `{"code":200,"message":"SUCCESS"}` }
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fields, err := mos.DecodeFields(r.Header.Get("Content-Type"), body)
		if err != nil {
			t.Errorf("notification body %q: %v", body, err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, fields)
		rc.at = append(rc.at, time.Now())
		n := len(rc.got)
		rc.mu.Unlock()
		status, answer := rc.answer(n)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL + "/mos/notify"
	return rc
}

func (rc *receiver) received() []map[string]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]string(nil), rc.got...)
}

func TestMOSEndpointsRefuseBadRequests(t *testing.T) {
	f := setup(t)
	good := map[string]string{"code": "x"}
	tests := []struct {
		name   string
		path   string
		fields map[string]string
		secret string
		code   int
		msg    string
	}{
		{"wrong secret", mos.PathGetApplication, nil, "other", 401, "invalid sign"},
		{"unknown appKey", mos.PathGetApplication, map[string]string{"appKey": "nobody"}, appSecret, 401, "unknown appKey"},
		{"missing sign", mos.PathCode2Session, map[string]string{"code": "x", "sign": ""}, appSecret, 401, "invalid sign"},
		{"upper-case sign", mos.PathCode2Session, map[string]string{"code": "x", "sign": strings.ToUpper(mos.Sign(map[string]string{"appKey": appKey, "code": "x"}, appSecret))}, appSecret, 401, "invalid sign"},
		{"tampered", mos.PathCode2Session, map[string]string{"code": "y", "sign": mos.Sign(map[string]string{"appKey": appKey, "code": "x"}, appSecret)}, appSecret, 401, "invalid sign"},
		{"good sign, bad code", mos.PathCode2Session, good, appSecret, 400, "invalid code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, env := f.call(tt.path, tt.fields, tt.secret)
			if status != 200 || env.Code != tt.code || env.Message != tt.msg {
				t.Fatalf("HTTP %d %+v, want code %d %q", status, env, tt.code, tt.msg)
			}
		})
	}
	t.Run("malformed body", func(t *testing.T) {
		status, env := f.post(mos.PathGetApplication, "application/json", []byte(`{"appKey":"app1","appKey":"app1"}`))
		if status != 200 || env.Code != 400 {
			t.Fatalf("HTTP %d %+v", status, env)
		}
	})
	t.Run("form body accepted", func(t *testing.T) {
		fields := map[string]string{"appKey": appKey}
		body := "appKey=" + appKey + "&sign=" + mos.Sign(fields, appSecret)
		status, env := f.post(mos.PathGetApplication, "application/x-www-form-urlencoded", []byte(body))
		if status != 200 || env.Code != 200 {
			t.Fatalf("HTTP %d %+v", status, env)
		}
	})
	if got := f.sb.Stats().Calls; got["getApplication"] != 4 || got["code2session"] != 4 {
		t.Fatalf("calls = %v", got)
	}
}

func TestCode2Session(t *testing.T) {
	f := setup(t)
	var lc struct{ Code, OpenID string }
	if st := f.control("POST", "/sandbox/login-codes", `{"openid":"o-42"}`, &lc); st != 200 || lc.Code == "" {
		t.Fatalf("login code: %d %+v", st, lc)
	}
	_, env := f.call(mos.PathCode2Session, map[string]string{"code": lc.Code}, appSecret)
	var d struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"sessionKey"`
	}
	if env.Code != 200 || json.Unmarshal(env.Data, &d) != nil || d.OpenID != "o-42" || d.SessionKey == "" {
		t.Fatalf("code2session: %+v", env)
	}
	if _, env := f.call(mos.PathCode2Session, map[string]string{"code": lc.Code}, appSecret); env.Code == 200 || env.Message != "code already used" {
		t.Fatalf("reused code: %+v", env)
	}

	fresh := f.sb.NewLoginCode("o-43")
	f.clock.Advance(5 * time.Minute)
	if _, env := f.call(mos.PathCode2Session, map[string]string{"code": fresh}, appSecret); env.Code != 200 {
		t.Fatalf("code at exactly 5 minutes: %+v", env)
	}
	stale := f.sb.NewLoginCode("o-44")
	f.clock.Advance(5*time.Minute + time.Millisecond)
	if _, env := f.call(mos.PathCode2Session, map[string]string{"code": stale}, appSecret); env.Code == 200 || env.Message != "code expired" {
		t.Fatalf("expired code: %+v", env)
	}
}

func TestPrepayValidation(t *testing.T) {
	f := setup(t)
	with := func(k, v string) map[string]string {
		m := prepayFields("T1", "http://x/mos/notify")
		m[k] = v
		return m
	}
	tests := []struct {
		name   string
		fields map[string]string
		msg    string
	}{
		{"missing mcId", with("mcId", ""), "missing mcId"},
		{"missing openid", with("openid", ""), "missing openid"},
		{"missing notifyUrl", with("notifyUrl", ""), "missing notifyUrl"},
		{"wrong mcId", with("mcId", "mch2"), "invalid mcId"},
		{"EUR", with("currency", "EUR"), "invalid currency"},
		{"lower-case currency", with("currency", "usd"), "invalid currency"},
		{"too many decimals", with("totalAmount", "16.990"), "invalid totalAmount"},
		{"fractional riel", map[string]string{"mcId": mchID, "outTradeNo": "T1", "currency": "KHR", "totalAmount": "4000.5", "notifyUrl": "http://x/n", "openid": "o"}, "invalid totalAmount"},
		{"negative", with("totalAmount", "-1"), "invalid totalAmount"},
		{"exponent", with("totalAmount", "1e2"), "invalid totalAmount"},
		{"zero", with("totalAmount", "0"), "invalid totalAmount"},
		{"long outTradeNo", with("outTradeNo", strings.Repeat("a", 33)), "invalid outTradeNo"},
		{"outTradeNo with dash", with("outTradeNo", "T-1"), "invalid outTradeNo"},
		{"relative notifyUrl", with("notifyUrl", "/mos/notify"), "invalid notifyUrl"},
		{"expireTime not ms", with("expireTime", "2024-11-22"), "invalid expireTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := f.call(mos.PathPrepay, tt.fields, appSecret)
			if env.Code == 200 || !strings.HasPrefix(env.Message, tt.msg) {
				t.Fatalf("%+v, want a refusal starting %q", env, tt.msg)
			}
		})
	}
	if _, ok := f.sb.Order("T1"); ok {
		t.Fatal("a refused prepay created an order")
	}
}

func TestPrepayIdempotent(t *testing.T) {
	f := setup(t)
	first := f.prepay("T1", "http://x/mos/notify")
	again := prepayFields("T1", "http://x/mos/notify")
	again["nonceStr"] = "n2" // a retry draws a new nonce: still the same request
	_, env := f.call(mos.PathPrepay, again, appSecret)
	if env.Code != 200 || !strings.Contains(string(env.Data), first) {
		t.Fatalf("repeat: %+v, want prepayId %s", env, first)
	}
	other := prepayFields("T1", "http://x/mos/notify")
	other["totalAmount"] = "17.00"
	if _, env := f.call(mos.PathPrepay, other, appSecret); env.Code == 200 || !strings.Contains(env.Message, "totalAmount") {
		t.Fatalf("other fields: %+v, want a refusal", env)
	}
	var v sandbox.OrderView
	f.control("GET", "/sandbox/orders/T1", "", &v)
	if v.PrepayCalls != 2 || v.PrepayID != first || v.TotalAmount != "16.99" || v.Status != "PENDING" {
		t.Fatalf("view = %+v", v)
	}
	if st := f.sb.Stats(); st.PrepayCalls != 2 || st.Calls["prepay"] != 3 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestOrderQuery(t *testing.T) {
	f := setup(t)
	if _, env := f.call(mos.PathOrderQuery, map[string]string{"outTradeNo": "NOPE", "nonceStr": "n"}, appSecret); env.Code == 200 || env.Message != "order not found" {
		t.Fatalf("unknown order: %+v", env)
	}
	if _, env := f.call(mos.PathOrderQuery, map[string]string{"outTradeNo": "NOPE"}, appSecret); env.Code == 200 || env.Message != "missing nonceStr" {
		t.Fatalf("no nonce: %+v", env)
	}
	fields := map[string]string{"mcId": mchID, "outTradeNo": "K1", "currency": "KHR", "totalAmount": "4000", "notifyUrl": "http://x/n", "openid": "o9"}
	_, env := f.call(mos.PathPrepay, fields, appSecret)
	if env.Code != 200 {
		t.Fatalf("prepay: %+v", env)
	}
	_, env = f.call(mos.PathOrderQuery, map[string]string{"outTradeNo": "K1", "nonceStr": "n"}, appSecret)
	dec := json.NewDecoder(bytes.NewReader(env.Data))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	created := f.clock.Now().UnixMilli()
	want := map[string]any{
		"openid": "o9", "outTradeNo": "K1", "country": "KH", "currency": "KHR", "totalAmount": "4000", "desc": "",
		"status": "PENDING", "createTime": json.Number(fmt.Sprint(created)),
		"expireTime": json.Number(fmt.Sprint(created + 2*time.Hour.Milliseconds())),
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if p, _ := d["prepayId"].(string); p == "" {
		t.Error("no prepayId")
	}
}

func TestPayNotifiesUntilAcknowledged(t *testing.T) {
	f := setup(t)
	rc := newReceiver(t, func(n int) (int, string) {
		switch n {
		case 1:
			return 500, `{"code":500,"message":"busy"}`
		case 2:
			return 200, `{"code":503,"message":"not yet"}`
		case 3:
			return 200, `OK`
		default:
			return 200, `{"code":200,"message":"SUCCESS"}`
		}
	})
	prepayID := f.prepay("T1", rc.url)
	var v sandbox.OrderView
	if st := f.control("POST", "/sandbox/orders/T1/pay", "", &v); st != 200 || v.Status != "SUCCESS" {
		t.Fatalf("pay: %d %+v", st, v)
	}
	apptest.Eventually(t, "the acknowledgement", func() bool { o, _ := f.sb.Order("T1"); return o.NotifyAcked == 1 })
	time.Sleep(60 * time.Millisecond) // the retry schedule (15 ms scaled) would have fired again
	got := rc.received()
	if len(got) != 4 {
		t.Fatalf("%d deliveries, want 4 (3 refused, then acknowledged)", len(got))
	}
	_, env := f.call(mos.PathOrderQuery, map[string]string{"outTradeNo": "T1", "nonceStr": "n"}, appSecret)
	query, err := mos.DecodeFields("application/json", env.Data)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if !mos.Verify(n, appSecret) {
			t.Errorf("delivery %d: signature does not verify: %q", i, n)
		}
		if n["appKey"] != appKey || n["nonceStr"] == "" || n["prepayId"] != prepayID {
			t.Errorf("delivery %d: %q", i, n)
		}
		for k, v := range query { // the orderQuery data fields, numbers as their text
			if n[k] != v {
				t.Errorf("delivery %d: %s = %q, orderQuery says %q", i, k, n[k], v)
			}
		}
	}
	o, _ := f.sb.Order("T1")
	if o.Notifications != 1 || o.NotifyAttempts != 4 || o.NotifyAcked != 1 {
		t.Fatalf("view = %+v", o)
	}
	if st := f.sb.Stats(); st.NotificationsSent != 4 || st.NotificationsAcked != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestControlTransitions(t *testing.T) {
	f := setup(t)
	rc := newReceiver(t, nil)
	f.prepay("A1", rc.url)
	f.prepay("A2", rc.url)
	steps := []struct {
		method, path string
		status       int
		orderStatus  string
		notified     int // total notifications received so far
	}{
		{"POST", "/sandbox/orders/A1/refund", 409, "", 0},
		{"POST", "/sandbox/orders/A1/fail", 200, "FAILED", 1},
		{"POST", "/sandbox/orders/A1/fail", 409, "", 1},
		{"POST", "/sandbox/orders/A1/pay", 200, "SUCCESS", 2},
		{"POST", "/sandbox/orders/A1/close", 409, "", 2},
		{"POST", "/sandbox/orders/A1/refund", 200, "REFUNDED", 3},
		{"POST", "/sandbox/orders/A2/close", 200, "CLOSED", 3},
		{"POST", "/sandbox/orders/A2/pay", 409, "", 3},
		{"POST", "/sandbox/orders/NOPE/pay", 404, "", 3},
		{"GET", "/sandbox/orders/NOPE", 404, "", 3},
	}
	for _, s := range steps {
		var v sandbox.OrderView
		if st := f.control(s.method, s.path, "", &v); st != s.status || (s.orderStatus != "" && v.Status != s.orderStatus) {
			t.Fatalf("%s %s: %d %+v, want %d %s", s.method, s.path, st, v, s.status, s.orderStatus)
		}
		apptest.Eventually(t, fmt.Sprintf("%d notifications after %s", s.notified, s.path), func() bool { return len(rc.received()) == s.notified })
	}
	var statuses []string
	for _, n := range rc.received() {
		statuses = append(statuses, n["outTradeNo"]+":"+n["status"])
	}
	if got := strings.Join(statuses, ","); got != "A1:FAILED,A1:SUCCESS,A1:REFUNDED" {
		t.Fatalf("notifications = %s", got)
	}
}

func TestPatchAndNotify(t *testing.T) {
	f := setup(t)
	rc := newReceiver(t, nil)
	f.prepay("T1", rc.url)
	query := func() map[string]string {
		_, env := f.call(mos.PathOrderQuery, map[string]string{"outTradeNo": "T1", "nonceStr": "n"}, appSecret)
		m, err := mos.DecodeFields("", env.Data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// A notification that disagrees with orderQuery, with an extra field and one left out.
	var v sandbox.OrderView
	if st := f.control("POST", "/sandbox/orders/T1/notify", `{"status":"SUCCESS","fields":{"extra":"x","attach":{"a":1},"desc":null}}`, &v); st != 200 {
		t.Fatalf("notify: %d", st)
	}
	apptest.Eventually(t, "the notification", func() bool { return len(rc.received()) == 1 })
	n := rc.received()[0]
	if n["status"] != "SUCCESS" || n["extra"] != "x" || n["attach"] != `{"a":1}` || !mos.Verify(n, appSecret) {
		t.Fatalf("notification %q", n)
	}
	if _, ok := n["desc"]; ok {
		t.Fatalf("desc should be left out: %q", n)
	}
	if q := query(); q["status"] != "PENDING" {
		t.Fatalf("a notification changed the order: %q", q)
	}

	// A forged signature is sent as given.
	f.control("POST", "/sandbox/orders/T1/notify", `{"fields":{"sign":"0123456789abcdef0123456789abcdef"}}`, nil)
	apptest.Eventually(t, "the forged notification", func() bool { return len(rc.received()) == 2 })
	if n := rc.received()[1]; mos.Verify(n, appSecret) {
		t.Fatalf("forged notification verifies: %q", n)
	}

	// PATCH forces what orderQuery reports, and notify sends it.
	if st := f.control("PATCH", "/sandbox/orders/T1", `{"status":"WEIRD_STATE","totalAmount":"17.00","notify":true}`, &v); st != 200 || v.Status != "WEIRD_STATE" || v.TotalAmount != "17.00" || v.PrepaidAmount != "16.99" {
		t.Fatalf("patch: %d %+v", st, v)
	}
	if q := query(); q["status"] != "WEIRD_STATE" || q["totalAmount"] != "17.00" {
		t.Fatalf("orderQuery after patch: %q", q)
	}
	apptest.Eventually(t, "the patch notification", func() bool { return len(rc.received()) == 3 })
	if n := rc.received()[2]; n["status"] != "WEIRD_STATE" || n["totalAmount"] != "17.00" || !mos.Verify(n, appSecret) {
		t.Fatalf("patch notification %q", n)
	}
	if st := f.control("PATCH", "/sandbox/orders/T1", `{"bogus":1}`, nil); st != 400 {
		t.Fatalf("unknown PATCH field: %d, want 400", st)
	}
}

func TestFaultsAPI(t *testing.T) {
	f := setup(t)
	f.prepay("T1", "http://x/mos/notify")
	var got sandbox.Faults
	if st := f.control("PUT", "/sandbox/faults", `{"errorRate":{"prepay":1.0},"latencyMs":30}`, &got); st != 200 || got.ErrorRate["prepay"] != 1 {
		t.Fatalf("PUT faults: %d %+v", st, got)
	}
	start := time.Now()
	if status, env := f.call(mos.PathPrepay, prepayFields("T2", "http://x/n"), appSecret); status != 500 || env.Code != 500 {
		t.Fatalf("prepay with errorRate 1: HTTP %d %+v", status, env)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("latency not applied: %s", d)
	}
	if status, env := f.call(mos.PathOrderQuery, map[string]string{"outTradeNo": "T1", "nonceStr": "n"}, appSecret); status != 200 || env.Code != 200 {
		t.Fatalf("orderQuery is not faulted: HTTP %d %+v", status, env)
	}
	f.control("GET", "/sandbox/faults", "", &got)
	if got.LatencyMs != 30 || got.ErrorRate["prepay"] != 1 {
		t.Fatalf("GET faults = %+v", got)
	}
	var cleared sandbox.Faults
	f.control("DELETE", "/sandbox/faults", "", &cleared)
	if !reflect.DeepEqual(cleared, sandbox.Faults{}) || !reflect.DeepEqual(f.sb.Faults(), sandbox.Faults{}) {
		t.Fatalf("DELETE faults = %+v", cleared)
	}
	if _, env := f.call(mos.PathPrepay, prepayFields("T2", "http://x/n"), appSecret); env.Code != 200 {
		t.Fatalf("prepay after clearing faults: %+v", env)
	}
	for _, bad := range []string{`{"errorRate":{"prepay":1.5}}`, `{"errorRate":{"pay":0.5}}`, `{"dropNotifications":-0.1}`, `{"latencyMs":-1}`, `{"latency":5}`, `[1]`} {
		if st := f.control("PUT", "/sandbox/faults", bad, nil); st != 400 {
			t.Errorf("PUT faults %s: %d, want 400", bad, st)
		}
	}
}

func TestTimeoutFault(t *testing.T) {
	f := setup(t)
	if err := f.sb.SetFaults(sandbox.Faults{TimeoutRate: map[string]float64{"*": 1}}); err != nil {
		t.Fatal(err)
	}
	c := mos.NewClient(mos.Config{BaseURL: f.url, AppKey: appKey, AppSecret: appSecret, MchID: mchID, Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.GetApplication(context.Background())
	if !mos.IsRetryable(err) || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want a retryable timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("timeout took %s", d)
	}
}

// A lost answer: the prepay takes effect at the sandbox, but the caller sees a 504 and cannot
// know it; the order is there for orderQuery.
func TestLostAnswerFault(t *testing.T) {
	f := setup(t)
	if err := f.sb.SetFaults(sandbox.Faults{LostAnswerRate: map[string]float64{"prepay": 1}}); err != nil {
		t.Fatal(err)
	}
	c := mos.NewClient(mos.Config{BaseURL: f.url, AppKey: appKey, AppSecret: appSecret, MchID: mchID})
	_, err := c.Prepay(context.Background(), mos.PrepayRequest{NonceStr: "n1", OutTradeNo: "LOST1", Currency: "USD",
		TotalAmount: "1.00", NotifyURL: "http://127.0.0.1:9/n", OpenID: "o"})
	if !mos.IsRetryable(err) {
		t.Fatalf("prepay with its answer lost: err = %v, want retryable", err)
	}
	if v, ok := f.sb.Order("LOST1"); !ok || v.Status != "PENDING" {
		t.Fatalf("the prepay did not take effect: %+v %v", v, ok)
	}
	info, err := c.OrderQuery(context.Background(), "LOST1", "n2")
	if err != nil || info.PrepayID == "" {
		t.Fatalf("orderQuery after a lost prepay answer: %+v, %v", info, err)
	}
}

func TestNotificationFaults(t *testing.T) {
	tests := []struct {
		name      string
		faults    sandbox.Faults
		want      int // deliveries expected
		dropped   int
		dupes     int
		minGapFor time.Duration
	}{
		{name: "drop", faults: sandbox.Faults{DropNotifications: 1}, want: 0, dropped: 1},
		{name: "duplicate", faults: sandbox.Faults{DuplicateNotifications: 1}, want: 2, dupes: 1},
		{name: "delay", faults: sandbox.Faults{DelayNotificationsMs: 80}, want: 1, minGapFor: 80 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			rc := newReceiver(t, nil)
			f.prepay("T1", rc.url)
			if err := f.sb.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			paid := time.Now()
			f.control("POST", "/sandbox/orders/T1/pay", "", nil)
			if tt.want > 0 {
				apptest.Eventually(t, "deliveries", func() bool { return len(rc.received()) >= tt.want })
			}
			time.Sleep(60 * time.Millisecond) // nothing more should come
			if n := len(rc.received()); n != tt.want {
				t.Fatalf("%d deliveries, want %d", n, tt.want)
			}
			st := f.sb.Stats()
			if st.NotificationsDropped != tt.dropped || st.NotificationsDuplicated != tt.dupes || st.NotificationsAcked != tt.want {
				t.Fatalf("stats = %+v", st)
			}
			if tt.minGapFor > 0 {
				rc.mu.Lock()
				gap := rc.at[0].Sub(paid)
				rc.mu.Unlock()
				if gap < tt.minGapFor {
					t.Fatalf("delivered %s after pay, want at least %s", gap, tt.minGapFor)
				}
			}
		})
	}
}

func TestReorderNotifications(t *testing.T) {
	f := setup(t)
	rc := newReceiver(t, nil)
	f.prepay("T1", rc.url)
	f.sb.SetFaults(sandbox.Faults{ReorderNotifications: true, DelayNotificationsMs: 50})
	f.control("POST", "/sandbox/orders/T1/pay", "", nil)
	f.control("POST", "/sandbox/orders/T1/refund", "", nil)
	apptest.Eventually(t, "both notifications", func() bool { return len(rc.received()) == 2 })
	got := rc.received()
	if got[0]["status"] != "REFUNDED" || got[1]["status"] != "SUCCESS" {
		t.Fatalf("order of delivery: %s then %s, want REFUNDED then SUCCESS", got[0]["status"], got[1]["status"])
	}
}

func TestUnknownRoute(t *testing.T) {
	f := setup(t)
	var e struct {
		Error struct{ Code, Message string }
	}
	for _, p := range [][2]string{{"GET", "/nope"}, {"GET", mos.PathPrepay}, {"DELETE", "/sandbox/orders/T1/pay"}} {
		if st := f.control(p[0], p[1], "", &e); st != 404 || e.Error.Code != "not_found" {
			t.Errorf("%s %s: %d %+v", p[0], p[1], st, e)
		}
	}
}

// Close ends deliveries that are waiting out a long retry schedule.
func TestCloseStopsDeliveries(t *testing.T) {
	rc := newReceiver(t, func(int) (int, string) { return 503, "" })
	sb := sandbox.New(sandbox.Config{AppKey: appKey, AppSecret: appSecret, MchID: mchID, RetryScale: 1})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	f := &fixture{t: t, sb: sb, url: srv.URL, http: apptest.NewClient(t, "")}
	f.prepay("T1", rc.url)
	f.control("POST", "/sandbox/orders/T1/pay", "", nil)
	apptest.Eventually(t, "the first delivery", func() bool { return len(rc.received()) == 1 })
	done := make(chan struct{})
	go func() { sb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return while a retry was 15 s away")
	}
}

// TestStateOutlivesRestart: with a state file, an order prepaid before a restart is known after
// it (orderQuery answers it, it can be paid), including changes made just before Close; a torn
// last line is skipped; sandbox.RemoveState forgets everything.
func TestStateOutlivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "sandbox-orders.jsonl")
	cfg := sandbox.Config{AppKey: "ak", AppSecret: "secret", MchID: "mch", StateFile: path, SaveEvery: time.Hour}
	first, err := sandbox.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"order-a", "order-b"} {
		first.KeepOrder(no, sandbox.StatusPending)
	}
	first.KeepOrder("order-b", sandbox.StatusSuccess)
	first.Close() // flushes what the hourly save has not written yet

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"outTradeNo":"torn","prepa`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	second, err := sandbox.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	for no, want := range map[string]string{"order-a": sandbox.StatusPending, "order-b": sandbox.StatusSuccess} {
		v, ok := second.Order(no)
		if !ok || v.Status != want || v.PrepayID != "pp-"+no || v.TotalAmount != "1.00" {
			t.Errorf("after the restart %s is %+v (known %v), want %s", no, v, ok, want)
		}
	}
	if _, ok := second.Order("torn"); ok {
		t.Error("a torn line became an order")
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.Count(string(b), "\n") != 2 {
		t.Errorf("the state file is not compacted to one line per order: %v\n%s", err, b)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v", info, err)
	}

	if err := sandbox.RemoveState(path); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.RemoveState(path); err != nil {
		t.Fatalf("removing a missing state: %v", err)
	}
}
