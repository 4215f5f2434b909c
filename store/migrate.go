package store

import (
	"context"
	"fmt"

	"github.com/mospay/mospay/migrations"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// provider returns the goose provider over the embedded migrations of db's dialect, built once
// (readiness probes ask it on every call). On PostgreSQL a session advisory lock makes instances
// that start together migrate once, one after the other.
func (db *DB) provider() (*goose.Provider, error) {
	db.migrations.once.Do(func() { db.migrations.p, db.migrations.err = db.newProvider() })
	return db.migrations.p, db.migrations.err
}

func (db *DB) newProvider() (*goose.Provider, error) {
	fsys, err := migrations.FS(string(db.Dialect))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.SQL(), fsys, opts...)
}

// Migrate applies every pending migration and returns the versions it applied. Applying twice
// is a no-op.
func (db *DB) Migrate(ctx context.Context) ([]int64, error) {
	p, err := db.provider()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Pending reports whether migrations remain to be applied (readiness: a server whose schema is
// behind its code is not ready).
func (db *DB) Pending(ctx context.Context) (bool, error) {
	p, err := db.provider()
	if err != nil {
		return false, err
	}
	return p.HasPending(ctx)
}

// Ready checks that the database answers, its schema is current, and it takes writes: after a
// write failed for want of storage (a full disk), every call tries a small write of its own, so
// that readiness comes back by itself once space does.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	pending, err := db.Pending(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if pending {
		return fmt.Errorf("migrations pending")
	}
	if db.writesFailing.Load() {
		if err := db.probeWrite(ctx); err != nil {
			return fmt.Errorf("writes fail: %w", err)
		}
	}
	return nil
}

// WritesFailing reports whether the last write transaction failed for want of storage and none
// has committed since (the mospay_database_writes_failing gauge).
func (db *DB) WritesFailing() bool { return db.writesFailing.Load() }
