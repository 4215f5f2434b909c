package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
)

// TestLoginWithCode: a login is one call of the order service (code2session at the sandbox,
// then the user recorded), whose refusals keep their codes: a used or unknown code is 401, a
// blank or overlong one 400 without asking MOS, a failing MOS 503.
func TestLoginWithCode(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	used := h.Sandbox.NewLoginCode("login-user")
	tests := []struct {
		name    string
		code    string
		faults  sandbox.Faults
		status  int
		errCode string
		asksMOS bool
	}{
		{"a fresh code", used, sandbox.Faults{}, 200, "", true},
		{"the same code again", used, sandbox.Faults{}, 401, "unauthorized", true},
		{"an unknown code", "no-such-code", sandbox.Faults{}, 401, "unauthorized", true},
		{"a blank code", "   ", sandbox.Faults{}, 400, "invalid_request", false},
		{"an overlong code", strings.Repeat("c", 1025), sandbox.Faults{}, 400, "invalid_request", false},
		{"MOS failing", h.Sandbox.NewLoginCode("login-user"), sandbox.Faults{ErrorRate: map[string]float64{"code2session": 1}}, 503, "provider_unavailable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.Sandbox.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			before := h.Sandbox.Stats().Calls["code2session"]
			r := h.Must(t, http.MethodPost, h.URL+"/mp/login/miniAppLogin", map[string]string{"code": tt.code}, nil)
			if tt.status == 200 {
				var tok struct{ Token string }
				if r.Decode(t, &tok); r.Status != 200 || tok.Token == "" {
					t.Fatalf("login: HTTP %d %s", r.Status, r.Body)
				}
			} else {
				r.WantError(t, tt.status, tt.errCode)
			}
			if asked := h.Sandbox.Stats().Calls["code2session"] > before; asked != tt.asksMOS {
				t.Errorf("MOS asked: %v, want %v", asked, tt.asksMOS)
			}
		})
	}
	users, err := h.App.Service().UsersByOpenID(context.Background(), "login-user")
	if err != nil || len(users) != 1 || users[0].LastLoginAt.IsZero() {
		t.Fatalf("the user of the fresh code: %+v, %v", users, err)
	}
}
