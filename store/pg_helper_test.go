package store

import (
	"os"
	"testing"

	"github.com/mospay/mospay/store/pgtest"
)

// TestMain starts one throw-away PostgreSQL server for the package (pgtest), so the same suite
// runs on both databases.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// postgresURL returns a fresh PostgreSQL database for the test, or "" when the binaries are
// missing outside CI (pgtest.Require fails the test in CI instead).
func postgresURL(t *testing.T) string {
	if pgtest.Shared() == nil {
		pgtest.Require(t) // fails in CI, skips with the reason elsewhere
		return ""
	}
	return pgtest.NewDB(t)
}
