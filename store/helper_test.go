package store

import (
	"context"
	"os"
	"testing"

	"github.com/mospay/mospay/store/pgtest"
)

// TestMain starts one throw-away PostgreSQL server for the package (pgtest), so the same suite
// runs on both databases (pgtest.ForEachDB).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openMigrated opens url, migrates it, and closes it when the test ends.
func openMigrated(t testing.TB, url string) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
