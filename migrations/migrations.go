// Package migrations holds mospay's versioned SQL schema, one directory per dialect, embedded in
// the binary and applied by pressly/goose (store.Migrate). Files are append-only: a released
// migration is never edited, a change is a new numbered file in both dialects. Invariants the code
// relies on (unique outTradeNo, legal statuses, one active flag of a kind, one transition per
// order version) are enforced here, so that no bug above can break them.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// FS returns the migrations of one dialect ("sqlite" or "postgres").
func FS(dialect string) (fs.FS, error) {
	return fs.Sub(files, dialect)
}
