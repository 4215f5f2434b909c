package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mospay/mospay/app/apptest"
)

// TestBackupUnderLoad: a backup taken while orders are being created is a consistent database
// (integrity_check ok) holding every order acknowledged before the backup started; a second
// backup to the same path is refused.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	h := apptest.Start(t, apptest.Options{DBURL: "sqlite:" + filepath.Join(dir, "mospay.db")})
	token := h.Login(t, "user-backup")

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := h.Create(token, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "Backup"}, "")
				if err != nil || r.Status != http.StatusCreated {
					t.Errorf("create under load: %v %d %s", err, r.Status, r.Body)
					return
				}
				var o apptest.Order
				r.Decode(t, &o)
				mu.Lock()
				acked = append(acked, o.OutTradeNo)
				mu.Unlock()
			}
		})
	}
	apptest.Eventually(t, "50 orders acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 50
	})
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	dest := filepath.Join(dir, "backup.db")
	if err := h.App.Backup(context.Background(), dest); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	b, err := sql.Open("sqlite3", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var check string
	if err := b.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the backup: %q %v", check, err)
	}
	have := map[string]bool{}
	rows, err := b.Query("SELECT out_trade_no FROM orders")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var no string
		if err := rows.Scan(&no); err != nil {
			t.Fatal(err)
		}
		have[no] = true
	}
	for _, no := range before {
		if !have[no] {
			t.Fatalf("order %s, acknowledged before the backup started, is not in it", no)
		}
	}
	t.Logf("backup holds %d orders; %d were acknowledged before it started, %d in all", len(have), len(before), len(acked))

	if err := h.App.Backup(context.Background(), dest); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second backup to the same path: %v, want a refusal", err)
	}
}
