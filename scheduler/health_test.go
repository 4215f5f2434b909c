package scheduler

import (
	"testing"
	"time"
)

// The health signal goes down after downAfter checks in a row without an answer, lets one probe
// through per probe interval while down, and comes up at the first answer.
func TestHealth(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type step struct {
		at        time.Duration
		answered  *bool // nil: admit instead of observe
		wantDown  bool
		wantProbe bool // for an admit: a probe is let through
		wantUp    bool // for an admit: MOS taken to answer
	}
	yes, no := true, false
	tests := []struct {
		name  string
		steps []step
	}{
		{"answers keep it up", []step{
			{0, &yes, false, false, false}, {0, &no, false, false, false}, {0, &yes, false, false, false},
			{0, nil, false, false, true},
		}},
		{"failures apart are not an outage", []step{
			{0, &no, false, false, false}, {0, &no, false, false, false}, {0, &yes, false, false, false},
			{0, &no, false, false, false}, {0, &no, false, false, false}, {0, nil, false, false, true},
		}},
		{"three in a row take it down; one probe per interval", []step{
			{0, &no, false, false, false}, {0, &no, false, false, false}, {time.Second, &no, true, false, false},
			{2 * time.Second, nil, true, false, false},
			{6 * time.Second, nil, true, true, false},
			{6 * time.Second, nil, true, false, false}, // taken by the first pass
			{7 * time.Second, &no, true, false, false}, // the probe failed: the next in 5 s
			{11 * time.Second, nil, true, false, false},
			{12 * time.Second, nil, true, true, false},
			{12 * time.Second, &yes, false, false, false},
			{12 * time.Second, nil, false, false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &health{downAfter: 3, probe: 5 * time.Second}
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				if s.answered != nil {
					h.observe(*s.answered, now)
				} else if up, probe := h.admit(now); up != s.wantUp || probe != s.wantProbe {
					t.Fatalf("step %d: admit = up %v, probe %v; want %v, %v", i, up, probe, s.wantUp, s.wantProbe)
				}
				if h.isDown() != s.wantDown {
					t.Fatalf("step %d: down %v, want %v", i, h.isDown(), s.wantDown)
				}
			}
		})
	}
}
