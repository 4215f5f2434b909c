// Package store keeps mospay's orders in a SQL database through GORM: SQLite (one embedded file,
// the default) or PostgreSQL (for several instances). It is the only package that knows SQL.
//
// Every write that changes an order runs in one transaction with the rows that explain it (the
// transition, flags, the notification or MOS query that caused it), and is guarded by the order's
// version: UPDATE ... WHERE id = ? AND version = ?, zero rows meaning someone else moved first.
// Driver errors are turned into coded order errors (FormatError) so callers never see SQL.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/mospay/mospay/order"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names a supported database.
type Dialect string

// The supported databases.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is mospay's database: a GORM handle for writes and one for reads. On SQLite the writer is a
// single connection (SQLite allows one writer at a time; queueing in Go beats spinning on
// SQLITE_BUSY) and readers use their own pool over WAL; on PostgreSQL both are the same pool.
type DB struct {
	Dialect Dialect
	write   *gorm.DB
	read    *gorm.DB
	lock    *os.File   // SQLite only: held for the process's life so a second instance refuses
	group   *committer // SQLite only: group commit of concurrent write transactions
	batch   *pgBatcher // PostgreSQL only: group commit of concurrent one-statement writes
	leases  *memLeases // SQLite only: the deliveries' leases (see memLeases)

	migrations struct { // the goose provider, built on first use
		once sync.Once
		p    *goose.Provider
		err  error
	}
	// writesFailing is set when a write transaction fails for want of storage (a full disk, an
	// I/O error, a lost connection) and cleared by the next one that commits: Ready reports it, so
	// that an instance that cannot write is taken out of rotation until it can again.
	writesFailing atomic.Bool
	instance      string

	log *slog.Logger
	now func() time.Time
}

// Options tunes Open.
type Options struct {
	Logger *slog.Logger
	// Now is the clock used for timestamps the store writes; default time.Now.
	Now func() time.Time
	// MaxOpenConns bounds the PostgreSQL pool and the SQLite read pool (there at most two per
	// core); default 16.
	MaxOpenConns int
	// Instance names this process in the readiness table (default "mospay").
	Instance string
}

// Open connects to rawURL, "sqlite:PATH" or "postgres://...". It does not migrate. On SQLite it
// takes an exclusive lock on PATH.lock: one mospay process per database file, since SQLite has no
// row locks to share the reconciler's work between processes.
func Open(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxOpenConns <= 0 {
		opt.MaxOpenConns = 16
	}
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return opt.Now().UTC() },
		TranslateError:         false,
	}
	if opt.Instance == "" {
		opt.Instance = "mospay"
	}
	db := &DB{log: opt.Logger, now: opt.Now, instance: opt.Instance}
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(rawURL, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, errors.New("sqlite: empty path")
		}
		if err := tightenFiles(path, opt.Logger); err != nil {
			return nil, err
		}
		lock, err := lockFile(path + ".lock")
		if err != nil {
			return nil, err
		}
		db.lock = lock
		db.Dialect = SQLite
		// synchronous=FULL: an acknowledged commit survives a power loss. _txlock=immediate takes
		// the write lock at BEGIN, so a read-then-write transaction cannot fail half way with BUSY.
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_busy_timeout", "10000")
		q.Set("_foreign_keys", "on")
		q.Set("_txlock", "immediate")
		w, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteDriver, DSN: "file:" + path + "?" + q.Encode()}), gcfg)
		if err != nil {
			db.unlock()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		q.Set("mode", "ro")
		q.Set("_query_only", "true")
		// Readers: at most two per core, each with a page cache of up to 16 MiB (all of SQLite
		// within sqliteHeapLimit), so that the pages finance reads come back from a warm cache
		// rather than from sixteen cold ones: an order's story on a million orders answers as fast as on 10,000
		// (BenchmarkFinanceScale; with sixteen 2 MiB caches it was 1.5 times slower).
		q.Set("_cache_size", "-16384")
		q.Del("_txlock")
		r, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteDriver, DSN: "file:" + path + "?" + q.Encode()}), gcfg)
		if err != nil {
			db.unlock()
			return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
		}
		db.write, db.read = w, r
		if err := db.pool(db.write, 1); err != nil {
			return nil, err
		}
		if err := db.pool(db.read, min(opt.MaxOpenConns, 2*runtime.GOMAXPROCS(0))); err != nil {
			return nil, err
		}
		db.group = newCommitter(db.write)
		db.leases = &memLeases{held: map[int64]memLease{}}
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db.Dialect = Postgres
		g, err := gorm.Open(postgres.New(postgres.Config{DSN: rawURL}), gcfg)
		if err != nil {
			return nil, fmt.Errorf("postgres: open: %w", redactErr(err, rawURL))
		}
		db.write, db.read = g, g
		if err := db.pool(g, opt.MaxOpenConns); err != nil {
			return nil, err
		}
		db.batch = newPGBatcher(db.SQL())
	default:
		return nil, errors.New(`unsupported database URL: want "sqlite:PATH" or "postgres://..."`)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) pool(g *gorm.DB, n int) error {
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return nil
}

// sqliteHeapLimit is what all of SQLite's connections together keep in memory, page caches
// first (PRAGMA soft_heap_limit, which is the process's, not a connection's): one reader's 16 MiB
// cache fits, as finance's reads at scale want, but four readers warmed by a day of GETs no longer
// add 64 MiB to the process (measured: 133 MiB resident after 100,000 orders, 85 MiB with this
// limit and glibc's arenas bounded, see malloc_linux.go).
const sqliteHeapLimit = 24 << 20

// sqliteDriver is go-sqlite3 with a hook that sets, on every connection it opens, what the DSN
// cannot: temp_store=MEMORY keeps the savepoint journals of group commit in memory (on disk they
// cost a temp-file write per savepoint; measured: 0.21 ms against 0.35-0.63 ms per order created
// and prepaid, BenchmarkCreateThenSave). The main database and WAL stay as durable as before.
const sqliteDriver = "sqlite3_mospay"

func init() {
	sql.Register(sqliteDriver, stmtDriver{&sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(fmt.Sprintf("PRAGMA temp_store = MEMORY; PRAGMA soft_heap_limit = %d", sqliteHeapLimit), nil)
			return err
		},
	}})
}

// tightenFiles makes the SQLite database private to mospay's user: its directory 0700 (made so when
// missing), the database file 0600 (created so before SQLite opens it, so that the -wal and -shm
// files SQLite makes take the same mode), and any of them found looser tightened, with a log line.
// A database holds payers' ids and the story of every payment; no other local user needs it.
func tightenFiles(path string, log *slog.Logger) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sqlite: create %s: %w", dir, err)
	}
	tighten := func(p string, mode os.FileMode) error {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if st.Mode().Perm()&^mode != 0 {
			if err := os.Chmod(p, mode); err != nil {
				return fmt.Errorf("sqlite: tighten %s: %w", p, err)
			}
			log.Warn("tightened the permissions of a database file", "path", p, "was", st.Mode().Perm().String(), "now", mode.String())
		}
		return nil
	}
	if dir != "." { // never the working directory mospay was started in
		if err := tighten(dir, 0o700); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		if err := tighten(p, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// lockFile takes an exclusive, non-blocking flock. The kernel drops it when the process dies,
// so a crashed instance never leaves a stale lock behind.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite: %s is in use by another mospay process (one instance per SQLite file; use PostgreSQL for several)", strings.TrimSuffix(path, ".lock"))
		}
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

func (db *DB) unlock() {
	if db.lock != nil {
		_ = syscall.Flock(int(db.lock.Fd()), syscall.LOCK_UN)
		db.lock.Close()
		db.lock = nil
	}
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	for _, g := range []*gorm.DB{db.write, db.read} {
		sqlDB, err := g.DB()
		if err != nil {
			return err
		}
		if err := sqlDB.PingContext(ctx); err != nil {
			return fmt.Errorf("database unreachable: %w", err)
		}
	}
	return nil
}

// SQL returns the writer's database/sql handle (for migrations and tests).
func (db *DB) SQL() *sql.DB {
	sqlDB, _ := db.write.DB()
	return sqlDB
}

// Rebind turns a query's ? placeholders into PostgreSQL's $1, $2, ... on PostgreSQL, for SQL run
// through SQL() (tests and tools); GORM does this itself.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	return rebind(q)
}

// rebind turns ? placeholders into $1, $2, ... It keeps what it made for the queries it has seen
// (at most keptRebinds of them): the hot writes' texts are long, and rebuilding them on every
// call was a tenth of a notification's CPU on PostgreSQL.
func rebind(q string) string {
	if r, ok := rebound.Load(q); ok {
		return r.(string)
	}
	b := make([]byte, 0, len(q)+16)
	n := 0
	for i := 0; i < len(q); i++ { // bytewise: '?' is never part of a longer UTF-8 sequence
		if q[i] == '?' {
			n++
			b = strconv.AppendInt(append(b, '$'), int64(n), 10)
			continue
		}
		b = append(b, q[i])
	}
	r := string(b)
	if reboundN.Load() < keptRebinds {
		if _, had := rebound.LoadOrStore(q, r); !had {
			reboundN.Add(1)
		}
	}
	return r
}

// keptRebinds bounds rebind's memory: the queries mospay makes are a few hundred shapes (IN
// lists of every length are more, and rarer).
const keptRebinds = 4096

var (
	rebound  sync.Map // query → rebound query
	reboundN atomic.Int64
)

// Close closes both pools and releases the SQLite lock. It is safe to call twice.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	if db.batch != nil {
		db.batch.close()
	}
	var errs []error
	seen := map[*sql.DB]bool{}
	for _, g := range []*gorm.DB{db.write, db.read} {
		if g == nil {
			continue
		}
		if sqlDB, err := g.DB(); err == nil && !seen[sqlDB] {
			seen[sqlDB] = true
			errs = append(errs, sqlDB.Close())
		}
	}
	db.unlock()
	return errors.Join(errs...)
}

// InTx runs fn in one write transaction: committed if fn returns nil, rolled back otherwise,
// and returns only once the outcome is durable. On SQLite, concurrent callers share one commit
// (group commit, groupcommit.go); fn must then do only database work through tx. Errors are
// passed through FormatError.
func (db *DB) InTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	var err error
	if db.group != nil {
		err = db.group.do(ctx, fn)
	} else {
		err = db.write.WithContext(ctx).Transaction(fn)
	}
	return db.noteWrite(err)
}

// writeOne runs fn, one statement that is its own transaction (PostgreSQL only: on SQLite every
// write goes through the group commit), recording its outcome as InTx does. Errors are passed
// through FormatError.
func (db *DB) writeOne(fn func() error) error {
	return db.noteWrite(fn())
}

// noteWrite records a write's outcome for readiness (writesFailing) and formats its error.
func (db *DB) noteWrite(err error) error {
	switch {
	case err == nil:
		if db.writesFailing.CompareAndSwap(true, false) {
			db.log.Info("database writes succeed again")
		}
	case writesFail(err):
		if !db.writesFailing.Swap(true) {
			db.log.Error("database writes fail: not ready until one succeeds", "err", err)
		}
	}
	return FormatError(err)
}

// probePad makes the readiness probe write several pages, as an order's writes do, so that a
// disk too full for them fails the probe too.
var probePad = strings.Repeat("x", 16<<10)

// probeWrite writes this instance's readiness row: a write that needs free space, as any order's
// does.
func (db *DB) probeWrite(ctx context.Context) error {
	return db.InTx(ctx, func(tx *gorm.DB) error {
		return tx.Exec(`INSERT INTO readiness (instance, checked_at, pad) VALUES (?, ?, ?)
			ON CONFLICT (instance) DO UPDATE SET checked_at = excluded.checked_at, pad = excluded.pad`,
			db.instance, db.now().UTC(), probePad).Error
	})
}

// FormatError turns driver errors into coded order errors, by the drivers' own codes, never
// their message text: a unique violation is ECONFLICT; a busy, locked, full or failing database,
// a lost or refused connection, a serialization failure or a deadlock is EUNAVAILABLE (the
// caller may retry later, and a notification is answered 503 so that MOS does). Anything else
// stays as it is and is reported as internal. Coded errors pass through unchanged.
func FormatError(err error) error {
	if err == nil {
		return nil
	}
	var oe *order.Error
	if errors.As(err, &oe) {
		return err
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return order.Wrap(order.ENOTFOUND, err, "not found")
	}
	switch classify(err) {
	case classConflict:
		return order.Wrap(order.ECONFLICT, err, "already exists")
	case classUnavailable:
		return order.Wrap(order.EUNAVAILABLE, err, "database temporarily unavailable")
	}
	return err
}

// errorClass is what a driver error means for the caller.
type errorClass int

const (
	classOther       errorClass = iota
	classConflict               // a unique key is taken
	classUnavailable            // retry later: the database is busy, full or out of reach
)

// writesFail reports whether a failed write says the database cannot take writes now, for want
// of storage or of a connection (as opposed to contention, which passes by itself): SQLite's
// SQLITE_FULL and SQLITE_IOERR, PostgreSQL's classes 53 (insufficient resources: disk full), 58
// (system error: I/O) and 08 (connection exception), and a connection that could not be made.
func writesFail(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrFull || se.Code == sqlite3.ErrIoErr
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "58") || strings.HasPrefix(pe.Code, "08")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF)
}

// classify reads a driver error's code:
//   - SQLite (mattn/go-sqlite3): the extended result codes SQLITE_CONSTRAINT_UNIQUE and
//     _PRIMARYKEY are conflicts; SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL and SQLITE_IOERR mean
//     the file cannot be written now.
//   - PostgreSQL (pgx): SQLSTATE 23505 is a conflict; 40001 (serialization failure), 40P01
//     (deadlock), class 08 (connection exception), class 53 (insufficient resources: disk full,
//     out of memory, too many connections) and 57P01-57P03 (the server shutting down or starting)
//     mean try again. A connection that could not be made is unavailable too.
//   - database/sql: a broken or closed connection, a deadline, and the pool closed at shutdown.
func classify(err error) errorClass {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch {
		case se.ExtendedCode == sqlite3.ErrConstraintUnique, se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey:
			return classConflict
		case se.Code == sqlite3.ErrBusy, se.Code == sqlite3.ErrLocked, se.Code == sqlite3.ErrFull, se.Code == sqlite3.ErrIoErr:
			return classUnavailable
		}
		return classOther
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == pgerrcode.UniqueViolation:
			return classConflict
		case pe.Code == pgerrcode.SerializationFailure, pe.Code == pgerrcode.DeadlockDetected,
			strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"),
			pe.Code == pgerrcode.AdminShutdown, pe.Code == pgerrcode.CrashShutdown, pe.Code == pgerrcode.CannotConnectNow:
			return classUnavailable
		}
		return classOther
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, errClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF), isPoolClosed(err):
		return classUnavailable
	}
	return classOther
}

// isPoolClosed reports database/sql's answer once DB.Close has run. database/sql exports no
// sentinel for it, so this one error is known by its exact text.
func isPoolClosed(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "sql: database is closed" {
			return true
		}
	}
	return false
}

// redactErr keeps a connection URL's password out of an error message.
func redactErr(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
	}
	return err
}
