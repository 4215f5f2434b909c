package store

import (
	"context"
	"path/filepath"
	"testing"
)

// forEachDB runs f against a fresh SQLite file and, when a PostgreSQL server is available, a
// fresh PostgreSQL database: one suite, both dialects.
func forEachDB(t *testing.T, f func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	})
	if pg := postgresURL(t); pg != "" {
		t.Run("postgres", func(t *testing.T) { f(t, pg) })
	}
}

// openMigrated opens url, migrates it, and closes it when the test ends.
func openMigrated(t *testing.T, url string) *DB {
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
