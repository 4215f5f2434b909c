package webhook

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoMOSDependency: webhook delivers order events outbound and nothing else; MOS's inbound
// notifications belong to package mos, so nothing webhook builds on, directly or not, is mos.
func TestNoMOSDependency(t *testing.T) {
	// go test puts its own go first on the PATH.
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 || deps[len(deps)-1] != "github.com/mospay/mospay/webhook" {
		t.Fatalf("go list -deps listed %q, not webhook's dependencies", deps)
	}
	for _, p := range deps {
		if p == "github.com/mospay/mospay/mos" || strings.HasPrefix(p, "github.com/mospay/mospay/mos/") {
			t.Errorf("webhook depends on %s: MOS's traffic belongs in package mos, not webhook", p)
		}
	}
}
