package mos_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
)

// notifier answers as the order service would, by outTradeNo.
type notifier struct{ calls int }

func (n *notifier) Notify(_ context.Context, nt order.Notification) (string, error) {
	n.calls++
	switch nt.OutTradeNo {
	case "unknown":
		return order.OutcomeUnknownOrder, order.Errorf(order.ENOTFOUND, "unknown outTradeNo")
	case "mosdown":
		return order.OutcomeMOSUnavailable, order.Errorf(order.EUNAVAILABLE, "MOS could not confirm")
	case "bug":
		return "", context.DeadlineExceeded
	}
	return order.OutcomeApplied, nil
}

func TestReceiverAnswers(t *testing.T) {
	tests := []struct {
		name, method, body string
		status             int
		msg, outcome       string
		called             bool
	}{
		{"applied", http.MethodPost, string(apptest.SignedJSON(map[string]string{"outTradeNo": "o1", "status": "SUCCESS"}, nKey, nSecret)), 200, "SUCCESS", order.OutcomeApplied, true},
		{"unknown order", http.MethodPost, string(apptest.SignedJSON(map[string]string{"outTradeNo": "unknown"}, nKey, nSecret)), 404, "unknown order", "unknown_order", true},
		{"MOS down", http.MethodPost, string(apptest.SignedJSON(map[string]string{"outTradeNo": "mosdown"}, nKey, nSecret)), 503, "temporarily unavailable, retry later", "unavailable", true},
		{"internal", http.MethodPost, string(apptest.SignedJSON(map[string]string{"outTradeNo": "bug"}, nKey, nSecret)), 500, "internal error", "failed", true},
		{"forged", http.MethodPost, `{"outTradeNo":"o1","appKey":"k1","sign":"00000000000000000000000000000000"}`, 401, "invalid signature", "bad_signature", false},
		{"malformed", http.MethodPost, `{"outTradeNo":`, 400, "malformed notification", "malformed", false},
		{"too large", http.MethodPost, `{"outTradeNo":"` + strings.Repeat("x", 300) + `"}`, 413, "body too large", "too_large", false},
		{"GET", http.MethodGet, "", 405, "POST only", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &notifier{}
			var counted []string
			rc := &mos.Receiver{AppKey: nKey, Secret: nSecret, Service: n, MaxBody: 256,
				Count: func(o string) { counted = append(counted, o) }}
			req := httptest.NewRequest(tt.method, mos.NotifyPath, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			rc.ServeHTTP(rec, req)
			var a mos.Answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Fatalf("answer %q is not MOS's envelope: %v", rec.Body, err)
			}
			if rec.Code != tt.status || a.Code != tt.status || a.Message != tt.msg {
				t.Fatalf("answer %d %+v, want %d %q", rec.Code, a, tt.status, tt.msg)
			}
			if (n.calls > 0) != tt.called {
				t.Fatalf("service called %d times, want called=%v", n.calls, tt.called)
			}
			if tt.outcome != "" && (len(counted) != 1 || counted[0] != tt.outcome) {
				t.Fatalf("counted %v, want %s", counted, tt.outcome)
			}
		})
	}
}
