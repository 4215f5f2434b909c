package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
)

// serveDeadline bounds each wait on the real process: generous, since the tests assert what
// happens, never how fast, and the machine may be busy.
const serveDeadline = 60 * time.Second

// startServe starts `mospay serve --sandbox` on the given addresses.
func startServe(t *testing.T, bin, dir, dbURL, httpAddr, sandboxAddr string) *apptest.Process {
	t.Helper()
	return apptest.StartProcess(t, "serve", bin, dir, apptest.ChildEnv(dir, "MOSPAY_DATABASE_URL="+dbURL),
		"serve", "--sandbox", "--http-addr", httpAddr, "--sandbox-addr", sandboxAddr)
}

// call sends one request and decodes a JSON answer into out (if not nil); it returns the status.
func call(t *testing.T, method, url, body string, hdr map[string]string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: serveDeadline}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// readEnv reads the KEY=value lines `serve --sandbox` keeps its development credentials in.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	return env
}

// TestServeSandbox starts the real binary as `make run` does and walks the quick-start over
// HTTP: a login code from the sandbox, login, /mp/user, an order paid in the sandbox; a second
// instance on the same SQLite file refuses; SIGTERM ends it cleanly.
func TestServeSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	dbURL := "sqlite:" + filepath.Join(dir, "m.db")
	httpAddr, sandboxAddr := apptest.FreeAddr(t), apptest.FreeAddr(t)
	api, sbx := "http://"+httpAddr, "http://"+sandboxAddr
	p := startServe(t, bin, dir, dbURL, httpAddr, sandboxAddr)

	if err := p.WaitReady(api+"/readyz", serveDeadline); err != nil {
		t.Fatal(err)
	}
	// The quick start is printed once serving has begun: it may follow the first ready answer.
	waitOutput(t, p, "Quick start")
	creds := readEnv(t, filepath.Join(dir, "sandbox.env"))
	_, adminTok, _ := strings.Cut(creds["MOSPAY_ADMIN_TOKENS"], ":")
	for _, line := range []string{"Finance pages: " + api + "/finance (sign in with the admin token " + adminTok + ")",
		"Demo mini-app in your browser: " + sbx + "/sandbox/demo",
		// Both spellings of the sandbox's origin may open the demo, and the log says so too.
		"Browser origins allowed to call the API: " + strings.Join(sandbox.OwnOrigins(sandboxAddr), " "),
		`msg="browser origins allowed to call /mp (CORS; MOSPAY_CORS_ORIGINS adds more)" origins="` + strings.Join(sandbox.OwnOrigins(sandboxAddr), " ") + `"`} {
		if adminTok == "" || !strings.Contains(p.Output.String(), line) {
			t.Errorf("the quick start lacks %q:\n%s", line, p.Output)
		}
	}

	// The quick-start, step by step.
	var code struct{ Code string }
	if st := call(t, "POST", sbx+"/sandbox/login-codes", `{"openid":"user-1"}`, nil, &code); st != 200 || code.Code == "" {
		t.Fatalf("login code: HTTP %d %+v", st, code)
	}
	var login struct{ Token, ExpiresAt string }
	if st := call(t, "POST", api+"/mp/login/miniAppLogin", `{"code":"`+code.Code+`"}`, nil, &login); st != 200 || login.Token == "" {
		t.Fatalf("login: HTTP %d %+v", st, login)
	}
	auth := map[string]string{"Authorization": "Bearer " + login.Token}
	// The code was used once: a second login with it is refused.
	var e struct{ Error struct{ Code string } }
	if st := call(t, "POST", api+"/mp/login/miniAppLogin", `{"code":"`+code.Code+`"}`, nil, &e); st != 401 || e.Error.Code != "unauthorized" {
		t.Fatalf("second login with one code: HTTP %d %+v", st, e)
	}
	var user map[string]string
	if st := call(t, "GET", api+"/mp/user", "", map[string]string{"Authorization": auth["Authorization"], "Lang": "km"}, &user); st != 200 {
		t.Fatalf("/mp/user: HTTP %d %v", st, user)
	}
	want := map[string]string{"appKey": creds["MOSPAY_MOS_APP_KEY"], "openid": "user-1", "languageType": "km-KH"}
	if fmt.Sprint(user) != fmt.Sprint(want) || want["appKey"] == "" {
		t.Fatalf("/mp/user = %v, want %v", user, want)
	}
	if st := call(t, "GET", api+"/mp/user", "", nil, &e); st != 401 {
		t.Fatalf("/mp/user without a token: HTTP %d", st)
	}

	var o struct{ OutTradeNo, PrepayID, TotalAmount, Status string }
	hdr := map[string]string{"Authorization": auth["Authorization"], "Idempotency-Key": "demo-1"}
	if st := call(t, "POST", api+"/mp/orders", `{"totalAmount":"16.99","currency":"USD","desc":"Coffee"}`, hdr, &o); st != 201 ||
		o.Status != "PENDING" || o.PrepayID == "" || o.TotalAmount != "16.99" {
		t.Fatalf("create: HTTP %d %+v", st, o)
	}
	if st := call(t, "POST", sbx+"/sandbox/orders/"+o.OutTradeNo+"/pay", "", nil, nil); st != 200 {
		t.Fatalf("sandbox pay: HTTP %d", st)
	}
	var got struct{ Status string }
	if !apptest.Within(serveDeadline, func() bool {
		call(t, "GET", api+"/mp/orders/"+o.OutTradeNo, "", auth, &got)
		return got.Status == "PAID"
	}) {
		t.Fatalf("order %s never PAID (last %q)", o.OutTradeNo, got.Status)
	}
	var story struct {
		Transitions []struct{ From, To, Source string }
	}
	if st := call(t, "GET", api+"/admin/orders/"+o.OutTradeNo, "", map[string]string{"Authorization": "Bearer " + adminTok}, &story); st != 200 ||
		len(story.Transitions) != 3 || story.Transitions[2].To != "PAID" || story.Transitions[2].Source != "notify" {
		t.Fatalf("admin story: HTTP %d %+v", st, story)
	}

	// A second instance on the same SQLite file refuses to start, saying why.
	second := startServe(t, bin, dir, dbURL, apptest.FreeAddr(t), apptest.FreeAddr(t))
	if code := second.Wait(t, serveDeadline); code != 1 {
		t.Fatalf("second instance exited %d, want 1\n%s", code, second.Output)
	}
	if out := second.Output.String(); !strings.Contains(out, "in use") {
		t.Fatalf("second instance's refusal does not say the file is in use:\n%s", out)
	}
	// ... and the first is unharmed.
	if st := call(t, "GET", api+"/readyz", "", nil, nil); st != 200 {
		t.Fatalf("/readyz after the second instance: HTTP %d", st)
	}

	// A backup while serve runs: it does not need serve's lock, and never overwrites a file.
	backup := filepath.Join(dir, "backup.db")
	for i, want := range []int{0, 1} {
		cmd := exec.Command(bin, "backup", backup)
		cmd.Env = apptest.ChildEnv(dir, "MOSPAY_DATABASE_URL="+dbURL)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want || (i == 1 && !strings.Contains(string(out), "already exists")) {
			t.Fatalf("backup %d: exit %d %s, want %d", i+1, code, out, want)
		}
	}
	if st, err := os.Stat(backup); err != nil || st.Size() == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}

	// SIGTERM: a clean shutdown, exit code 0.
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, serveDeadline); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.Output.String(), "shutting down") {
		t.Errorf("no shutdown line logged:\n%s", p.Output)
	}
	if _, err := net.DialTimeout("tcp", httpAddr, time.Second); err == nil {
		t.Error("the API still accepts connections after exit")
	}
}

// TestServeOnPostgresNeedsPublicURL: serve on PostgreSQL without MOSPAY_PUBLIC_URL refuses to
// start with one line naming the variable (instances must give MOS one notifyUrl).
func TestServeOnPostgresNeedsPublicURL(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"MOSPAY_DATABASE_URL": "postgres://mospay@127.0.0.1:1/mospay", "MOSPAY_MOS_BASE_URL": "https://mos.example",
		"MOSPAY_MOS_APP_KEY": "k", "MOSPAY_MOS_APP_SECRET": "s", "MOSPAY_MOS_MC_ID": "m", "MOSPAY_JWT_SECRET": strings.Repeat("j", 32),
		"MOSPAY_ADMIN_TOKENS": "finance:0123456789abcdef0123456789abcdef"}
	err := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "MOSPAY_PUBLIC_URL") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("serve on PostgreSQL without a public URL: %v", err)
	}
}

// TestServeRefusesUnsafeStarts: the real binary stops at start, with one line naming the
// variable, when asked to serve profiles on a non-loopback address, to deliver order events it
// cannot, or to accept an admin token shorter than api.MinAdminToken.
func TestServeRefusesUnsafeStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	for _, tc := range []struct{ name, env, want string }{
		{"pprof on every interface", "MOSPAY_DEBUG_ADDR=0.0.0.0:6060", "MOSPAY_DEBUG_ADDR"},
		{"an admin token of 31 characters", "MOSPAY_ADMIN_TOKENS=finance:" + strings.Repeat("t", api.MinAdminToken-1), "MOSPAY_ADMIN_TOKENS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := apptest.StartProcess(t, "serve", bin, dir, apptest.ChildEnv(dir, "MOSPAY_DATABASE_URL=sqlite:"+filepath.Join(dir, "m.db"), tc.env),
				"serve", "--sandbox", "--http-addr", apptest.FreeAddr(t), "--sandbox-addr", apptest.FreeAddr(t))
			if code := p.Wait(t, serveDeadline); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, p.Output)
			}
			// (The first start with --sandbox prints the credentials it generated first.)
			lines := strings.Split(strings.TrimSpace(p.Output.String()), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "mospay: config: "+tc.want+": ") {
				t.Fatalf("last line %q, want the one line naming %s", last, tc.want)
			}
		})
	}
}

// TestServeNamesTheVariableOfATakenPort: when another process holds a port mospay is to listen
// on, the real binary stops with one line naming the variable that moves that listener.
func TestServeNamesTheVariableOfATakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ name, httpAddr, sandboxAddr, want string }{
		{"the API's port", taken.Addr().String(), apptest.FreeAddr(t), "MOSPAY_HTTP_ADDR"},
		{"the sandbox's port", apptest.FreeAddr(t), taken.Addr().String(), "MOSPAY_SANDBOX_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := apptest.StartProcess(t, "serve", bin, dir, apptest.ChildEnv(dir, "MOSPAY_DATABASE_URL=sqlite:"+filepath.Join(dir, "m.db"),
				"MOSPAY_HTTP_ADDR="+tc.httpAddr, "MOSPAY_SANDBOX_ADDR="+tc.sandboxAddr), "serve", "--sandbox")
			if code := p.Wait(t, serveDeadline); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, p.Output)
			}
			lines := strings.Split(strings.TrimSpace(p.Output.String()), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.want) || !strings.Contains(last, "already in use") {
				t.Fatalf("last line %q, want one naming %s", last, tc.want)
			}
		})
	}
}

// TestSandboxKeepsOrdersAcrossRestart: with the real binary, an order created before `serve
// --sandbox` restarts is paid at the sandbox after it and ends PAID; `mospay sandbox reset`
// forgets it.
func TestSandboxKeepsOrdersAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	dbURL := "sqlite:" + filepath.Join(dir, "m.db")
	httpAddr, sandboxAddr := apptest.FreeAddr(t), apptest.FreeAddr(t)
	api, sbx := "http://"+httpAddr, "http://"+sandboxAddr

	p := startServe(t, bin, dir, dbURL, httpAddr, sandboxAddr)
	if err := p.WaitReady(api+"/readyz", serveDeadline); err != nil {
		t.Fatal(err)
	}
	var code struct{ Code string }
	if st := call(t, "POST", sbx+"/sandbox/login-codes", `{"openid":"user-restart"}`, nil, &code); st != 200 {
		t.Fatalf("login code: HTTP %d", st)
	}
	var login struct{ Token string }
	if st := call(t, "POST", api+"/mp/login/miniAppLogin", `{"code":"`+code.Code+`"}`, nil, &login); st != 200 {
		t.Fatalf("login: HTTP %d", st)
	}
	auth := map[string]string{"Authorization": "Bearer " + login.Token}
	var o struct{ OutTradeNo, Status string }
	if st := call(t, "POST", api+"/mp/orders", `{"totalAmount":"2.50","currency":"USD","desc":"Iced coffee"}`, auth, &o); st != 201 || o.Status != "PENDING" {
		t.Fatalf("create: HTTP %d %+v", st, o)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, serveDeadline); code != 0 {
		t.Fatalf("serve exited %d\n%s", code, p.Output)
	}

	p = startServe(t, bin, dir, dbURL, httpAddr, sandboxAddr)
	if err := p.WaitReady(api+"/readyz", serveDeadline); err != nil {
		t.Fatal(err)
	}
	if st := call(t, "POST", sbx+"/sandbox/orders/"+o.OutTradeNo+"/pay", "", nil, nil); st != 200 {
		t.Fatalf("paying, after the restart, an order made before it: HTTP %d", st)
	}
	var got struct{ Status string }
	if !apptest.Within(serveDeadline, func() bool {
		call(t, "GET", api+"/mp/orders/"+o.OutTradeNo, "", auth, &got)
		return got.Status == "PAID"
	}) {
		t.Fatalf("order %s never PAID after the restart (last %q)", o.OutTradeNo, got.Status)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, serveDeadline); code != 0 {
		t.Fatalf("serve exited %d\n%s", code, p.Output)
	}

	reset := apptest.StartProcess(t, "reset", bin, dir, apptest.ChildEnv(dir, "MOSPAY_DATABASE_URL="+dbURL), "sandbox", "reset")
	if code := reset.Wait(t, serveDeadline); code != 0 || !strings.Contains(reset.Output.String(), "sandbox state removed") {
		t.Fatalf("sandbox reset: exit %d\n%s", code, reset.Output)
	}
	if _, err := os.Stat(filepath.Join(dir, "sandbox-orders.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("after reset the state file is still there: %v", err)
	}
}
