// Package apptest starts mospay for end-to-end tests exactly as `mospay serve --sandbox` runs
// it: the composition root of package app, on 127.0.0.1:0, with the embedded MOS sandbox, and
// stopped when the test ends. It also holds the helpers those tests share: an HTTP client,
// logins, orders, waits and reads of the database. No test wires mospay's parts by hand.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store"
)

// WaitFor bounds every wait for something asynchronous (a notification, a retry). It is
// generous on purpose: the tests assert what happens, never how fast.
const WaitFor = 30 * time.Second

// The admin tokens a stack configures: one named "finance", one bare (named "admin").
const (
	FinanceToken = "finance-token-0123456789abcdef0123"
	AdminToken   = "admin-token-0123456789abcdef012345"
)

// The merchant keys a stack configures: two merchants, so that tests see one refused the other's
// orders.
const (
	MerchantKey      = "merchant-key-shop-0123456789abcdef"
	OtherMerchantKey = "merchant-key-other-0123456789abcdef"
)

// Options tune a stack. The zero value is a fresh SQLite file, the embedded sandbox with its
// notification retries sped up a thousandfold, and the system clock.
type Options struct {
	DBURL      string        // "" = a fresh SQLite file in t.TempDir()
	MOSTimeout time.Duration // one MOS call; 0 = 5 s
	Clock      order.Clock   // nil = the system clock
	// Schedule replaces the reconciler's timetable (tests use one without jitter).
	Schedule *order.Schedule
	// MOS makes this stack an instance that shares another's MOS (its sandbox and credentials)
	// instead of embedding a sandbox of its own: several instances on one database.
	MOS *Stack
	// Config, if set, changes the configuration before the stack starts.
	Config func(*app.Config)
}

// Stack is one running mospay with its sandbox.
type Stack struct {
	App        *app.App
	DB         *store.DB
	Sandbox    *sandbox.Server
	URL        string // the API, e.g. http://127.0.0.1:41234
	SandboxURL string
	AppKey     string
	Secret     string
	MchID      string
	Logs       *LogBuffer
	Client     *Client
}

// Start builds and starts mospay through app.New and app.Start; it is stopped when the test
// ends (and its log shown if the test failed).
func Start(t testing.TB, opt Options) *Stack {
	t.Helper()
	if opt.DBURL == "" {
		opt.DBURL = "sqlite:" + filepath.Join(t.TempDir(), "mospay.db")
	}
	if opt.MOSTimeout == 0 {
		opt.MOSTimeout = 5 * time.Second
	}
	s := &Stack{AppKey: "sbx" + RandHex(8), Secret: RandHex(16), MchID: "sbxmerchant" + RandHex(4), Logs: &LogBuffer{}}
	// app.DefaultConfig, as `serve --sandbox` starts from, changed where a test needs it.
	cfg := app.DefaultConfig()
	cfg.HTTPAddr, cfg.DatabaseURL, cfg.SandboxAddr, cfg.Sandbox = "127.0.0.1:0", opt.DBURL, "127.0.0.1:0", true
	cfg.MOSAppKey, cfg.MOSAppSecret, cfg.MOSMchID = s.AppKey, s.Secret, s.MchID
	cfg.JWTSecret, cfg.JWTTTL = RandHex(32), time.Hour
	cfg.AdminTokens = []api.AdminToken{{Name: "finance", Token: FinanceToken}, {Name: "admin", Token: AdminToken}}
	// The reconciler's tick is rare and its rate high: the tests move orders through it by hand.
	cfg.ReconcileEvery, cfg.ReconcileRate = "@every 1h", 1000
	cfg.MOSTimeout = opt.MOSTimeout
	cfg.SandboxRetryScale = 0.001
	// The per-user limit is off: the tests fire requests as fast as they can; the security
	// tests turn it on.
	cfg.UserRate = 0
	// As `serve --sandbox`: the tests that choose their amounts rely on it; the tests of the
	// pricing paths turn it off.
	cfg.ClientAmounts = true
	cfg.MerchantKeys = []api.MerchantKey{{Name: "shop", Key: MerchantKey}, {Name: "other", Key: OtherMerchantKey}}
	if opt.MOS != nil {
		s.AppKey, s.Secret, s.MchID = opt.MOS.AppKey, opt.MOS.Secret, opt.MOS.MchID
		cfg.MOSAppKey, cfg.MOSAppSecret, cfg.MOSMchID = s.AppKey, s.Secret, s.MchID
		cfg.Sandbox, cfg.MOSBaseURL = false, opt.MOS.SandboxURL
		cfg.JWTSecret = opt.MOS.App.Config().JWTSecret
	}
	if opt.Config != nil {
		opt.Config(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := app.New(cfg, app.Options{Logger: log, Clock: opt.Clock, Schedule: opt.Schedule})
	if err := a.Start(context.Background()); err != nil {
		a.Close()
		t.Fatalf("app.Start: %v\n%s", err, s.Logs.Tail(8<<10))
	}
	t.Cleanup(func() {
		a.Close()
		if t.Failed() {
			t.Logf("mospay log (tail):\n%s", s.Logs.Tail(16<<10))
		}
	})
	s.App, s.DB, s.URL = a, a.DB(), a.URL()
	if opt.MOS != nil {
		s.Sandbox, s.SandboxURL = opt.MOS.Sandbox, opt.MOS.SandboxURL
	} else {
		s.Sandbox, s.SandboxURL = a.Sandbox(), a.SandboxURL()
	}
	s.Client = NewClient(t, s.URL)
	return s
}

// RandHex is n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FreeAddr returns a loopback address with a port nobody listens on right now (for a process a
// test starts, which must be told its address).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// LogBuffer collects mospay's log lines, shown when a test fails and searched by some tests.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail is the last n bytes of the log.
func (l *LogBuffer) Tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "...\n" + s[len(s)-n:]
	}
	return s
}

// BuildBinary builds ./cmd/mospay of this module into dir and returns its path, for the tests
// that run the real binary (the go build cache makes repeats cheap).
func BuildBinary(t testing.TB, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: %q %v", gomod, err)
	}
	bin := filepath.Join(dir, "mospay")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mospay")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/mospay: %v\n%s", err, b)
	}
	return bin
}
