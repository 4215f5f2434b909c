package pgtest

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m))
}

// connect opens a connection closed when the test ends.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// startOwn starts a cluster of the test's own, for tests that take it down.
func startOwn(t *testing.T) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	s, err := Start(ctx, t.Logf)
	switch {
	case errors.Is(err, ErrNoBinaries) && !required():
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestSharedServerAnswers(t *testing.T) {
	s := Require(t)
	if Shared() != s {
		t.Fatalf("Shared() = %p, Require returned %p", Shared(), s)
	}
	dsn := s.DSN("postgres")
	if s.external == nil {
		want := regexp.MustCompile(`^postgres://postgres@127\.0\.0\.1:\d+/postgres\?sslmode=disable$`)
		if !want.MatchString(dsn) {
			t.Errorf("DSN(postgres) = %q, want it to match %s", dsn, want)
		}
	}
	var one int
	if err := connect(t, dsn).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v; want 1, nil", one, err)
	}
}

func TestNewDBGivesIndependentDatabases(t *testing.T) {
	dsnA, dsnB := NewDB(t), NewDB(t)
	if dsnA == dsnB {
		t.Fatalf("two NewDB calls gave the same DSN %q", dsnA)
	}
	a, b := connect(t, dsnA), connect(t, dsnB)
	for _, c := range []struct {
		dsn  string
		conn *pgx.Conn
	}{{dsnA, a}, {dsnB, b}} {
		var one int
		var db string
		if err := c.conn.QueryRow(t.Context(), "SELECT 1, current_database()").Scan(&one, &db); err != nil {
			t.Fatalf("SELECT 1 on %s: %v", c.dsn, err)
		}
		u, err := url.Parse(c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if one != 1 || "/"+db != u.Path {
			t.Errorf("on %s: SELECT 1, current_database() = %d, %q", c.dsn, one, db)
		}
	}

	if _, err := a.Exec(t.Context(), "CREATE TABLE marker (id int); INSERT INTO marker VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var id int
	if err := a.QueryRow(t.Context(), "SELECT id FROM marker").Scan(&id); err != nil || id != 42 {
		t.Fatalf("marker in A = %d, %v; want 42", id, err)
	}
	var found *string
	if err := b.QueryRow(t.Context(), "SELECT to_regclass('marker')::text").Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found != nil {
		t.Errorf("table created in database A is visible in database B as %q", *found)
	}
}

func TestNewDBDropsDatabaseAfterTest(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		u, err := url.Parse(NewDB(t))
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		connect(t, u.String()) // left open on purpose: the drop must not trip over it
	})
	if name == "" {
		t.Skip("the subtest did not create a database")
	}
	s := Require(t)
	var exists bool
	err := connect(t, s.adminDSN()).QueryRow(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %q still exists after its test ended", name)
	}
}

func TestStartCreateDBStop(t *testing.T) {
	t.Parallel()
	s := startOwn(t)

	dsn, err := s.CreateDB(t.Context(), "Needs Quoting")
	if err != nil {
		t.Fatal(err)
	}
	if want := s.DSN("Needs Quoting"); dsn != want {
		t.Errorf("CreateDB DSN = %q, want DSN() = %q", dsn, want)
	}
	var db string
	if err := connect(t, dsn).QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil || db != "Needs Quoting" {
		t.Fatalf("current_database() = %q, %v; want %q", db, err, "Needs Quoting")
	}
	if _, err := s.CreateDB(t.Context(), "Needs Quoting"); err == nil {
		t.Error("creating an existing database succeeded")
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	assertGone(t, s)
}

func TestStartRetriesOnPortClash(t *testing.T) {
	t.Parallel()
	s, err := newServer(t.Logf)
	switch {
	case errors.Is(err, ErrNoBinaries) && !required():
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	var picked []int
	s.pickPort = func() (int, error) {
		port := busyPort // as if another process took the free port first
		if len(picked) > 0 {
			var err error
			if port, err = freePort(); err != nil {
				return 0, err
			}
		}
		picked = append(picked, port)
		return port, nil
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	if err := s.start(ctx); err != nil {
		t.Fatalf("start with the first port taken: %v", err)
	}
	if len(picked) != 2 || s.port != picked[1] {
		t.Fatalf("ports tried %v, server on %d; want the busy %d then another", picked, s.port, busyPort)
	}
	var one int
	if err := connect(t, s.DSN("postgres")).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v; want 1, nil", one, err)
	}
}

func TestWatchdogStopsServerWhenTestBinaryDies(t *testing.T) {
	t.Parallel()
	s := startOwn(t)
	if s.reaper == nil {
		t.Fatal("no watchdog was started")
	}
	// The kernel closes the pipe when the test binary dies, however it dies.
	if err := s.reaper.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.reaper.wait(time.Minute); err != nil {
		t.Fatal(err)
	}
	assertGone(t, s)
	if err := s.Stop(); err != nil {
		t.Errorf("Stop after the watchdog fired: %v", err)
	}
}

// assertGone checks that s's server no longer listens and its files are removed.
func assertGone(t *testing.T, s *Server) {
	t.Helper()
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s: stat error %v, want not exist", s.dir, err)
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("port %d still accepts connections", s.port)
	}
}

func TestDBName(t *testing.T) {
	tests := []struct {
		test string
		seq  int64
		want string
	}{
		{"TestCreate", 1, "testcreate_" + runID + "_1"},
		{"TestStore/postgres/order#01", 7, "teststore_postgres_order_01_" + runID + "_7"},
		{"Test Ünïcode -- and  spaces", 2, "test_n_code_and_spaces_" + runID + "_2"},
		{"42nd", 3, "t_42nd_" + runID + "_3"},
		{"///", 4, "t_" + runID + "_4"},
		{strings.Repeat("TestVeryLong_", 10), 99999, "testverylong_testverylong_testverylong_t_" + runID + "_99999"},
	}
	valid := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, tt := range tests {
		got := dbName(tt.test, tt.seq)
		if got != tt.want {
			t.Errorf("dbName(%q, %d) = %q, want %q", tt.test, tt.seq, got, tt.want)
		}
		if len(got) > 63 || !valid.MatchString(got) {
			t.Errorf("dbName(%q, %d) = %q: not a plain identifier of at most 63 bytes", tt.test, tt.seq, got)
		}
	}
}

func TestMajorVersion(t *testing.T) {
	tests := []struct {
		v    string
		want int
	}{
		{"15\n", 15}, {"15.4 (Debian 15.4-1.pgdg120+1)", 15}, {"9.6.24", 9}, {"17beta1", 17}, {"", 0}, {"x", 0},
	}
	for _, tt := range tests {
		if got := majorVersion(tt.v); got != tt.want {
			t.Errorf("majorVersion(%q) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestIsTrue(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"FALSE", false},
		{"1", true}, {"true", true}, {"yes", true}, {"github", true},
	}
	for _, tt := range tests {
		if got := isTrue(tt.v); got != tt.want {
			t.Errorf("isTrue(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestBinDirsSortHighestVersionFirst(t *testing.T) {
	dirs := []string{
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/16/bin",
		"/usr/lib/postgresql/odd/bin",
		"/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/15/bin",
	}
	sortBinDirs(dirs)
	want := []string{
		"/usr/lib/postgresql/16/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/odd/bin",
	}
	if !slices.Equal(dirs, want) {
		t.Errorf("sorted = %q, want %q", dirs, want)
	}
}
