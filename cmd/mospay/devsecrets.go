package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// sandboxEnvFile is where `serve --sandbox` keeps the development credentials it generated, as
// sourceable KEY=value lines (mode 0600), so that restarts keep the same tokens and a developer
// can `. data/sandbox.env` to use them in curl.
const sandboxEnvFile = "sandbox.env"

// sandboxStateFile, beside it, keeps the sandbox's orders across restarts (`mospay sandbox reset`
// deletes it).
const sandboxStateFile = "sandbox-orders.jsonl"

// devKeys are the values `serve --sandbox` generates when they are not configured. They are
// development credentials for the embedded sandbox only; a real deployment must configure each.
var devKeys = []struct {
	env string
	gen func() string
}{
	{"MOSPAY_MOS_APP_KEY", func() string { return "sbx" + randHex(8) }},
	{"MOSPAY_MOS_APP_SECRET", func() string { return randHex(16) }},
	{"MOSPAY_MOS_MC_ID", func() string { return "sbxmerchant" + randHex(4) }},
	{"MOSPAY_JWT_SECRET", func() string { return randHex(32) }},
	{"MOSPAY_ADMIN_TOKENS", func() string { return "finance:" + randHex(16) }},
	// The merchant API's key for a backend of the developer's (docs/merchant.md).
	{"MOSPAY_MERCHANT_KEYS", func() string { return "shop:" + randHex(24) }},
	// Signs order events when MOSPAY_WEBHOOK_URLS is set (a Standard Webhooks secret).
	{"MOSPAY_WEBHOOK_SECRET", func() string { return "whsec_" + base64.StdEncoding.EncodeToString(randBytes(32)) }},
}

// dataDir is the folder beside the SQLite file, or ./data for PostgreSQL.
func dataDir(raw map[string]string) string {
	u := raw["MOSPAY_DATABASE_URL"]
	if u == "" {
		u = defaults.DatabaseURL
	}
	if p, ok := strings.CutPrefix(u, "sqlite:"); ok {
		return filepath.Dir(p)
	}
	return "data"
}

// sandboxDefaults fills missing credentials for `serve --sandbox` from data/sandbox.env,
// generating that file (and printing its values once) on first use. MOS is the embedded sandbox
// unless MOSPAY_MOS_BASE_URL says otherwise (app.Config.MOSBaseURL).
func sandboxDefaults(raw map[string]string, out io.Writer) error {
	path := filepath.Join(dataDir(raw), sandboxEnvFile)
	saved, err := readEnvFile(path)
	if err != nil {
		return fmt.Errorf("sandbox credentials %s: %w", path, err)
	}
	var generated []string
	for _, k := range devKeys {
		if _, ok := saved[k.env]; !ok {
			saved[k.env] = k.gen()
			generated = append(generated, k.env)
		}
	}
	if len(generated) > 0 {
		if err := writeEnvFile(path, saved); err != nil {
			return fmt.Errorf("sandbox credentials %s: %w", path, err)
		}
		fmt.Fprintf(out, "Generated development credentials for the sandbox in %s (printed this once):\n", path)
		for _, k := range devKeys {
			fmt.Fprintf(out, "  %s=%s\n", k.env, saved[k.env])
		}
	}
	for _, k := range devKeys {
		if raw[k.env] == "" {
			raw[k.env] = saved[k.env]
		}
	}
	// The demo and the quick start choose their amounts; the product list and the merchant API
	// are open as well. MOSPAY_CLIENT_AMOUNTS=false tries the sandbox without.
	if raw["MOSPAY_CLIENT_AMOUNTS"] == "" {
		raw["MOSPAY_CLIENT_AMOUNTS"] = "true"
	}
	return nil
}

func readEnvFile(path string) (map[string]string, error) {
	m := map[string]string{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[k] = strings.Trim(v, `'"`)
		}
	}
	return m, sc.Err()
}

func writeEnvFile(path string, m map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Development credentials for `mospay serve --sandbox`. Never use them in production.\n")
	for _, k := range devKeys {
		fmt.Fprintf(&b, "export %s='%s'\n", k.env, m[k.env])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func randHex(n int) string { return hex.EncodeToString(randBytes(n)) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return b
}
