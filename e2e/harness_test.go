package e2e

import (
	"os"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/store/pgtest"
)

// TestMain starts one throw-away PostgreSQL server for the package, so that the race tests run
// on both databases (they skip the PostgreSQL half where it is not installed, outside CI).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harness is one running mospay with its sandbox, as `serve --sandbox` assembles it.
type harness = apptest.Stack

// newHarness starts mospay for the test; it is stopped when the test ends.
func newHarness(t testing.TB, opt apptest.Options) *harness {
	t.Helper()
	return apptest.Start(t, opt)
}
