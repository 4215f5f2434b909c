package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/store"
)

// Main holds what a command built, so Close can tear it down in order.
type Main struct {
	Config *Config
	Log    *slog.Logger
	Stdout io.Writer

	db      *store.DB
	closers []func() // run in reverse order by Close
}

// openDB opens and migrates the configured database.
func (m *Main) openDB(ctx context.Context, migrate bool) (*store.DB, error) {
	db, err := store.Open(ctx, m.Config.DatabaseURL, store.Options{Logger: m.Log})
	if err != nil {
		return nil, err
	}
	m.db = db
	if migrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			m.Log.Info("migrations applied", "versions", applied)
		}
	}
	return db, nil
}

// Migrate applies pending migrations and exits.
func (m *Main) Migrate(ctx context.Context) error {
	db, err := store.Open(ctx, m.Config.DatabaseURL, store.Options{Logger: m.Log})
	if err != nil {
		return err
	}
	m.db = db
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "migrations applied: %d\n", len(applied))
	return nil
}

// Serve runs the API until ctx is cancelled (SIGINT/SIGTERM), then shuts down gracefully.
func (m *Main) Serve(ctx context.Context) error {
	db, err := m.openDB(ctx, true)
	if err != nil {
		return err
	}
	srv := api.New(api.Config{
		MaxBody:        m.Config.MaxBody,
		CORSOrigins:    m.Config.CORSOrigins,
		TrustedProxies: m.Config.TrustedProxies,
	}, api.Deps{
		Logger:  m.Log,
		Metrics: api.NewMetrics(),
		Ready:   db.Ready,
	})
	l, err := net.Listen("tcp", m.Config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", m.Config.HTTPAddr, err)
	}
	m.Log.Info("mospay serving", "addr", l.Addr().String(), "database", string(db.Dialect))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.Log.Info("shutting down: HTTP first")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return <-errc
}

// RunSandbox runs the MOS sandbox alone.
func (m *Main) RunSandbox(ctx context.Context) error {
	return errors.New("sandbox: not built yet")
}

// Reconcile runs one reconciliation pass.
func (m *Main) Reconcile(ctx context.Context) error {
	return errors.New("reconcile: not built yet")
}

// Close releases what the command opened: background work first, then the database.
func (m *Main) Close() {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			m.Log.Warn("closing database", "err", err)
		}
		m.db = nil
	}
}
