package webhook

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The order events' page for receivers (docs/events.md) states the deliverer's limits in words:
// each must be the value the code uses, so that the page cannot drift from it.
func TestEventsDocStatesTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what string
		re   *regexp.Regexp // its first group is the number the page states
		want int
	}{
		{"attempts in flight per endpoint (DefaultConcurrency)", regexp.MustCompile(`at most (\d+) attempts in flight`), DefaultConcurrency},
		{"attempt timeout in seconds (DefaultTimeout)", regexp.MustCompile(`a (\d+) s timeout`), int(DefaultTimeout / time.Second)},
	}
	for _, tt := range tests {
		m := tt.re.FindAllSubmatch(b, -1)
		if len(m) == 0 {
			t.Errorf("docs/events.md does not state the %s (no match for %q)", tt.what, tt.re)
			continue
		}
		for _, g := range m {
			if n, _ := strconv.Atoi(string(g[1])); n != tt.want {
				t.Errorf("docs/events.md says %q; the code's %s is %d", g[0], tt.what, tt.want)
			}
		}
	}
}
