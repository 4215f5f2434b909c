package e2e

import (
	"os"
	"testing"

	"github.com/mospay/mospay/store/pgtest"
)

// TestMain starts one throw-away PostgreSQL server for the package, so that the race tests run
// on both databases (they skip the PostgreSQL half where it is not installed, outside CI).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
