package e2e

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
)

// smallFS mounts a tmpfs of size bytes for the test and returns its path. Mounting needs root
// (CI runs as root); elsewhere the test skips, saying so.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("a full disk is made with a small tmpfs, which only root can mount")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs (as root): %v %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the filesystem has no room left, and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

// TestFullDisk: with the SQLite file on a disk that fills up, creates and notifications are
// answered 503 (provider_unavailable; MOS's envelope for notifications, so MOS retries), never
// 500; /readyz fails while writes fail and passes again by itself once space returns; the
// notification MOS retries is then applied, and nothing acknowledged is lost.
func TestFullDisk(t *testing.T) {
	dir := smallFS(t, "4m")
	h := apptest.Start(t, apptest.Options{DBURL: "sqlite:" + filepath.Join(dir, "mospay.db")})
	token := h.Login(t, "user-disk")
	body := apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Disk"}
	var acked []string
	for range 5 {
		acked = append(acked, h.CreateOrder(t, token, body, "").OutTradeNo)
	}
	if r := h.Must(t, http.MethodGet, h.URL+"/readyz", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("/readyz before the disk is full: %d %s", r.Status, r.Body)
	}

	filler := fill(t, dir)
	// The first writes may still fit in the space SQLite already holds; keep going until one
	// fails, keeping every order that was acknowledged.
	var refused apptest.Response
	for i := 0; ; i++ {
		r, err := h.Create(token, body, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusCreated {
			var o apptest.Order
			r.Decode(t, &o)
			acked = append(acked, o.OutTradeNo)
			if i > 500 {
				t.Fatal("500 orders created on a full disk")
			}
			continue
		}
		refused = r
		break
	}
	refused.WantError(t, http.StatusServiceUnavailable, "provider_unavailable")
	r := h.Must(t, http.MethodGet, h.URL+"/readyz", nil, nil)
	r.WantError(t, http.StatusServiceUnavailable, "provider_unavailable")

	// MOS's notification for a payment is refused with 503 in MOS's envelope: MOS will retry.
	paid := acked[0]
	h.Pay(t, paid)
	h.WaitSandbox(t, paid, "a notification refused", func(v sandbox.OrderView) bool { return v.NotifyAttempts > 0 })
	r = h.Must(t, http.MethodPost, h.URL+"/mos/notify", h.Notification(t, paid, nil, h.Secret), nil)
	apptest.WantMOSAnswer(t, r, http.StatusServiceUnavailable)

	// Space returns: readiness comes back by itself, and MOS's retry is applied.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "/readyz to pass again after space returned", func() bool {
		return h.Must(t, http.MethodGet, h.URL+"/readyz", nil, nil).Status == http.StatusOK
	})
	h.WaitStatus(t, token, paid, "PAID")
	for _, no := range acked {
		if r, o := h.GetOrder(t, token, no); r.Status != http.StatusOK || o.OutTradeNo != no {
			t.Fatalf("acknowledged order %s: HTTP %d %s", no, r.Status, r.Body)
		}
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM orders`); n < len(acked) {
		t.Fatalf("%d orders stored, %d acknowledged", n, len(acked))
	}
	t.Logf("%d orders acknowledged, the first refusal after %d on the full disk", len(acked), len(acked)-5)
}
