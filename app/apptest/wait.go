package apptest

import (
	"testing"
	"time"
)

// pollEvery is how often Within asks again: often enough that a test waits little past the
// moment its condition holds, seldom enough not to compete with what it waits for.
const pollEvery = 20 * time.Millisecond

// Within reports whether cond held within d, asking at once and then every pollEvery (and once
// more at the deadline, so that a slow last step still counts). It is the one poll loop of the
// tests: a helper that must say more than Eventually does on failure calls Within and fails
// with its own message.
func Within(d time.Duration, cond func() bool) bool { return WithinEvery(d, pollEvery, cond) }

// WithinEvery is Within asking every `every`: more often where a moment must be caught, less
// where each question is costly (a walk over every order of a load run).
func WithinEvery(d, every time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(every) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return cond()
		}
	}
}

// Eventually waits until cond holds, and fails the test naming what it waited for if WaitFor
// passes first.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Within(WaitFor, cond) {
		t.Fatalf("timed out after %s waiting for %s", WaitFor, what)
	}
}
