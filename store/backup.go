package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Backup writes a consistent copy of the SQLite database at rawURL ("sqlite:PATH") to dest,
// while mospay serves from it. It reads as one more WAL reader, through SQLite's own concurrency,
// and does not take the process lock a serving mospay holds: VACUUM INTO copies the snapshot of
// one read transaction, so the copy is exactly the database as of one commit, whatever is
// written meanwhile. It refuses to overwrite dest. PostgreSQL is backed up with its own tools
// (pg_dump; docs/operations.md "Backups and restore" says how).
func Backup(ctx context.Context, rawURL, dest string) error {
	path, ok := strings.CutPrefix(rawURL, "sqlite:")
	if !ok || path == "" {
		return errors.New("backup: only an SQLite database (sqlite:PATH) is backed up by mospay; use pg_dump for PostgreSQL")
	}
	path = strings.TrimPrefix(path, "//")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	dest, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	switch _, err := os.Lstat(dest); {
	case err == nil:
		return fmt.Errorf("backup: %s already exists; mospay never overwrites a backup", dest)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("backup: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "10000")
	src, err := sql.Open(sqliteDriver, "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		_ = os.Remove(dest) // a partial copy is no backup
		return fmt.Errorf("backup: %w", err)
	}
	return os.Chmod(dest, 0o600)
}
