// Package pgtest runs a throw-away PostgreSQL cluster for tests, so that the store suite can run
// against the real database mospay uses in production without anyone having to start one.
//
// Main, called from a package's TestMain, starts one cluster (initdb into a temp dir, pg_ctl on
// a free loopback port) that the package's tests share; NewDB gives each test its own database
// in it. Tests that need PostgreSQL call Require or NewDB: where the binaries are missing they
// skip with a message naming what is missing, except in CI (CI or MOSPAY_REQUIRE_POSTGRES set),
// where they fail. Setting MOSPAY_TEST_POSTGRES_URL points the tests at a running server instead.
//
// A cluster must never outlive its test binary: Stop runs from Main even on panic, and a small
// watchdog process stops the server and removes its files when the test binary dies in a way no
// defer survives (a panicking test goroutine, a -timeout, Ctrl-C, SIGKILL).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// superuser is the role initdb creates and every DSN of a started cluster uses.
const superuser = "postgres"

// maxSocketPath is the longest unix socket path every supported OS accepts (sun_path minus NUL).
const maxSocketPath = 103

// Server is one throw-away PostgreSQL cluster in a temp dir on a free loopback port, or a
// running server given by MOSPAY_TEST_POSTGRES_URL; tests create their databases in it.
type Server struct {
	logf  func(string, ...any)
	major int // the server's major version, such as 15; 0 if unknown

	// A cluster this package started; all empty for an external server.
	bin      binaries
	dir      string // temp dir holding data/, the log and the unix socket
	dataDir  string
	logPath  string
	port     int
	pickPort func() (int, error) // freePort; tests replace it to force a port clash
	runAs    *user.User          // the postgres user when running as root, else nil
	runuser  string              // path of runuser when runAs is set
	reaper   *reaper

	// An external server: the DSN it was given as, and the databases created in it.
	external *url.URL
	created  []string
	durable  bool // fsync and synchronous commit on (StartDurable)

	mu       sync.Mutex // serialises CREATE/DROP DATABASE and guards created
	stopOnce sync.Once
	stopErr  error
}

// Start creates a cluster in a new temp dir (initdb -A trust -E UTF8 --no-sync), starts it with
// pg_ctl on 127.0.0.1 and a free port with fsync off, and returns once it accepts connections.
// It returns an error wrapping ErrNoBinaries when initdb or pg_ctl cannot be found. When the
// process runs as root the binaries run as the postgres user, which the server insists on.
// logf, if not nil, receives progress lines; the caller must Stop the server.
func Start(ctx context.Context, logf func(string, ...any)) (*Server, error) {
	return startServer(ctx, logf, false)
}

// StartDurable is Start with PostgreSQL's durability left as in production (fsync, synchronous
// commit and full page writes on), for benchmarks that compare it with a durable SQLite.
func StartDurable(ctx context.Context, logf func(string, ...any)) (*Server, error) {
	return startServer(ctx, logf, true)
}

func startServer(ctx context.Context, logf func(string, ...any), durable bool) (*Server, error) {
	s, err := newServer(logf)
	if err != nil {
		return nil, err
	}
	s.durable = durable
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// newServer finds what Start needs before it touches the disk.
func newServer(logf func(string, ...any)) (*Server, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &Server{logf: logf, bin: bin, pickPort: freePort}
	if os.Geteuid() == 0 {
		if s.runAs, err = user.Lookup(superuser); err != nil {
			return nil, fmt.Errorf("pgtest: running as root, so PostgreSQL must run as user %q: %w", superuser, err)
		}
		if s.runuser, err = findRunuser(); err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs runuser to run PostgreSQL as %q: %w", superuser, err)
		}
	}
	return s, nil
}

// findRunuser finds runuser on PATH or in the sbin directories a non-login PATH may lack.
func findRunuser() (string, error) {
	path, err := exec.LookPath("runuser")
	if err == nil {
		return path, nil
	}
	for _, p := range []string{"/usr/sbin/runuser", "/sbin/runuser"} {
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", err
}

// start does the work of Start; on error the caller stops s, which cleans up whatever exists.
func (s *Server) start(ctx context.Context) error {
	begun := time.Now()
	base, err := tempBase(s.runAs != nil)
	if err != nil {
		return err
	}
	if s.dir, err = os.MkdirTemp(base, "pgtest-"); err != nil {
		return fmt.Errorf("pgtest: create temp dir: %w", err)
	}
	s.dataDir = filepath.Join(s.dir, "data")
	s.logPath = filepath.Join(s.dir, "postgres.log")
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("pgtest: chmod temp dir: %w", err)
	}
	if err := s.chown(s.dir); err != nil {
		return err
	}

	out, err := s.command(ctx, s.bin.initdb, "-D", s.dataDir, "-U", superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, bytes.TrimSpace(out))
	}
	if err := s.configure(); err != nil {
		return err
	}
	// The watchdog starts before the server does, so no server exists without one.
	if s.reaper, err = startReaper(s); err != nil {
		s.logf("pgtest: no watchdog, a crashed test run may leave %s running: %v", s.dir, err)
	}

	for attempt := 1; ; attempt++ {
		if s.port, err = s.pickPort(); err != nil {
			return err
		}
		err = s.pgCtlStart(ctx)
		if err == nil {
			break
		}
		if attempt == 2 || !s.portClash() {
			return err
		}
		s.logf("pgtest: port %d was taken before the server bound it; retrying on another", s.port)
	}
	if err := s.waitReady(ctx); err != nil {
		return err
	}
	version, _ := os.ReadFile(filepath.Join(s.dataDir, "PG_VERSION"))
	s.major = majorVersion(string(version))
	s.logf("pgtest: PostgreSQL %d ready on 127.0.0.1:%d in %s (%s)",
		s.major, s.port, s.dir, time.Since(begun).Round(time.Millisecond))
	return nil
}

// tempBase is the parent of the cluster's temp dir: os.TempDir(), unless the server runs as
// another user who cannot reach it (TMPDIR under /root, say); then /tmp.
func tempBase(otherUser bool) (string, error) {
	base := os.TempDir()
	if !otherUser || traversableByOthers(base) {
		return base, nil
	}
	if traversableByOthers("/tmp") {
		return "/tmp", nil
	}
	return "", fmt.Errorf("pgtest: neither %s nor /tmp can be reached by user %q", base, superuser)
}

// traversableByOthers reports whether every directory from / down to dir is o+x, so that the
// postgres user can reach a directory created in dir.
func traversableByOthers(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// configure appends the test settings to postgresql.conf: loopback only, the unix socket in the
// temp dir (the default directory may not exist or be writable), and durability traded for speed.
// The port is given on the command line because a retry changes it.
func (s *Server) configure() error {
	socketDir := s.dir
	if len(socketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		socketDir = "" // too long for a socket path; tests connect over TCP anyway
	}
	conf := fmt.Sprintf(`
# Added by mospay's store/pgtest: a throw-away cluster for tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = %s
`, quoteConf(socketDir))
	if !s.durable {
		conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
	}
	f, err := os.OpenFile(filepath.Join(s.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: open postgresql.conf: %w", err)
	}
	_, err = f.WriteString(conf)
	return errors.Join(err, f.Close())
}

// majorVersion reads the major version from PG_VERSION ("15") or the server_version parameter
// ("15.4 (Debian 15.4-1)", "9.6.24"); 0 if it cannot.
func majorVersion(v string) int {
	v = strings.TrimSpace(v)
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		v = v[:end]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// quoteConf quotes a postgresql.conf string value.
func quoteConf(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// pgCtlStart starts the server on s.port and waits until it accepts connections.
func (s *Server) pgCtlStart(ctx context.Context) error {
	out, err := s.command(ctx, s.bin.pgCtl, "start", "-D", s.dataDir, "-l", s.logPath, "-w", "-t", "60",
		"-o", "-p "+strconv.Itoa(s.port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl start on port %d: %w\n%s\nserver log %s:\n%s",
			s.port, err, bytes.TrimSpace(out), s.logPath, s.logTail())
	}
	return nil
}

// portClash reports whether the last start failed because another process took the port
// between freePort closing its listener and the server binding it.
func (s *Server) portClash() bool {
	tail := s.logTail()
	return strings.Contains(tail, "Address already in use") || strings.Contains(tail, "could not create any TCP/IP sockets")
}

// waitReady connects until the server answers over TCP, which is what the tests will use.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: server on port %d not ready: %w\nserver log %s:\n%s", s.port, err, s.logPath, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free loopback port. Another process may take it before the
// server binds it, which start handles by retrying once.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command runs a PostgreSQL program as the user the server runs as, in the temp dir, with the C
// locale so that the server's messages are the English that portClash looks for.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if s.runAs != nil {
		args = append([]string{"-u", s.runAs.Username, "--", name}, args...)
		name = s.runuser
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// runuser passes SIGTERM on to its child; the default SIGKILL would orphan it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// chown gives path to the postgres user when the server runs as that user.
func (s *Server) chown(path string) error {
	if s.runAs == nil {
		return nil
	}
	uid, err := strconv.Atoi(s.runAs.Uid)
	if err != nil {
		return fmt.Errorf("pgtest: uid of %q: %w", s.runAs.Username, err)
	}
	gid, err := strconv.Atoi(s.runAs.Gid)
	if err != nil {
		return fmt.Errorf("pgtest: gid of %q: %w", s.runAs.Username, err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("pgtest: chown %s to %q: %w", path, s.runAs.Username, err)
	}
	return nil
}

// logTail is the end of the server log, for error messages.
func (s *Server) logTail() string {
	const maxTail = 4 << 10
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	if len(b) > maxTail {
		b = b[len(b)-maxTail:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(bytes.TrimSpace(b))
}

// DSN is the connection URL of database dbname on the server:
// postgres://postgres@127.0.0.1:PORT/dbname?sslmode=disable for a started cluster, or the
// external server's URL with its database replaced.
func (s *Server) DSN(dbname string) string {
	if s.external != nil {
		u := *s.external
		u.Path, u.RawPath = "/"+dbname, ""
		return u.String()
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// adminDSN is where CREATE and DROP DATABASE run: the "postgres" database of a started cluster,
// or whichever database the external server's URL names.
func (s *Server) adminDSN() string {
	if s.external != nil {
		return s.external.String()
	}
	return s.DSN("postgres")
}

// CreateDB creates database name (any name: it is quoted) and returns its DSN. It fails if the
// database exists.
func (s *Server) CreateDB(ctx context.Context, name string) (dsn string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if s.external == nil && s.major >= 15 && !s.durable {
		// Twice as fast as the default WAL_LOG on a template this small, for a checkpoint that
		// costs nothing with fsync off. Not on a shared external server.
		sql += " STRATEGY = FILE_COPY"
	}
	if err := s.exec(ctx, sql); err != nil {
		return "", fmt.Errorf("pgtest: create database %q: %w", name, err)
	}
	if s.external != nil {
		s.created = append(s.created, name)
	}
	return s.DSN(name), nil
}

// dropDB drops database name, closing any connection a test left open to it.
func (s *Server) dropDB(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sql := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
	if s.major >= 13 {
		sql += " WITH (FORCE)" // before 13 a connection left open makes the drop fail
	}
	if err := s.exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: drop database %q: %w", name, err)
	}
	for i, n := range s.created {
		if n == name {
			s.created = append(s.created[:i], s.created[i+1:]...)
			break
		}
	}
	return nil
}

// exec runs one statement on its own connection to the admin database; CREATE DATABASE cannot
// run in a transaction, and tests are not slowed by a connection per database.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminDSN())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	_, err = conn.Exec(ctx, sql)
	return errors.Join(err, conn.Close(ctx))
}

// Stop stops a started cluster at once (pg_ctl stop -m immediate) and removes its temp dir; for
// an external server it drops the databases CreateDB made. It is safe to call more than once;
// later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if s.external != nil {
		s.mu.Lock()
		names := append([]string(nil), s.created...)
		s.mu.Unlock()
		var errs []error
		for _, name := range names {
			errs = append(errs, s.dropDB(ctx, name))
		}
		return errors.Join(errs...)
	}
	if s.dir == "" {
		return nil // Start failed before creating anything
	}
	var errs []error
	pidFile := filepath.Join(s.dataDir, "postmaster.pid")
	if _, err := os.Stat(pidFile); err == nil {
		out, err := s.command(ctx, s.bin.pgCtl, "stop", "-D", s.dataDir, "-m", "immediate", "-w", "-t", "30").CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, bytes.TrimSpace(out)))
			errs = append(errs, killPostmaster(pidFile))
		}
	}
	// The server is down: the watchdog has nothing left to guard.
	errs = append(errs, s.reaper.dismiss())
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

// killPostmaster is the last resort when pg_ctl stop fails: SIGKILL the postmaster, whose
// children exit when they notice it is gone.
func killPostmaster(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil // it stopped after all
	}
	if err != nil {
		return fmt.Errorf("pgtest: read %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("pgtest: pid in %s: %w", pidFile, err)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return fmt.Errorf("pgtest: find postmaster %d: %w", pid, err)
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: kill postmaster %d: %w", pid, err)
	}
	return nil
}

// connectExternal uses the running server at rawURL (MOSPAY_TEST_POSTGRES_URL), checking that
// it answers.
func connectExternal(ctx context.Context, rawURL string, logf func(string, ...any)) (*Server, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// Not %w: the URL may hold a password, which url.Parse's error would repeat.
		return nil, fmt.Errorf("pgtest: %s must be a postgres://user@host:port/db URL", envURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/postgres"
	}
	s := &Server{logf: logf, external: u}
	conn, err := pgx.Connect(ctx, s.adminDSN())
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect to %s (%s): %w", envURL, u.Redacted(), err)
	}
	s.major = majorVersion(conn.PgConn().ParameterStatus("server_version"))
	if err := conn.Close(ctx); err != nil {
		return nil, fmt.Errorf("pgtest: close connection to %s: %w", u.Redacted(), err)
	}
	logf("pgtest: using PostgreSQL %d at %s from %s", s.major, u.Redacted(), envURL)
	return s, nil
}
