package mos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
)

const (
	testKey    = "app1"
	testSecret = "sec-ret-9f8e7d"
	testMch    = "mch1"
)

// fakeMOS is a real HTTP server that checks every request's signature, as MOS does, and answers
// with whatever the test's handler writes.
type fakeMOS struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	got  []map[string]string // fields of each request, in order
	path []string
}

func newFakeMOS(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, fields map[string]string)) *fakeMOS {
	t.Helper()
	f := &fakeMOS{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fields, err := DecodeFields(r.Header.Get("Content-Type"), body)
		switch {
		case r.Method != http.MethodPost:
			t.Errorf("method %s, want POST", r.Method)
		case err != nil:
			t.Errorf("request body: %v", err)
		case fields["appKey"] != testKey:
			t.Errorf("appKey = %q", fields["appKey"])
		case !Verify(fields, testSecret):
			t.Errorf("request signature does not verify: %q", fields)
		}
		f.mu.Lock()
		f.got = append(f.got, fields)
		f.path = append(f.path, r.URL.Path)
		f.mu.Unlock()
		answer(w, r, fields)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMOS) client(logger *slog.Logger) *Client {
	return NewClient(Config{BaseURL: f.srv.URL + "/", AppKey: testKey, AppSecret: testSecret, MchID: testMch, Logger: logger, Timeout: 2 * time.Second})
}

func (f *fakeMOS) last() (string, map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		f.t.Fatal("no request reached the server")
	}
	return f.path[len(f.path)-1], f.got[len(f.got)-1]
}

func answerJSON(body string) func(http.ResponseWriter, *http.Request, map[string]string) {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func TestGetApplication(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFakeMOS(t, answerJSON(`{"code":200,"message":"success","data":{"appName":"Shop","appKey":"app1","appSecret":"`+testSecret+`","description":"d","status":true,"notifyUrl":"https://x/mos/notify"}}`))
	app, err := f.client(logger).GetApplication(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Application{AppName: "Shop", AppKey: "app1", Description: "d", Status: true, NotifyURL: "https://x/mos/notify"}
	if app != want {
		t.Fatalf("app = %+v, want %+v", app, want)
	}
	path, fields := f.last()
	if path != PathGetApplication || len(fields) != 2 {
		t.Fatalf("request %s %q, want only appKey and sign", path, fields)
	}
	if strings.Contains(logs.String(), testSecret) || strings.Contains(logs.String(), fields["sign"]) {
		t.Fatalf("the log holds the secret or the sign: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"op":"getApplication"`) {
		t.Fatalf("no call logged: %s", logs.String())
	}
}

func TestCode2Session(t *testing.T) {
	f := newFakeMOS(t, answerJSON(`{"code":200,"message":"success","data":{"openid":"o-123","sessionKey":"sk-secret"}}`))
	s, err := f.client(nil).Code2Session(context.Background(), "code-1")
	if err != nil {
		t.Fatal(err)
	}
	if s != (Session{OpenID: "o-123"}) {
		t.Fatalf("session = %+v", s)
	}
	if path, fields := f.last(); path != PathCode2Session || fields["code"] != "code-1" {
		t.Fatalf("request %s %q", path, fields)
	}
	if _, err := f.client(nil).Code2Session(context.Background(), ""); !IsRejected(err) {
		t.Fatalf("empty code: err = %v, want rejected", err)
	}
}

func TestPrepay(t *testing.T) {
	f := newFakeMOS(t, answerJSON(`{"code":200,"message":"success","data":{"prepayId":"pp-1"}}`))
	expire := time.UnixMilli(1732262400000)
	res, err := f.client(nil).Prepay(context.Background(), PrepayRequest{
		NonceStr: "n7", Desc: "Café ☕ 咖啡", OutTradeNo: "T1", Currency: money.USD, TotalAmount: "16.99",
		NotifyURL: "https://x/mos/notify", OpenID: "o-1", ExpireTime: expire,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.PrepayID != "pp-1" {
		t.Fatalf("prepayId = %q", res.PrepayID)
	}
	path, fields := f.last()
	if path != PathPrepay {
		t.Fatalf("path = %s", path)
	}
	want := map[string]string{
		"mcId": testMch, "desc": "Café ☕ 咖啡", "outTradeNo": "T1", "currency": "USD", "totalAmount": "16.99",
		"notifyUrl": "https://x/mos/notify", "openid": "o-1", "expireTime": "1732262400000", "appKey": testKey,
		"nonceStr": "n7",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%s = %q, want %q", k, fields[k], v)
		}
	}
}

// A call without the order's nonceStr is refused before anything is sent: the nonce is the
// order's, made once by order.NewNonce, never invented here.
func TestEmptyNonceRefused(t *testing.T) {
	f := newFakeMOS(t, answerJSON(`{"code":200,"message":"success","data":{"prepayId":"pp-1"}}`))
	c := f.client(nil)
	if _, err := c.Prepay(context.Background(), PrepayRequest{OutTradeNo: "T1", Currency: money.USD, TotalAmount: "1"}); !IsRejected(err) {
		t.Fatalf("prepay without nonceStr: err = %v, want a refusal", err)
	}
	if _, err := c.OrderQuery(context.Background(), "T1", ""); !IsRejected(err) {
		t.Fatalf("orderQuery without nonceStr: err = %v, want a refusal", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != 0 {
		t.Fatalf("%d calls reached MOS", len(f.got))
	}
}

func TestPrepayWithoutPrepayID(t *testing.T) {
	f := newFakeMOS(t, answerJSON(`{"code":200,"message":"success","data":{}}`))
	_, err := f.client(nil).Prepay(context.Background(), PrepayRequest{NonceStr: "n1", OutTradeNo: "T1", Currency: money.KHR, TotalAmount: "4000"})
	if !IsRetryable(err) {
		t.Fatalf("err = %v, want retryable (malformed answer)", err)
	}
	if _, fields := f.last(); fields["nonceStr"] != "n1" {
		t.Fatalf("nonceStr = %q, want the caller's", fields["nonceStr"])
	}
}

func TestOrderQuery(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		want  OrderInfo
		minor int64
	}{
		{
			name:  "amount as string",
			data:  `{"openid":"o1","prepayId":"pp1","outTradeNo":"T1","country":"KH","currency":"USD","totalAmount":"16.99","desc":"d","status":"SUCCESS","expireTime":1732262400000,"createTime":1732260600000}`,
			want:  OrderInfo{OpenID: "o1", PrepayID: "pp1", OutTradeNo: "T1", Country: "KH", Currency: "USD", TotalAmount: "16.99", Desc: "d", Status: "SUCCESS", ExpireTime: 1732262400000, CreateTime: 1732260600000},
			minor: 1699,
		},
		{
			name:  "amount as number keeps its text",
			data:  `{"outTradeNo":"T1","currency":"USD","totalAmount":16.990,"status":"paid","expireTime":"1732262400000","createTime":9007199254740993}`,
			want:  OrderInfo{OutTradeNo: "T1", Currency: "USD", TotalAmount: "16.990", Status: "paid", ExpireTime: 1732262400000, CreateTime: 9007199254740993},
			minor: 1699,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeMOS(t, answerJSON(`{"code":200,"message":"success","data":`+tt.data+`}`))
			info, err := f.client(nil).OrderQuery(context.Background(), "T1", "nonce1")
			if err != nil {
				t.Fatal(err)
			}
			if info != tt.want {
				t.Fatalf("info = %+v\nwant   %+v", info, tt.want)
			}
			if a := readAmount(info.TotalAmount, info.Currency); a == nil || !a.Readable || a.Amount.Minor != tt.minor {
				t.Fatalf("readAmount = %+v; want %d minor units", a, tt.minor)
			}
			path, fields := f.last()
			if path != PathOrderQuery || fields["outTradeNo"] != "T1" || fields["nonceStr"] != "nonce1" {
				t.Fatalf("request %s %q", path, fields)
			}
		})
	}
}

// Every failure class of docs/mos.md "Calls", with the classification callers rely on.
func TestClientFailures(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	status := func(code int, body string) func(http.ResponseWriter, *http.Request, map[string]string) {
		return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name      string
		answer    func(http.ResponseWriter, *http.Request, map[string]string)
		ctx       func() (context.Context, context.CancelFunc)
		retryable bool
		http      int
		code      int
		message   string
		is        error
	}{
		{name: "timeout via ctx", answer: hang, retryable: true, is: context.DeadlineExceeded,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			}},
		{name: "canceled ctx", answer: hang, retryable: true, is: context.Canceled,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(30*time.Millisecond, cancel)
				return ctx, cancel
			}},
		{name: "HTTP 500", answer: status(500, `{"code":500,"message":"boom"}`), retryable: true, http: 500, code: 500, message: "boom"},
		{name: "HTTP 502 HTML", answer: status(502, `<html>bad gateway</html>`), retryable: true, http: 502},
		{name: "HTTP 429", answer: status(429, ``), retryable: true, http: 429},
		{name: "HTTP 400", answer: status(400, `{"code":400,"message":"bad request"}`), http: 400, code: 400, message: "bad request"},
		{name: "HTTP 404", answer: status(404, `not found`), http: 404},
		{name: "redirect not followed", answer: func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, http: 302},
		{name: "code != 200", answer: answerJSON(`{"code":401,"message":"invalid sign"}`), http: 200, code: 401, message: "invalid sign"},
		{name: "code as string", answer: answerJSON(`{"code":"40001","message":"order not found"}`), http: 200, code: 40001, message: "order not found"},
		{name: "malformed JSON", answer: answerJSON(`{"code":200,`), retryable: true, http: 200},
		{name: "bad envelope: no code", answer: answerJSON(`{"message":"ok","data":{"prepayId":"x"}}`), retryable: true, http: 200},
		{name: "bad envelope: data not an object", answer: answerJSON(`{"code":200,"data":"x"}`), retryable: true, http: 200},
		{name: "bad envelope: no data", answer: answerJSON(`{"code":200,"message":"ok"}`), retryable: true, http: 200},
		{name: "empty body", answer: answerJSON(``), retryable: true, http: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeMOS(t, tt.answer)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			_, err := f.client(nil).Prepay(ctx, PrepayRequest{NonceStr: "n1", OutTradeNo: "T1", Currency: money.USD, TotalAmount: "1"})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Op != "prepay" || e.Retryable != tt.retryable || e.HTTPStatus != tt.http || e.Code != tt.code || e.Message != tt.message && tt.message != "" {
				t.Fatalf("err = %#v", e)
			}
			if IsRetryable(err) != tt.retryable || IsRejected(err) == tt.retryable {
				t.Fatalf("IsRetryable = %v, IsRejected = %v", IsRetryable(err), IsRejected(err))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error text holds the secret: %v", err)
			}
		})
	}
}

func TestClientTimeoutConfig(t *testing.T) {
	f := newFakeMOS(t, func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		<-r.Context().Done()
	})
	c := NewClient(Config{BaseURL: f.srv.URL, AppKey: testKey, AppSecret: testSecret, Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.OrderQuery(context.Background(), "T1", "n1")
	if !IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a retryable deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call took %s despite a 50ms timeout", d)
	}
}

func TestClientTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := NewClient(Config{BaseURL: url, AppKey: testKey, AppSecret: testSecret})
	_, err := c.GetApplication(context.Background())
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.HTTPStatus != 0 || e.Err == nil {
		t.Fatalf("err = %#v, want a retryable transport error", err)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "prepay", HTTPStatus: 200, Code: 401, Message: "invalid sign"}, "mos prepay: code 401: invalid sign"},
		{&Error{Op: "orderQuery", HTTPStatus: 503, Retryable: true, Err: errors.New("HTTP Service Unavailable")}, "mos orderQuery: HTTP 503: HTTP Service Unavailable"},
		{&Error{Op: "code2session", Retryable: true, Err: fmt.Errorf("dial: %w", io.EOF)}, "mos code2session: dial: EOF"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if IsRetryable(errors.New("x")) || IsRejected(errors.New("x")) || IsRejected(nil) {
		t.Error("a non-MOS error is neither retryable nor rejected")
	}
	wrapped := fmt.Errorf("creating order: %w", &Error{Op: "prepay", Code: 400})
	if !IsRejected(wrapped) {
		t.Error("IsRejected must see through wrapping")
	}
}
