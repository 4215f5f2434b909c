package app

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/mos/sandbox"
)

// TestCheckApplication: serve asks MOS for its application once at start. A refusal (wrong
// credentials) is fatal; an unreachable MOS and a differing notifyUrl are warnings.
func TestCheckApplication(t *testing.T) {
	sb := sandbox.New(sandbox.Config{AppKey: "k1", AppSecret: "right-secret", MchID: "mc", NotifyURL: "https://elsewhere.example/mos/notify"})
	defer sb.Close()
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()

	tests := []struct {
		name, baseURL, secret string
		wantErr               string
		wantLog               string
	}{
		{"notifyUrl differs: warning", srv.URL, "right-secret", "", "notifyUrl for this app differs"},
		{"wrong secret: fatal", srv.URL, "wrong-secret", "MOS refused getApplication", ""},
		{"unreachable: warning", deadURL, "right-secret", "", "MOS unreachable at start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := New(Config{MOSBaseURL: tt.baseURL, MOSAppKey: "k1", MOSAppSecret: tt.secret, MOSMchID: "mc",
				MOSTimeout: 2 * time.Second, PublicURL: "http://127.0.0.1:8080"}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			err := a.checkApplication(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if strings.Contains(logs.String(), tt.secret) {
				t.Fatal("the app secret was logged")
			}
		})
	}
}
