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

// TestGroupRunsAgainWithSavepoints: a group one of whose callers fails is rolled back whole and
// run again with a savepoint per caller, so that the others commit once and the failing one's
// writes vanish; a group that succeeds runs once.
func TestGroupRunsAgainWithSavepoints(t *testing.T) {
	db := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	if _, err := db.SQL().Exec(`CREATE TABLE scratch (i INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		fail  []bool
		runs  []int // how often each caller's function ran
		wantN int   // rows after
	}{
		{"all succeed", []bool{false, false, false}, []int{1, 1, 1}, 3},
		// The first try stops at the failure: the last caller runs in the second only.
		{"the middle one fails", []bool{false, true, false}, []int{2, 2, 1}, 2},
		{"alone and failing", []bool{true}, []int{1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.SQL().Exec(`DELETE FROM scratch`); err != nil {
				t.Fatal(err)
			}
			runs := make([]int, len(tc.fail))
			group := make([]*txRequest, len(tc.fail))
			for i, fail := range tc.fail {
				group[i] = &txRequest{ctx: context.Background(), done: make(chan error, 1), fn: func(tx *gorm.DB) error {
					runs[i]++
					if err := tx.Exec(`INSERT INTO scratch (i) VALUES (?)`, i).Error; err != nil {
						return err
					}
					if fail {
						return errBoom
					}
					return nil
				}}
			}
			db.group.commit(group)
			for i, r := range group {
				if err := <-r.done; (err != nil) != tc.fail[i] {
					t.Errorf("caller %d: %v, want failure %v", i, err, tc.fail[i])
				}
				if runs[i] != tc.runs[i] {
					t.Errorf("caller %d ran %d times, want %d", i, runs[i], tc.runs[i])
				}
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != tc.wantN {
				t.Errorf("%d rows, want %d", n, tc.wantN)
			}
		})
	}
}
