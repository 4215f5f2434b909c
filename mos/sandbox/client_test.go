package sandbox_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/mos/sandbox"
)

// The mos.Client against the sandbox over real HTTP: all four calls, and the failure classes
// callers act on.
func TestClientAgainstSandbox(t *testing.T) {
	sb := sandbox.New(sandbox.Config{AppKey: appKey, AppSecret: appSecret, MchID: mchID, AppName: "Shop", NotifyURL: "http://127.0.0.1:8080/mos/notify", RetryScale: 0.001})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { sb.Close(); srv.Close() })
	ctx := context.Background()
	c := mos.NewClient(mos.Config{BaseURL: srv.URL, AppKey: appKey, AppSecret: appSecret, MchID: mchID, Timeout: 2 * time.Second})

	app, err := c.GetApplication(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if app != (mos.Application{AppName: "Shop", AppKey: appKey, Description: "MOS sandbox for Shop", Status: true, NotifyURL: "http://127.0.0.1:8080/mos/notify"}) {
		t.Fatalf("application = %+v", app)
	}

	code := sb.NewLoginCode("o-7")
	sess, err := c.Code2Session(ctx, code)
	if err != nil || sess.OpenID != "o-7" {
		t.Fatalf("code2session = %+v, %v", sess, err)
	}
	if _, err := c.Code2Session(ctx, code); !mos.IsRejected(err) {
		t.Fatalf("reused code: err = %v, want rejected", err)
	}

	req := mos.PrepayRequest{
		NonceStr: "n1", Desc: "Café ☕ 咖啡", OutTradeNo: "ORDER1", Currency: money.USD, TotalAmount: "16.99",
		NotifyURL: "http://127.0.0.1:8080/mos/notify", OpenID: sess.OpenID, ExpireTime: time.UnixMilli(1732262400000),
	}
	pre, err := c.Prepay(ctx, req)
	if err != nil || pre.PrepayID == "" {
		t.Fatalf("prepay = %+v, %v", pre, err)
	}
	again, err := c.Prepay(ctx, req) // a retry with a new nonce
	if err != nil || again != pre {
		t.Fatalf("repeated prepay = %+v, %v; want %+v", again, err, pre)
	}
	other := req
	other.TotalAmount = "17.00"
	if _, err := c.Prepay(ctx, other); !mos.IsRejected(err) {
		t.Fatalf("prepay with other fields: err = %v, want rejected", err)
	}

	info, err := c.OrderQuery(ctx, "ORDER1", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if info.OutTradeNo != "ORDER1" || info.PrepayID != pre.PrepayID || info.OpenID != "o-7" || info.Currency != "USD" ||
		info.TotalAmount != "16.99" || info.Desc != req.Desc || info.ExpireTime != 1732262400000 || info.CreateTime == 0 ||
		mos.MapStatus(info.Status) != mos.StatePending {
		t.Fatalf("orderQuery = %+v", info)
	}
	if _, err := c.OrderQuery(ctx, "NOPE", "n2"); !mos.IsRejected(err) || !errors.Is(err, mos.ErrOrderNotFound) {
		t.Fatalf("unknown order: err = %v, want rejected as ErrOrderNotFound", err)
	}

	if err := sb.SetFaults(sandbox.Faults{ErrorRate: map[string]float64{"orderQuery": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OrderQuery(ctx, "ORDER1", "n1"); !mos.IsRetryable(err) {
		t.Fatalf("injected 500: err = %v, want retryable", err)
	}

	wrong := mos.NewClient(mos.Config{BaseURL: srv.URL, AppKey: appKey, AppSecret: "not-the-secret"})
	if _, err := wrong.GetApplication(ctx); !mos.IsRejected(err) {
		t.Fatalf("wrong secret: err = %v, want rejected", err)
	}
	if v, _ := sb.Order("ORDER1"); v.PrepayCalls != 2 {
		t.Fatalf("prepayCalls = %d, want 2", v.PrepayCalls)
	}
}
