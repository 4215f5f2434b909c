package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/app/apptest"
)

// TestPricingConfig: client-chosen amounts are off unless MOSPAY_CLIENT_AMOUNTS=true (serve
// --sandbox turns them on unless told otherwise); merchant keys are name:key pairs of at least 32
// characters, and start-up refuses anything else naming the variable and never the key.
func TestPricingConfig(t *testing.T) {
	key := strings.Repeat("k", 32)
	tests := []struct {
		name, key, value, want string
	}{
		{"client amounts not a boolean", "MOSPAY_CLIENT_AMOUNTS", "yes", "want true or false"},
		{"short merchant key", "MOSPAY_MERCHANT_KEYS", "shop:" + key[:31], "at least 32 characters"},
		{"merchant key without a name", "MOSPAY_MERCHANT_KEYS", key, "not name:key"},
		{"empty merchant name", "MOSPAY_MERCHANT_KEYS", ":" + key, "the name is"},
		{"spaced merchant name", "MOSPAY_MERCHANT_KEYS", "my shop:" + key, "the name is"},
		{"merchant key twice", "MOSPAY_MERCHANT_KEYS", "a:" + key + ",b:" + key, "another entry's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			env[tc.key] = tc.value
			_, err := load(t, env)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a ConfigError naming %s with %q", err, tc.key, tc.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatalf("the error shows the key: %v", err)
			}
		})
	}

	c, err := load(t, validEnv())
	if err != nil || c.ClientAmounts || len(c.MerchantKeys) != 0 {
		t.Fatalf("defaults: client amounts %v, merchant keys %v, %v; want off and none", c.ClientAmounts, c.MerchantKeys, err)
	}
	env := validEnv()
	// A name with two keys: a rotation.
	env["MOSPAY_CLIENT_AMOUNTS"], env["MOSPAY_MERCHANT_KEYS"] = "true", "shop:"+key+", shop:"+key+"2,pos:"+key+"3"
	c, err = load(t, env)
	if err != nil || !c.ClientAmounts || len(c.MerchantKeys) != 3 ||
		c.MerchantKeys[0] != (api.MerchantKey{Name: "shop", Key: key}) || c.MerchantKeys[1] != (api.MerchantKey{Name: "shop", Key: key + "2"}) {
		t.Fatalf("client amounts %v, merchant keys %v, %v", c.ClientAmounts, c.MerchantKeys, err)
	}

	// A merchant key that is also an admin token is refused at serve.
	env = validEnv()
	env["MOSPAY_ADMIN_TOKENS"], env["MOSPAY_MERCHANT_KEYS"] = "alice:"+key, "shop:"+key
	c, err = load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if err := checkServe(c); !errors.As(err, &ce) || ce.Var != "MOSPAY_MERCHANT_KEYS" || strings.Contains(err.Error(), key) {
		t.Fatalf("checkServe = %v, want MOSPAY_MERCHANT_KEYS refused without showing the key", err)
	}

	// serve --sandbox: client amounts on, and a merchant key generated into sandbox.env; an
	// explicit false stays false.
	for _, set := range []string{"", "false"} {
		dir := t.TempDir()
		env := map[string]string{"MOSPAY_DATABASE_URL": "sqlite:" + dir + "/m.db", "MOSPAY_CLIENT_AMOUNTS": set}
		var out bytes.Buffer
		c, err := loadConfig(func(k string) string { return env[k] }, nil, true, func(raw map[string]string) error { return sandboxDefaults(raw, &out) })
		if err != nil {
			t.Fatal(err)
		}
		if c.ClientAmounts != (set == "") || len(c.MerchantKeys) != 1 || c.MerchantKeys[0].Name != "shop" || len(c.MerchantKeys[0].Key) < api.MinMerchantKey {
			t.Fatalf("sandbox with MOSPAY_CLIENT_AMOUNTS=%q: client amounts %v, merchant keys %d", set, c.ClientAmounts, len(c.MerchantKeys))
		}
		if saved := readEnv(t, filepath.Join(dir, sandboxEnvFile)); saved["MOSPAY_MERCHANT_KEYS"] != "shop:"+c.MerchantKeys[0].Key {
			t.Fatalf("sandbox.env's merchant key %q, the configuration's %q", saved["MOSPAY_MERCHANT_KEYS"], c.MerchantKeys[0].Key)
		}
	}
}

// TestClientAmountsOnTheBinary runs the real binary against a real MOS sandbox process, configured
// as production is (no --sandbox): a mini-app's totalAmount is refused 403 client_amount_refused
// and no prepay reaches MOS, while the merchant API prices orders; start-up says which pricing
// paths are open, naming the merchant key but never showing it. Restarted with
// MOSPAY_CLIENT_AMOUNTS=true, the same request makes an order and its prepay.
func TestClientAmountsOnTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	appKey, secret, mchID := "k"+apptest.RandHex(8), apptest.RandHex(16), "mc"+apptest.RandHex(4)
	merchantKey, adminToken := apptest.RandHex(20), apptest.RandHex(20)
	creds := []string{"MOSPAY_MOS_APP_KEY=" + appKey, "MOSPAY_MOS_APP_SECRET=" + secret, "MOSPAY_MOS_MC_ID=" + mchID}
	sandboxAddr := apptest.FreeAddr(t)
	sbx := "http://" + sandboxAddr
	sb := apptest.StartProcess(t, "sandbox", bin, dir, apptest.ChildEnv(dir, append(creds, "MOSPAY_SANDBOX_ADDR="+sandboxAddr,
		"MOSPAY_DATABASE_URL=sqlite:"+filepath.Join(dir, "sandbox", "unused.db"))...), "sandbox")
	if err := sb.WaitReady(sbx+"/sandbox/stats", serveDeadline); err != nil {
		t.Fatal(err)
	}
	prepays := func() int {
		var st struct{ Calls map[string]int }
		if code := call(t, "GET", sbx+"/sandbox/stats", "", nil, &st); code != 200 {
			t.Fatalf("sandbox stats: HTTP %d", code)
		}
		return st.Calls["prepay"]
	}
	httpAddr := apptest.FreeAddr(t)
	api := "http://" + httpAddr
	serve := func(extra ...string) *apptest.Process {
		env := append(append([]string{"MOSPAY_DATABASE_URL=sqlite:" + filepath.Join(dir, "m.db"), "MOSPAY_HTTP_ADDR=" + httpAddr,
			"MOSPAY_MOS_BASE_URL=" + sbx, "MOSPAY_JWT_SECRET=" + apptest.RandHex(32), "MOSPAY_ADMIN_TOKENS=finance:" + adminToken,
			"MOSPAY_MERCHANT_KEYS=shop:" + merchantKey}, creds...), extra...)
		p := apptest.StartProcess(t, "serve", bin, dir, apptest.ChildEnv(dir, env...), "serve")
		if err := p.WaitReady(api+"/readyz", serveDeadline); err != nil {
			t.Fatal(err)
		}
		return p
	}
	login := func() string {
		var code struct{ Code string }
		if st := call(t, "POST", sbx+"/sandbox/login-codes", `{"openid":"alice"}`, nil, &code); st != 200 {
			t.Fatalf("login code: HTTP %d", st)
		}
		var tok struct{ Token string }
		if st := call(t, "POST", api+"/mp/login/miniAppLogin", `{"code":"`+code.Code+`"}`, nil, &tok); st != 200 || tok.Token == "" {
			t.Fatalf("login: HTTP %d", st)
		}
		return tok.Token
	}
	var o struct {
		OutTradeNo, PrepayID, Status, Reference string
		Error                                   struct{ Code string }
	}

	p := serve()
	waitOutput(t, p, `msg="pricing paths" merchant_api=true merchant_keys=[shop] product_list=true client_amounts=false`)
	if strings.Contains(p.Output.String(), merchantKey) {
		t.Fatalf("the log shows the merchant key:\n%s", p.Output)
	}
	token := login()
	st := call(t, "POST", api+"/mp/orders", `{"totalAmount":"0.01","currency":"USD","desc":"iPhone"}`,
		map[string]string{"Authorization": "Bearer " + token}, &o)
	if st != 403 || o.Error.Code != "client_amount_refused" {
		t.Fatalf("a mini-app's totalAmount by default: HTTP %d %+v, want 403 client_amount_refused", st, o)
	}
	if n := prepays(); n != 0 {
		t.Fatalf("the refused order reached MOS: %d prepay calls", n)
	}
	// The merchant's backend prices it instead.
	var who struct{ UserID string }
	if st := call(t, "POST", api+"/merchant/users/verify", `{"token":"`+token+`"}`, map[string]string{"Authorization": "Bearer " + merchantKey}, &who); st != 200 || who.UserID == "" {
		t.Fatalf("verify: HTTP %d", st)
	}
	st = call(t, "POST", api+"/merchant/orders", `{"userId":"`+who.UserID+`","totalAmount":"999.00","currency":"USD","desc":"iPhone","reference":"A-1"}`,
		map[string]string{"Authorization": "Bearer " + merchantKey}, &o)
	if st != 201 || o.Status != "PENDING" || o.Reference != "A-1" || prepays() != 1 {
		t.Fatalf("merchant create: HTTP %d %+v, %d prepays", st, o, prepays())
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, serveDeadline); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	p = serve("MOSPAY_CLIENT_AMOUNTS=true")
	waitOutput(t, p, "client_amounts=true")
	token = login()
	st = call(t, "POST", api+"/mp/orders", `{"totalAmount":"0.01","currency":"USD","desc":"Sticker"}`,
		map[string]string{"Authorization": "Bearer " + token}, &o)
	if st != 201 || o.Status != "PENDING" || o.PrepayID == "" || prepays() != 2 {
		t.Fatalf("with MOSPAY_CLIENT_AMOUNTS=true: HTTP %d %+v, %d prepays; want 201 PENDING and a second prepay", st, o, prepays())
	}
}

// waitOutput waits until the process has written want (its output reaches the test a moment
// after its listener answers).
func waitOutput(t *testing.T, p *apptest.Process, want string) {
	t.Helper()
	if !apptest.Within(serveDeadline, func() bool { return strings.Contains(p.Output.String(), want) }) {
		t.Fatalf("the process never wrote %q:\n%s", want, p.Output)
	}
}
