package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/money"
)

// validEnv is a complete production configuration.
func validEnv() map[string]string {
	return map[string]string{
		"MOSPAY_MOS_BASE_URL":   "https://mos-test.mos.me",
		"MOSPAY_MOS_APP_KEY":    "k1",
		"MOSPAY_MOS_APP_SECRET": "topsecretvalue",
		"MOSPAY_MOS_MC_ID":      "mc1",
		"MOSPAY_JWT_SECRET":     strings.Repeat("j", 32),
		"MOSPAY_ADMIN_TOKENS":   "alice:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	}
}

func load(t *testing.T, env map[string]string, args ...string) (*config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := registerFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(func(k string) string { return env[k] }, vals, false, nil)
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(t, validEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.DatabaseURL != "sqlite:data/mospay.db" || c.PublicURL != "" {
		t.Errorf("defaults: %+v", c)
	}
	if c.JWTTTL != 24*time.Hour || c.OrderTTL != 30*time.Minute || c.MOSTimeout != 10*time.Second || c.MaxBody != 1<<20 {
		t.Errorf("durations/sizes: %v %v %v %d", c.JWTTTL, c.OrderTTL, c.MOSTimeout, c.MaxBody)
	}
	if c.ReconcileEvery != "@every 30s" || c.SandboxAddr != "127.0.0.1:8081" || c.ReportTZ.String() != "UTC" {
		t.Errorf("reconcile/sandbox/tz: %q %q %v", c.ReconcileEvery, c.SandboxAddr, c.ReportTZ)
	}
	want := []api.AdminToken{{Name: "alice", Token: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, {Name: "admin", Token: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}
	if len(c.AdminTokens) != 2 || c.AdminTokens[0] != want[0] || c.AdminTokens[1] != want[1] {
		t.Errorf("admin tokens: %+v", c.AdminTokens)
	}
	if c.MaxAmount[money.USD] != 1_000_000 || c.MaxAmount[money.KHR] != 40_000_000 {
		t.Errorf("max amounts: %v", c.MaxAmount)
	}
	if c.UserRate != 5 || c.UserBurst != 20 || c.RefundWindow != 720*time.Hour || c.OpsAddr != "" || c.DebugAddr != "" {
		t.Errorf("user rate %v burst %d, refund window %v, ops %q, debug %q", c.UserRate, c.UserBurst, c.RefundWindow, c.OpsAddr, c.DebugAddr)
	}
	for _, ok := range []string{"127.0.0.1:6060", "localhost:6060", "[::1]:6060"} {
		env := validEnv()
		env["MOSPAY_DEBUG_ADDR"] = ok
		if _, err := load(t, env); err != nil {
			t.Errorf("debug address %s refused: %v", ok, err)
		}
	}
}

func TestConfigFlagWinsOverEnv(t *testing.T) {
	env := validEnv()
	env["MOSPAY_HTTP_ADDR"] = "127.0.0.1:1"
	c, err := load(t, env, "--http-addr", "127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:2" {
		t.Fatalf("HTTPAddr = %q", c.HTTPAddr)
	}
}

// TestConfigErrors covers every way a value can stop start-up: each error names its variable,
// and never repeats a secret's value.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"missing MOS URL", "MOSPAY_MOS_BASE_URL", "", "required"},
		{"missing app key", "MOSPAY_MOS_APP_KEY", "", "required"},
		{"missing app secret", "MOSPAY_MOS_APP_SECRET", "", "required"},
		{"missing mc id", "MOSPAY_MOS_MC_ID", "", "required"},
		{"missing jwt secret", "MOSPAY_JWT_SECRET", "", "required"},
		{"missing admin tokens", "MOSPAY_ADMIN_TOKENS", "", "required"},
		{"short jwt secret", "MOSPAY_JWT_SECRET", "tooshort-secret-value", "at least 32 bytes"},
		{"short admin token", "MOSPAY_ADMIN_TOKENS", "bob:short-token", "at least 32 characters"},
		{"31-character admin token", "MOSPAY_ADMIN_TOKENS", "bob:" + strings.Repeat("x", 31), "at least 32 characters"},
		{"duplicate admin name", "MOSPAY_ADMIN_TOKENS", "a:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,a:yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "used twice"},
		{"empty admin name", "MOSPAY_ADMIN_TOKENS", ":xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "empty or spaced name"},
		{"bad MOS URL", "MOSPAY_MOS_BASE_URL", "ftp://x", "not an http(s) URL"},
		{"bad public URL", "MOSPAY_PUBLIC_URL", "not a url", "not an http(s) URL"},
		{"bad http addr", "MOSPAY_HTTP_ADDR", "8080", "not host:port"},
		{"bad port", "MOSPAY_HTTP_ADDR", "127.0.0.1:99999", "no valid port"},
		{"bad sandbox addr", "MOSPAY_SANDBOX_ADDR", "nowhere", "not host:port"},
		{"bad database url", "MOSPAY_DATABASE_URL", "mysql://x", "sqlite:PATH"},
		{"empty sqlite path", "MOSPAY_DATABASE_URL", "sqlite:", "sqlite:PATH"},
		{"bad jwt ttl", "MOSPAY_JWT_TTL", "1 day", "not a duration"},
		{"negative order ttl", "MOSPAY_ORDER_TTL", "-5m", "must be positive"},
		{"bad mos timeout", "MOSPAY_MOS_TIMEOUT", "0s", "must be positive"},
		{"bad cron", "MOSPAY_RECONCILE_EVERY", "every now and then", ""},
		{"bad body size", "MOSPAY_MAX_BODY", "lots", "not a size"},
		{"zero body size", "MOSPAY_MAX_BODY", "0", "not a size"},
		{"bad cors origin", "MOSPAY_CORS_ORIGINS", "example.com", "not an origin"},
		{"bad proxy", "MOSPAY_TRUSTED_PROXIES", "10.0.0.300", "not an IP"},
		{"order event URL not http", "MOSPAY_WEBHOOK_URLS", "ftp://hooks.example/x", "not an http(s) URL"},
		{"order event URL with credentials", "MOSPAY_WEBHOOK_URLS", "https://me:pw@hooks.example/x", "user information"},
		{"order event URL twice", "MOSPAY_WEBHOOK_URLS", "https://hooks.example/x,https://hooks.example/x", "listed twice"},
		{"order event secret without prefix", "MOSPAY_WEBHOOK_SECRET", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `starts with "whsec_"`},
		{"order event secret not base64", "MOSPAY_WEBHOOK_SECRET", "whsec_!!!notbase64!!!", "base64"},
		{"order event secret short", "MOSPAY_WEBHOOK_SECRET", "whsec_c2hvcnQ=", "24 to 64 bytes"},
		{"bad retry schedule", "MOSPAY_WEBHOOK_RETRY", "5s,soon", "not a duration"},
		{"bad event retention", "MOSPAY_EVENT_RETENTION", "0s", "must be positive"},
		{"bad time zone", "MOSPAY_REPORT_TZ", "Mars/Olympus", ""},
		{"bad max usd", "MOSPAY_MAX_AMOUNT_USD", "1e6", "malformed"},
		{"bad max khr", "MOSPAY_MAX_AMOUNT_KHR", "10.5", "decimals"},
		{"bad log level", "MOSPAY_LOG_LEVEL", "loud", "want debug"},
		{"debug on every interface", "MOSPAY_DEBUG_ADDR", "0.0.0.0:6060", "not a loopback address"},
		{"debug on a public address", "MOSPAY_DEBUG_ADDR", "203.0.113.7:6060", "not a loopback address"},
		{"bad ops address", "MOSPAY_OPS_ADDR", "metrics", "not host:port"},
		{"negative user rate", "MOSPAY_USER_RATE", "-1", "from 0"},
		{"zero user burst", "MOSPAY_USER_BURST", "0", "from 1"},
		{"bad refund window", "MOSPAY_REFUND_WINDOW", "a month", "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			if tt.value == "" {
				delete(env, tt.key)
			} else {
				env[tt.key] = tt.value
			}
			_, err := load(t, env)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			wantVar := tt.key
			if ce.Var != wantVar || !strings.Contains(err.Error(), wantVar) {
				t.Errorf("error %q does not name %s", err, wantVar)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(tt.key, "SECRET") || strings.Contains(tt.key, "TOKENS") {
				if tt.value != "" && strings.Contains(err.Error(), tt.value) {
					t.Errorf("error %q leaks the secret", err)
				}
			}
		})
	}
}

func TestUnknownVarsWarned(t *testing.T) {
	got := unknownVars([]string{"MOSPAY_HTTP_ADDR=x", "MOSPAY_HTTP_ADRR=y", "HOME=/root", "MOSPAY_TEST_POSTGRES_URL=z"})
	if len(got) != 1 || got[0] != "MOSPAY_HTTP_ADRR" {
		t.Fatalf("unknownVars = %v", got)
	}
}

func TestSandboxGeneratesCredentialsOnce(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"MOSPAY_DATABASE_URL": "sqlite:" + dir + "/m.db"}
	var out bytes.Buffer
	dev := func(raw map[string]string) error { return sandboxDefaults(raw, &out) }
	c1, err := loadConfig(func(k string) string { return env[k] }, nil, true, dev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "MOSPAY_JWT_SECRET=") {
		t.Fatalf("first start does not print the generated credentials: %q", out.String())
	}
	out.Reset()
	c2, err := loadConfig(func(k string) string { return env[k] }, nil, true, dev)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("second start printed secrets again: %q", out.String())
	}
	if c1.JWTSecret != c2.JWTSecret || c1.MOSAppSecret != c2.MOSAppSecret || c1.AdminTokens[0] != c2.AdminTokens[0] {
		t.Error("credentials changed between starts")
	}
	if c1.MOSBaseURL != "" {
		t.Errorf("sandbox MOS URL = %q, want empty: the embedded sandbox's own address", c1.MOSBaseURL)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("err = %v", err)
	}
	if err := run(t.Context(), []string{"version"}, func(string) string { return "" }, nil, &out, &errb); err != nil || !strings.Contains(out.String(), "mospay") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

// TestOrderEventConfig: endpoints need a secret; with both, every value reaches the app's config.
func TestOrderEventConfig(t *testing.T) {
	env := validEnv()
	env["MOSPAY_WEBHOOK_URLS"] = "https://hooks.example/a, http://10.0.0.5:9000/b"
	_, err := load(t, env)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != "MOSPAY_WEBHOOK_SECRET" || !strings.Contains(err.Error(), "required with MOSPAY_WEBHOOK_URLS") {
		t.Fatalf("endpoints without a secret: err = %v, want a ConfigError naming MOSPAY_WEBHOOK_SECRET", err)
	}
	env["MOSPAY_WEBHOOK_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	env["MOSPAY_WEBHOOK_RETRY"] = "1s,2s"
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://hooks.example/a", "http://10.0.0.5:9000/b"}; !slices.Equal(c.WebhookURLs, want) {
		t.Errorf("urls = %q, want %q", c.WebhookURLs, want)
	}
	if len(c.WebhookSecrets) != 2 || !slices.Equal(c.WebhookRetry, []time.Duration{time.Second, 2 * time.Second}) ||
		c.EventRetention != 720*time.Hour {
		t.Errorf("secrets %d, retry %v, retention %v", len(c.WebhookSecrets), c.WebhookRetry, c.EventRetention)
	}
	delete(env, "MOSPAY_WEBHOOK_URLS")
	if _, err := load(t, env); err != nil {
		t.Errorf("a secret without endpoints (kept ready for later) is harmless: %v", err)
	}
}

// TestOldSandboxEnvGetsAnEventSecret: a data/sandbox.env written before order events keeps its
// values and gains a webhook secret, which then works with endpoints.
func TestOldSandboxEnvGetsAnEventSecret(t *testing.T) {
	dir := t.TempDir()
	old := "export MOSPAY_MOS_APP_KEY='sbxold'\nexport MOSPAY_MOS_APP_SECRET='oldsecret0123456'\nexport MOSPAY_MOS_MC_ID='sbxm'\n" +
		"export MOSPAY_JWT_SECRET='" + strings.Repeat("j", 64) + "'\nexport MOSPAY_ADMIN_TOKENS='finance:" + strings.Repeat("a", 32) + "'\n"
	if err := os.WriteFile(filepath.Join(dir, sandboxEnvFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MOSPAY_DATABASE_URL": "sqlite:" + dir + "/m.db", "MOSPAY_WEBHOOK_URLS": "http://127.0.0.1:9/hook"}
	var out bytes.Buffer
	c, err := loadConfig(func(k string) string { return env[k] }, nil, true, func(raw map[string]string) error { return sandboxDefaults(raw, &out) })
	if err != nil {
		t.Fatal(err)
	}
	if c.MOSAppKey != "sbxold" || len(c.WebhookSecrets) != 1 {
		t.Fatalf("app key %q, %d webhook secrets", c.MOSAppKey, len(c.WebhookSecrets))
	}
	saved, err := os.ReadFile(filepath.Join(dir, sandboxEnvFile))
	if err != nil || !strings.Contains(string(saved), "MOSPAY_WEBHOOK_SECRET='whsec_") || !strings.Contains(string(saved), "sbxold") {
		t.Fatalf("sandbox.env now:\n%s (%v)", saved, err)
	}
}

// TestDefaultsStatedOnce: a setting left unset takes app.DefaultConfig's value (its def is that
// value as text, parsed like any other), and docs/operations.md "Configuration" shows each
// default as the table has it.
func TestDefaultsStatedOnce(t *testing.T) {
	env := validEnv()
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultConfig()
	// What validEnv sets, and what only the table's parsing fills.
	want.MOSBaseURL, want.MOSAppKey, want.MOSAppSecret, want.MOSMchID = c.MOSBaseURL, c.MOSAppKey, c.MOSAppSecret, c.MOSMchID
	want.JWTSecret, want.AdminTokens = c.JWTSecret, c.AdminTokens
	if !reflect.DeepEqual(c.Config, want) {
		t.Errorf("unset settings differ from app.DefaultConfig:\n got %+v\nwant %+v", c.Config, want)
	}
	if c.LogLevel != defaultLogLevel {
		t.Errorf("log level %q", c.LogLevel)
	}

	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // variable: its default as the page shows it
	section := false
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line == "## Configuration"
		}
		cells := strings.Split(line, "|")
		if !section || len(cells) < 5 || !strings.Contains(cells[1], "`MOSPAY_") {
			continue
		}
		vars, defs := strings.Split(cells[1], ","), strings.Split(cells[len(cells)-2], ",")
		for i, v := range vars {
			v = strings.Trim(strings.TrimSpace(v), "`")
			rows[v] = ""
			if len(vars) == len(defs) {
				rows[v] = strings.TrimSpace(defs[i])
			} else if len(vars) == 1 {
				rows[v] = strings.TrimSpace(cells[len(cells)-2])
			}
		}
	}
	for _, s := range settings {
		got, ok := rows[s.env]
		switch {
		case !ok:
			t.Errorf("docs/operations.md \"Configuration\" has no row for %s", s.env)
		case s.def != "" && got != "`"+s.def+"`":
			t.Errorf("docs/operations.md gives %s the default %s; the table's is %q", s.env, got, s.def)
		}
	}
}
