package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/webhook"
	"github.com/robfig/cron/v3"
)

// config is what the environment and flags say: the app's Config, and what only the command
// itself uses (the log level).
type config struct {
	app.Config
	LogLevel string
}

// setting is one row of the configuration table: its variable, flag, default, and parser. A
// secret's value is never printed, not even in an error.
type setting struct {
	env, flag, def, help string
	secret               bool
	// needed reports whether the value must be set (after sandbox defaults are applied).
	needed func(c *config) bool
	parse  func(c *config, v string) error
}

func unlessSandbox(c *config) bool { return !c.Sandbox }

// defaults are the values a setting takes when neither its variable nor its flag is given:
// app.DefaultConfig, shown as text in each setting's def and parsed like any value.
var defaults = app.DefaultConfig()

// defaultLogLevel is MOSPAY_LOG_LEVEL's default, the one value only the command reads.
const defaultLogLevel = "info"

// settings is the one table of configuration (docs/operations.md "Configuration").
var settings = []setting{
	{env: "MOSPAY_HTTP_ADDR", flag: "http-addr", def: defaults.HTTPAddr, help: "API listen address",
		parse: func(c *config, v string) error { c.HTTPAddr = v; return checkAddr(v) }},
	{env: "MOSPAY_DATABASE_URL", flag: "database-url", def: defaults.DatabaseURL, help: "sqlite:PATH or postgres://...",
		parse: func(c *config, v string) error {
			c.DatabaseURL = v
			if strings.HasPrefix(v, "sqlite:") && len(v) > len("sqlite:") {
				return nil
			}
			if u, err := url.Parse(v); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") && u.Host != "" {
				return nil
			}
			return errors.New(`want "sqlite:PATH" or "postgres://user@host/db"`)
		}},
	{env: "MOSPAY_PUBLIC_URL", flag: "public-url", help: "base URL MOS can reach; notifyUrl = this + " + mos.NotifyPath + " (default http:// + HTTP addr)",
		parse: func(c *config, v string) error { c.PublicURL = strings.TrimRight(v, "/"); return checkURL(v) }},
	{env: "MOSPAY_MOS_BASE_URL", flag: "mos-base-url", help: "MOS base URL (required unless --sandbox)", needed: unlessSandbox,
		parse: func(c *config, v string) error { c.MOSBaseURL = strings.TrimRight(v, "/"); return checkURL(v) }},
	{env: "MOSPAY_MOS_APP_KEY", flag: "mos-app-key", help: "mini-app appKey (required unless --sandbox)", needed: unlessSandbox,
		parse: func(c *config, v string) error { c.MOSAppKey = v; return nil }},
	{env: "MOSPAY_MOS_APP_SECRET", flag: "mos-app-secret", help: "mini-app appSecret (required unless --sandbox)", secret: true, needed: unlessSandbox,
		parse: func(c *config, v string) error { c.MOSAppSecret = v; return nil }},
	{env: "MOSPAY_MOS_MC_ID", flag: "mos-mc-id", help: "MOS merchant id (required unless --sandbox)", needed: unlessSandbox,
		parse: func(c *config, v string) error { c.MOSMchID = v; return nil }},
	{env: "MOSPAY_JWT_SECRET", flag: "jwt-secret", help: "HS256 key for mini-app tokens, at least 32 bytes (required unless --sandbox)", secret: true, needed: unlessSandbox,
		parse: func(c *config, v string) error {
			c.JWTSecret = v
			if len(v) < api.MinTokenSecret {
				return fmt.Errorf("must be at least %d bytes", api.MinTokenSecret)
			}
			return nil
		}},
	{env: "MOSPAY_JWT_TTL", flag: "jwt-ttl", def: durationText(defaults.JWTTTL), help: "token lifetime",
		parse: func(c *config, v string) (err error) { c.JWTTTL, err = positiveDuration(v); return }},
	{env: "MOSPAY_ADMIN_TOKENS", flag: "admin-tokens", help: "comma-separated name:token or bare tokens for /admin, each at least 32 characters (required unless --sandbox)", secret: true, needed: unlessSandbox,
		parse: func(c *config, v string) (err error) { c.AdminTokens, err = parseAdminTokens(v); return }},
	{env: "MOSPAY_CLIENT_AMOUNTS", flag: "client-amounts", def: strconv.FormatBool(defaults.ClientAmounts), help: "true lets a mini-app choose an order's amount (serve --sandbox turns it on); otherwise prices come from the merchant API or the product list",
		parse: func(c *config, v string) error {
			switch v {
			case "true":
				c.ClientAmounts = true
			case "false":
				c.ClientAmounts = false
			default:
				return fmt.Errorf("%q: want true or false", v)
			}
			return nil
		}},
	{env: "MOSPAY_MERCHANT_KEYS", flag: "merchant-keys", help: "comma-separated name:key for the merchant API, each key at least 32 characters (none: the merchant API answers 401)", secret: true,
		parse: func(c *config, v string) (err error) { c.MerchantKeys, err = parseMerchantKeys(v); return }},
	{env: "MOSPAY_CORS_ORIGINS", flag: "cors-origins", help: "origins allowed to call /mp from a browser",
		parse: func(c *config, v string) error {
			c.CORSOrigins = splitList(v)
			for _, o := range c.CORSOrigins {
				if o != "*" && checkURL(o) != nil {
					return fmt.Errorf("%q is not an origin such as https://app.example", o)
				}
			}
			return nil
		}},
	{env: "MOSPAY_TRUSTED_PROXIES", flag: "trusted-proxies", help: "proxy addresses or CIDRs whose X-Forwarded-For is believed",
		parse: func(c *config, v string) (err error) { c.TrustedProxies, err = parseNets(v); return }},
	{env: "MOSPAY_ORDER_TTL", flag: "order-ttl", def: durationText(defaults.OrderTTL), help: "time an unpaid order stays payable",
		parse: func(c *config, v string) (err error) { c.OrderTTL, err = positiveDuration(v); return }},
	{env: "MOSPAY_RECONCILE_EVERY", flag: "reconcile-every", def: defaults.ReconcileEvery, help: "reconciler cadence (cron spec or @every 30s)",
		parse: func(c *config, v string) error {
			c.ReconcileEvery = v
			_, err := cron.ParseStandard(v)
			return err
		}},
	{env: "MOSPAY_RECONCILE_CONCURRENCY", flag: "reconcile-concurrency", def: strconv.Itoa(defaults.ReconcileConc), help: "orderQuery calls in flight during a reconciliation pass",
		parse: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return fmt.Errorf("%q: want a whole number from 1 to 256", v)
			}
			c.ReconcileConc = n
			return nil
		}},
	{env: "MOSPAY_RECONCILE_RATE", flag: "reconcile-rate", def: numberText(defaults.ReconcileRate), help: "orderQuery calls per second towards MOS during a pass",
		parse: func(c *config, v string) error {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || !(r >= 1 && r <= 10000) {
				return fmt.Errorf("%q: want a number from 1 to 10000", v)
			}
			c.ReconcileRate = r
			return nil
		}},
	{env: "MOSPAY_RECONCILE_FIRST", flag: "reconcile-first", def: durationText(defaults.ReconcileFirst), help: "first reconciler check of a new order, at most this long after creation",
		parse: func(c *config, v string) (err error) { c.ReconcileFirst, err = positiveDuration(v); return }},
	{env: "MOSPAY_PREPAY_GIVEUP", flag: "prepay-giveup", def: durationText(defaults.PrepayGiveUp), help: "a CREATED order MOS has no record of this long after creation never reached MOS: FAILED",
		parse: func(c *config, v string) (err error) { c.PrepayGiveUp, err = positiveDuration(v); return }},
	{env: "MOSPAY_REFUND_WINDOW", flag: "refund-window", def: durationText(defaults.RefundWindow), help: "how long a PAID order is still checked, sparsely, for a refund MOS reports only through orderQuery",
		parse: func(c *config, v string) (err error) { c.RefundWindow, err = positiveDuration(v); return }},
	{env: "MOSPAY_SANDBOX_ADDR", flag: "sandbox-addr", def: defaults.SandboxAddr, help: "sandbox listen address",
		parse: func(c *config, v string) error { c.SandboxAddr = v; return checkAddr(v) }},
	{env: "MOSPAY_MOS_TIMEOUT", flag: "mos-timeout", def: durationText(defaults.MOSTimeout), help: "timeout of one call to MOS",
		parse: func(c *config, v string) (err error) { c.MOSTimeout, err = positiveDuration(v); return }},
	{env: "MOSPAY_MAX_BODY", flag: "max-body", def: bytesText(defaults.MaxBody), help: "largest request body accepted (e.g. 1MiB, 512KiB, 65536)",
		parse: func(c *config, v string) (err error) { c.MaxBody, err = parseBytes(v); return }},
	{env: "MOSPAY_WEBHOOK_URLS", flag: "webhook-urls", help: "comma-separated http(s) URLs that receive every order event (off when empty)",
		parse: func(c *config, v string) (err error) { c.WebhookURLs, err = parseEndpoints(v); return }},
	{env: "MOSPAY_WEBHOOK_SECRET", flag: "webhook-secret", help: "order events' signing secrets, whsec_ + base64, comma-separated while rotating (required with MOSPAY_WEBHOOK_URLS)", secret: true,
		parse: func(c *config, v string) (err error) { c.WebhookSecrets, err = webhook.ParseSecrets(v); return }},
	{env: "MOSPAY_WEBHOOK_RETRY", flag: "webhook-retry", def: delaysText(defaults.WebhookRetry), help: "delays between an order event's attempts; the last failure makes its delivery failed",
		parse: func(c *config, v string) (err error) { c.WebhookRetry, err = parseDelays(v); return }},
	{env: "MOSPAY_EVENT_RETENTION", flag: "event-retention", def: durationText(defaults.EventRetention), help: "how long the attempts of delivered order events are kept (events stay with their orders)",
		parse: func(c *config, v string) (err error) { c.EventRetention, err = positiveDuration(v); return }},
	{env: "MOSPAY_REPORT_TZ", flag: "report-tz", def: defaults.ReportTZ.String(), help: "time zone of report dates (e.g. Asia/Phnom_Penh)",
		parse: func(c *config, v string) (err error) { c.ReportTZ, err = time.LoadLocation(v); return }},
	{env: "MOSPAY_MAX_AMOUNT_USD", flag: "max-amount-usd", def: money.Format(defaults.MaxAmount[money.USD], money.USD), help: "largest USD order",
		parse: func(c *config, v string) error { return parseMax(c, money.USD, v) }},
	{env: "MOSPAY_MAX_AMOUNT_KHR", flag: "max-amount-khr", def: money.Format(defaults.MaxAmount[money.KHR], money.KHR), help: "largest KHR order",
		parse: func(c *config, v string) error { return parseMax(c, money.KHR, v) }},
	{env: "MOSPAY_DEBUG_ADDR", flag: "debug-addr", help: "serve Go's pprof profiles on this loopback address; off when empty",
		parse: func(c *config, v string) error { c.DebugAddr = v; return checkLoopback(v) }},
	{env: "MOSPAY_OPS_ADDR", flag: "ops-addr", help: "serve /metrics (then not on the API's address), /healthz and /readyz on this address; off when empty",
		parse: func(c *config, v string) error { c.OpsAddr = v; return checkAddr(v) }},
	{env: "MOSPAY_USER_RATE", flag: "user-rate", def: numberText(defaults.UserRate), help: "requests per second each mini-app user may make to /mp after login (0 turns the limit off; per instance)",
		parse: func(c *config, v string) error {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || !(r >= 0 && r <= 100000) {
				return fmt.Errorf("%q: want a number from 0 (no limit) to 100000", v)
			}
			c.UserRate = r
			return nil
		}},
	{env: "MOSPAY_USER_BURST", flag: "user-burst", def: strconv.Itoa(defaults.UserBurst), help: "requests each mini-app user may make to /mp at once",
		parse: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100000 {
				return fmt.Errorf("%q: want a whole number from 1 to 100000", v)
			}
			c.UserBurst = n
			return nil
		}},
	{env: "MOSPAY_LOG_LEVEL", flag: "log-level", def: defaultLogLevel, help: "debug, info, warn or error",
		parse: func(c *config, v string) error {
			c.LogLevel = v
			switch v {
			case "debug", "info", "warn", "error":
				return nil
			}
			return errors.New("want debug, info, warn or error")
		}},
}

// parseEndpoints reads MOSPAY_WEBHOOK_URLS: distinct http(s) URLs without user information
// (credentials belong in the signature, not in a URL that is logged and shown to finance).
func parseEndpoints(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := checkURL(u); err != nil {
			return nil, err
		}
		if p, _ := url.Parse(u); p.User != nil {
			return nil, fmt.Errorf("%q holds user information; receivers verify the signature instead", p.Redacted())
		}
		if seen[u] {
			return nil, fmt.Errorf("%q is listed twice", u)
		}
		seen[u] = true
		out = append(out, u)
	}
	if len(out) > 16 {
		return nil, fmt.Errorf("%d endpoints; at most 16", len(out))
	}
	return out, nil
}

// parseDelays reads a retry schedule: comma-separated positive durations, at most 20.
func parseDelays(v string) ([]time.Duration, error) {
	var out []time.Duration
	for _, s := range strings.Split(v, ",") {
		d, err := positiveDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(out) > 20 {
		return nil, fmt.Errorf("%d delays; at most 20", len(out))
	}
	return out, nil
}

// ConfigError names the variable that stopped start-up. Its message never holds a secret value.
type ConfigError struct {
	Var string
	Err error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config: %s: %v", e.Var, e.Err) }

// registerFlags adds one flag per setting to fs; a flag, when given, wins over the environment.
func registerFlags(fs *flag.FlagSet) map[string]*string {
	vals := make(map[string]*string, len(settings))
	for _, s := range settings {
		help := s.help + " (env " + s.env + ")"
		vals[s.env] = fs.String(s.flag, "", help)
	}
	return vals
}

// loadConfig builds the Config from the environment and the parsed flags. With sandbox set,
// generated development values fill what is missing (see sandboxDefaults) before validation.
func loadConfig(getenv func(string) string, flags map[string]*string, sandbox bool, devDefaults func(map[string]string) error) (*config, error) {
	c := &config{}
	c.Sandbox, c.MaxAmount = sandbox, map[money.Currency]int64{}
	raw := map[string]string{}
	for _, s := range settings {
		v := getenv(s.env)
		if f := flags[s.env]; f != nil && *f != "" {
			v = *f
		}
		if v != "" {
			raw[s.env] = v
		}
	}
	if sandbox && devDefaults != nil {
		if err := devDefaults(raw); err != nil {
			return nil, err
		}
	}
	for _, s := range settings {
		v, set := raw[s.env]
		if !set {
			v = s.def
		}
		if v == "" {
			continue
		}
		if err := s.parse(c, v); err != nil {
			if s.secret {
				err = errors.New(redact(err.Error(), v))
			}
			return nil, &ConfigError{Var: s.env, Err: err}
		}
	}
	for _, s := range settings {
		if s.needed != nil && s.needed(c) && raw[s.env] == "" && s.def == "" {
			return nil, &ConfigError{Var: s.env, Err: errors.New("required (or run with --sandbox for development)")}
		}
	}
	if len(c.WebhookURLs) > 0 && len(c.WebhookSecrets) == 0 {
		return nil, &ConfigError{Var: "MOSPAY_WEBHOOK_SECRET", Err: errors.New("required with MOSPAY_WEBHOOK_URLS: every order event is signed")}
	}
	return c, nil
}

// checkServe holds what serving needs beyond each value being well-formed. On PostgreSQL,
// several instances share orders, so they must give MOS one notifyUrl: MOS refuses a retried
// prepay whose notifyUrl differs from the first one's, and the first could come from any
// instance. MOSPAY_PUBLIC_URL is therefore required there.
func checkServe(c *config) error {
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && c.PublicURL == "" {
		return &ConfigError{Var: "MOSPAY_PUBLIC_URL", Err: errors.New("required with PostgreSQL: every instance must give MOS the same notifyUrl")}
	}
	// A key that opened both the merchant API and finance's would make one leak two.
	for _, k := range c.MerchantKeys {
		for _, a := range c.AdminTokens {
			if k.Key == a.Token {
				return &ConfigError{Var: "MOSPAY_MERCHANT_KEYS", Err: fmt.Errorf("the key of %s is also an admin token; use another", k.Name)}
			}
		}
	}
	return nil
}

// unknownVars lists MOSPAY_ variables that no setting reads (a typo, usually): warned, not fatal.
func unknownVars(environ []string) []string {
	known := map[string]bool{}
	for _, s := range settings {
		known[s.env] = true
	}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MOSPAY_") && !known[k] && !strings.HasPrefix(k, "MOSPAY_TEST_") && k != "MOSPAY_REQUIRE_POSTGRES" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[redacted]")
}

func checkAddr(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}

// checkLoopback refuses an address other than a loopback one: what listens there (pprof's
// profiles) is for the operator on the machine, never for the network.
func checkLoopback(v string) error {
	if err := checkAddr(v); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(v)
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:PORT): profiles are for the operator on the machine", v)
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 24h", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", v)
	}
	return d, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseAdminTokens(v string) ([]api.AdminToken, error) {
	var out []api.AdminToken
	names := map[string]bool{}
	for i, p := range splitList(v) {
		t := api.AdminToken{Name: "admin", Token: p}
		if name, tok, ok := strings.Cut(p, ":"); ok {
			t = api.AdminToken{Name: name, Token: tok}
		}
		if t.Name == "" || strings.ContainsAny(t.Name, " \t") {
			return nil, fmt.Errorf("entry %d has an empty or spaced name", i+1)
		}
		if len(t.Token) < api.MinAdminToken {
			return nil, fmt.Errorf("entry %d (%s): token must be at least %d characters", i+1, t.Name, api.MinAdminToken)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("entry %d: name %q used twice", i+1, t.Name)
		}
		names[t.Name] = true
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("no token given")
	}
	return out, nil
}

// merchantNameRe is a merchant key's name, recorded on its orders and in the audit trail.
var merchantNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)

// parseMerchantKeys reads MOSPAY_MERCHANT_KEYS: name:key pairs, keys distinct and at least
// api.MinMerchantKey characters. A name may have two keys: the old and the new one while a key is
// rotated, so that the merchant's orders and references stay its own. No message holds a key.
func parseMerchantKeys(v string) ([]api.MerchantKey, error) {
	var out []api.MerchantKey
	keys := map[string]bool{}
	for i, p := range splitList(v) {
		name, key, ok := strings.Cut(p, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("entry %d is not name:key", i+1)
		case !merchantNameRe.MatchString(name):
			return nil, fmt.Errorf("entry %d: the name is 1 to 40 characters of A-Z a-z 0-9 _ . -", i+1)
		case len(key) < api.MinMerchantKey:
			return nil, fmt.Errorf("entry %d (%s): the key must be at least %d characters", i+1, name, api.MinMerchantKey)
		case keys[key]:
			return nil, fmt.Errorf("entry %d (%s): the key is another entry's too", i+1, name)
		}
		keys[key] = true
		out = append(out, api.MerchantKey{Name: name, Key: key})
	}
	return out, nil
}

func parseNets(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range splitList(v) {
		if !strings.Contains(p, "/") {
			ip := net.ParseIP(p)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
			}
			bits := 128
			if ip.To4() != nil {
				bits = 32
			}
			p = fmt.Sprintf("%s/%d", p, bits)
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseBytes reads 1048576, 512KiB, 1MiB, 1MB (taken as MiB), 64KB.
func parseBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}}
	mult := int64(1)
	num := v
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(v, u.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size such as 1MiB", v)
	}
	return n * mult, nil
}

func parseMax(c *config, cur money.Currency, v string) error {
	m, err := money.Parse(v, cur, 0)
	if err != nil {
		return err
	}
	c.MaxAmount[cur] = m
	return nil
}

// durationText writes d as the table shows it: 24h, 30m, 15s, 1h30m (not 24h0m0s).
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// delaysText writes a retry schedule as parseDelays reads it.
func delaysText(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = durationText(d)
	}
	return strings.Join(out, ",")
}

// bytesText writes a size as parseBytes reads it, in the largest unit that divides it.
func bytesText(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n > 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// numberText writes a rate without a needless fraction: 50, 0.5.
func numberText(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
