package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
)

// hostileServe starts `mospay serve --sandbox` with extra environment and waits until it is
// ready; it returns the process and the API's base URL.
func hostileServe(t *testing.T, env ...string) (*apptest.Process, string) {
	t.Helper()
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	httpAddr := apptest.FreeAddr(t)
	env = append([]string{"MOSPAY_DATABASE_URL=sqlite:" + filepath.Join(dir, "m.db")}, env...)
	p := apptest.StartProcess(t, "serve", bin, dir, apptest.ChildEnv(dir, env...),
		"serve", "--sandbox", "--http-addr", httpAddr, "--sandbox-addr", apptest.FreeAddr(t))
	api := "http://" + httpAddr
	if err := p.WaitReady(api+"/readyz", serveDeadline); err != nil {
		t.Fatal(err)
	}
	return p, api
}

// residentKiB is the process's resident memory (VmRSS in /proc/PID/status), in KiB.
func residentKiB(t *testing.T, p *apptest.Process) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc to read resident memory from: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kib
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", p.Cmd.Process.Pid)
	return 0
}

// send sends one request with a raw method and body and returns the status and the body.
func send(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: serveDeadline}).Do(req)
	if err != nil {
		t.Fatalf("%.20s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// alive fails the test unless the process still runs and answers /readyz.
func alive(t *testing.T, p *apptest.Process, api string) {
	t.Helper()
	select {
	case <-p.Done():
		t.Fatalf("mospay died:\n%s", p.Output.Tail(3000))
	default:
	}
	if st, _ := send(t, http.MethodGet, api+"/readyz", nil); st != http.StatusOK {
		t.Fatalf("/readyz: HTTP %d", st)
	}
}

// TestServeRefusesDeepJSON: bodies nested far deeper than anything mospay reads, sent before any
// login, are refused 400 invalid_request by the real binary, which neither dies (a body of 8 MB
// of '[' once overflowed the stack) nor keeps the memory (twenty 976 KiB ones once took it from
// 31 MiB to 2.4 GiB).
func TestServeRefusesDeepJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p, api := hostileServe(t, "MOSPAY_MAX_BODY=8MiB")
	login := api + "/mp/login/miniAppLogin"
	// Warm up what a first request allocates, so that the growth measured is the bodies'.
	if st, _ := send(t, http.MethodPost, login, []byte(`{"code":["x"]}`)); st != http.StatusBadRequest {
		t.Fatalf("warm-up login: HTTP %d", st)
	}
	before := residentKiB(t, p)

	refused := func(name string, body []byte) {
		t.Helper()
		st, b := send(t, http.MethodPost, login, body)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(b, &e); err != nil || st != http.StatusBadRequest || e.Error.Code != "invalid_request" ||
			!strings.Contains(e.Error.Message, "nested deeper than 8 levels") {
			t.Fatalf("%s: HTTP %d %.300s, want 400 invalid_request naming the depth", name, st, b)
		}
	}
	huge := []byte(`{"code":` + strings.Repeat("[", 7600<<10) + `}`) // 7.6 MiB, under the 8 MiB limit
	refused("7.6 MiB of '['", huge)
	alive(t, p, api)
	time.Sleep(300 * time.Millisecond) // the login limit (a burst of 20) takes its token back
	deep := []byte(`{"code":` + strings.Repeat("[", 976<<10) + `}`)
	for i := range 20 {
		refused(fmt.Sprintf("deep login %d", i+1), deep)
	}
	alive(t, p, api)
	after := residentKiB(t, p)
	t.Logf("resident memory: %d KiB before, %d KiB after", before, after)
	if grew := after - before; grew > 64<<10 {
		t.Fatalf("resident memory grew by %d KiB (from %d to %d), want at most 64 MiB", grew, before, after)
	}
}

// TestServeBoundsOddMethods: two hundred requests with 10,000-character methods (once each a
// label value of /metrics, kept for good, and a 10 KB log line) leave /metrics and the log under
// 1 MiB on the real binary: the method is named from a fixed set, the route by its pattern.
func TestServeBoundsOddMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p, api := hostileServe(t)
	logBefore := len(p.Output.String())
	paths := []string{"/healthz", "/mp/orders", "/mp/login/miniAppLogin", "/admin/orders/x", "/mos/notify", "/finance"}
	for i := range 200 {
		method := fmt.Sprintf("%s%05d", strings.Repeat("M", 9995), i)
		path := paths[i%len(paths)]
		if i%7 == 0 {
			path = fmt.Sprintf("/nowhere/%d/%s", i, strings.Repeat("p", 2000))
		}
		if st, _ := send(t, method, api+path, nil); st < 400 || st >= 500 {
			t.Fatalf("%.12s... %.40s: HTTP %d, want 4xx", method, path, st)
		}
	}
	alive(t, p, api)
	st, metrics := send(t, http.MethodGet, api+"/metrics", nil)
	logged := len(p.Output.String()) - logBefore
	t.Logf("/metrics: %d bytes; log: %d bytes for 200 requests", len(metrics), logged)
	if st != http.StatusOK || len(metrics) >= 1<<20 || bytes.Contains(metrics, []byte("MMMMMMMM")) || bytes.Contains(metrics, []byte("pppppppp")) {
		t.Fatalf("/metrics: HTTP %d, %d bytes, want under 1 MiB and no client's method or path", st, len(metrics))
	}
	if !bytes.Contains(metrics, []byte(`method="other",route="unmatched"`)) {
		t.Errorf("/metrics does not count the odd methods as other on unmatched routes")
	}
	if out := p.Output.String()[logBefore:]; logged >= 1<<20 || strings.Contains(out, "MMMMMMMM") || strings.Contains(out, "pppppppp") {
		t.Fatalf("log: %d bytes for 200 requests, want under 1 MiB and no client's method or path", logged)
	}
}
