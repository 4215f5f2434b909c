package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"gorm.io/gorm"
)

// TestGroupCommitIsolatesFailures runs many concurrent write transactions through SQLite's group
// commit, some failing or panicking: exactly the successful ones are committed, each caller gets
// its own outcome, and the database stays usable.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	db := openMigrated(t, "sqlite:"+path)
	if db.group == nil {
		t.Fatal("SQLite without group commit")
	}
	if _, err := db.SQL().Exec(`CREATE TABLE scratch (i INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const n = 200
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = db.InTx(ctx, func(tx *gorm.DB) error {
				q := `INSERT INTO scratch (i) VALUES (?)`
				if err := tx.Exec(q, i).Error; err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errBoom // rolled back: its insert must vanish
				case 7:
					panic("kaboom")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	var wantOK int
	for i, err := range results {
		switch i % 10 {
		case 3:
			if !errors.Is(err, errBoom) {
				t.Errorf("caller %d: %v, want boom", i, err)
			}
		case 7:
			if err == nil {
				t.Errorf("caller %d: panic not reported", i)
			}
		default:
			wantOK++
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}
	}
	// Read back through a fresh connection: what was acknowledged is in the file.
	var count int64
	if err := db.read.Raw(`SELECT COUNT(*) FROM scratch`).Scan(&count).Error; err != nil {
		t.Fatal(err)
	}
	if int(count) != wantOK {
		t.Fatalf("%d rows committed, want %d", count, wantOK)
	}
	var bad int64
	db.read.Raw(`SELECT COUNT(*) FROM scratch WHERE i % 10 IN (3, 7)`).Scan(&bad)
	if bad != 0 {
		t.Fatalf("%d rows of failed callers were committed", bad)
	}
}

func TestGroupCommitAfterClose(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = db.InTx(ctx, func(tx *gorm.DB) error { return nil })
	if err == nil {
		t.Fatal("InTx after Close succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	db2 := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
	if err := db2.InTx(cctx, func(tx *gorm.DB) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}
