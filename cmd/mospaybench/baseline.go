package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	_ "github.com/mattn/go-sqlite3" // the same SQLite mospay's GORM driver compiles in
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// baselines serves the reference endpoints from this process with Echo:
//
//	GET  /trivial          a small JSON answer: the HTTP ceiling of this machine and load generator;
//	POST /bare             the least work an order needs, durably: INSERT a row, one prepay call to
//	                       the sandbox, UPDATE the row; each statement its own committed transaction
//	                       on a SQLite file in WAL mode with synchronous=FULL and one writer
//	                       connection;
//	POST /bare-nondurable  the same through GORM, as a quick prototype would be written, without
//	                       waiting for the disk: INSERT, the prepay, then an UPDATE guarded by the
//	                       row's version; SQLite in WAL mode with synchronous=NORMAL (a commit may
//	                       be lost on power loss), one connection.
type baselines struct {
	URL    string // http://127.0.0.1:port
	db     *sql.DB
	fast   *gorm.DB // the non-durable baseline's
	mos    *mos.Client
	notify string // the notifyUrl sent with prepay (never called: nobody pays these orders)
	srv    *http.Server
	log    *slog.Logger
	events eventSink // POST /events/{endpoint}
}

// eventSink is the merchant's systems for the order-event scenario: each POST /events/{name}
// answers 204 at once and is counted, with the time of the last one.
type eventSink struct {
	mu       sync.Mutex
	received int
	last     time.Time
}

func (e *eventSink) receive(c echo.Context) error {
	e.mu.Lock()
	e.received++
	e.last = time.Now()
	e.mu.Unlock()
	return c.NoContent(http.StatusNoContent)
}

// reset forgets what was received.
func (e *eventSink) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.received, e.last = 0, time.Time{}
}

// snapshot is how many events came, and when the last did.
func (e *eventSink) snapshot() (int, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.received, e.last
}

// startBaselines opens dir/bare.db and serves the baselines on a free loopback port; sandbox is
// the MOS sandbox the bare endpoint's prepay goes to.
func startBaselines(dir string, creds credentials, sandboxURL string, log *slog.Logger) (*baselines, error) {
	db, err := openBareDB(filepath.Join(dir, "bare.db"))
	if err != nil {
		return nil, err
	}
	fast, err := openNonDurableDB(filepath.Join(dir, "bare-nondurable.db"))
	if err != nil {
		db.Close()
		return nil, err
	}
	b := &baselines{
		db: db, fast: fast,
		mos: mos.NewClient(mos.Config{
			BaseURL: sandboxURL, AppKey: creds.AppKey, AppSecret: creds.AppSecret, MchID: creds.MchID,
			Timeout: 10 * time.Second,
		}),
		notify: "http://127.0.0.1:9/mos/notify",
		log:    log,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/trivial", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.POST("/bare", b.bare)
	e.POST("/bare-nondurable", b.bareNonDurable)
	e.POST("/events/:endpoint", b.events.receive)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.closeDBs()
		return nil, err
	}
	b.URL = "http://" + l.Addr().String()
	b.srv = &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := b.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("baseline server stopped", "err", err)
		}
	}()
	return b, nil
}

// openBareDB opens a fresh SQLite file as durably as mospay must be: WAL, synchronous=FULL (every
// commit waits for fsync), a busy timeout, and a single connection, so a single writer.
func openBareDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("bare db: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (
		id INTEGER PRIMARY KEY,
		out_trade_no TEXT NOT NULL UNIQUE,
		status TEXT NOT NULL,
		total_minor INTEGER NOT NULL,
		currency TEXT NOT NULL,
		prepay_id TEXT,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("bare db: %w", err)
	}
	// Check the settings took: a baseline that is not durable would flatter mospay's ratio.
	var mode string
	var sync int
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("bare db: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		db.Close()
		return nil, fmt.Errorf("bare db: %w", err)
	}
	if mode != "wal" || sync != 2 {
		db.Close()
		return nil, fmt.Errorf("bare db: journal_mode %q synchronous %d, want wal and 2 (FULL)", mode, sync)
	}
	return db, nil
}

// bare is the bare durable endpoint: row in, prepay, row updated.
func (b *baselines) bare(c echo.Context) error {
	ctx := c.Request().Context()
	no := order.NewNonce()
	now := time.Now().UTC()
	res, err := b.db.ExecContext(ctx,
		`INSERT INTO orders (out_trade_no, status, total_minor, currency, created_at, updated_at) VALUES (?, 'CREATED', ?, ?, ?, ?)`,
		no, 1699, string(money.USD), now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	if err != nil {
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	id, err := res.LastInsertId()
	if err != nil {
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	pp, err := b.mos.Prepay(ctx, mos.PrepayRequest{
		NonceStr: no, Desc: "bench", OutTradeNo: no, Currency: money.USD, TotalAmount: "16.99",
		NotifyURL: b.notify, OpenID: "bench-bare", ExpireTime: now.Add(2 * time.Hour),
	})
	if err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	}
	if _, err := b.db.ExecContext(ctx, `UPDATE orders SET status = 'PENDING', prepay_id = ?, updated_at = ? WHERE id = ?`,
		pp.PrepayID, time.Now().UTC().Format(time.RFC3339Nano), id); err != nil {
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	return c.JSON(http.StatusCreated, map[string]string{"outTradeNo": no, "prepayId": pp.PrepayID, "status": "PENDING"})
}

// bareOrder is the non-durable baseline's row.
type bareOrder struct {
	ID         int64 `gorm:"primaryKey"`
	OutTradeNo string
	Status     string
	TotalMinor int64
	Currency   string
	PrepayID   *string
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (bareOrder) TableName() string { return "orders" }

// openNonDurableDB opens a fresh SQLite file through GORM in WAL mode with synchronous=NORMAL: a
// commit returns once it is in the WAL, before the WAL reaches the disk. One connection; no
// transaction around each statement (GORM's SkipDefaultTransaction), so each statement is its
// own commit, as in the durable baseline.
func openNonDurableDB(path string) (*gorm.DB, error) {
	g, err := gorm.Open(sqlite.Open("file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate"),
		&gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		return nil, fmt.Errorf("bare non-durable db: %w", err)
	}
	db, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("bare non-durable db: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	fail := func(err error) (*gorm.DB, error) {
		db.Close()
		return nil, fmt.Errorf("bare non-durable db: %w", err)
	}
	if err := g.Exec(`CREATE TABLE orders (
		id INTEGER PRIMARY KEY,
		out_trade_no TEXT NOT NULL UNIQUE,
		status TEXT NOT NULL,
		total_minor INTEGER NOT NULL,
		currency TEXT NOT NULL,
		prepay_id TEXT,
		version INTEGER NOT NULL,
		created_at DATETIME NOT NULL,
		updated_at DATETIME NOT NULL)`).Error; err != nil {
		return fail(err)
	}
	// Check the settings took: this baseline is meant to skip the disk, and only that.
	var mode string
	var sync int
	if err := g.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil {
		return fail(err)
	}
	if err := g.Raw("PRAGMA synchronous").Scan(&sync).Error; err != nil {
		return fail(err)
	}
	if mode != "wal" || sync != 1 {
		return fail(fmt.Errorf("journal_mode %q synchronous %d, want wal and 1 (NORMAL)", mode, sync))
	}
	return g, nil
}

// bareNonDurable is the bare non-durable endpoint: row in, prepay, row updated if its version is
// still the one inserted.
func (b *baselines) bareNonDurable(c echo.Context) error {
	ctx := c.Request().Context()
	no := order.NewNonce()
	o := bareOrder{OutTradeNo: no, Status: "CREATED", TotalMinor: 1699, Currency: string(money.USD), Version: 1}
	if err := b.fast.WithContext(ctx).Create(&o).Error; err != nil {
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	pp, err := b.mos.Prepay(ctx, mos.PrepayRequest{
		NonceStr: no, Desc: "bench", OutTradeNo: no, Currency: money.USD, TotalAmount: "16.99",
		NotifyURL: b.notify, OpenID: "bench-bare", ExpireTime: o.CreatedAt.Add(2 * time.Hour),
	})
	if err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	}
	res := b.fast.WithContext(ctx).Model(&bareOrder{}).Where("id = ? AND version = ?", o.ID, o.Version).Updates(map[string]any{
		"status": "PENDING", "prepay_id": pp.PrepayID, "version": gorm.Expr("version + 1"),
	})
	switch {
	case res.Error != nil:
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": res.Error.Error()})
	case res.RowsAffected != 1:
		return c.JSON(http.StatusConflict, map[string]string{"error": "the order changed meanwhile"})
	}
	return c.JSON(http.StatusCreated, map[string]string{"outTradeNo": no, "prepayId": pp.PrepayID, "status": "PENDING"})
}

// close stops the server and closes the databases.
func (b *baselines) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	b.closeDBs()
}

func (b *baselines) closeDBs() {
	_ = b.db.Close()
	if db, err := b.fast.DB(); err == nil {
		_ = db.Close()
	}
}
