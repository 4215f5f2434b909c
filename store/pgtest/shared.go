package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The environment variables this package reads.
const (
	envURL     = "MOSPAY_TEST_POSTGRES_URL" // a running server to use instead of starting one
	envRequire = "MOSPAY_REQUIRE_POSTGRES"  // set: a missing PostgreSQL fails the tests
	envCI      = "CI"                       // set by CI systems: same as envRequire
)

// startTimeout bounds Main's initdb and server start; on a loaded 2-core machine they take
// seconds.
const startTimeout = 2 * time.Minute

// shared is what Main leaves for Shared and Require: the server, or why there is none.
type shared struct {
	srv *Server
	why string
}

// state is set once by Main before any test runs; nil means Main was not called.
var state atomic.Pointer[shared]

// dbSeq numbers the databases NewDB creates in this process.
var dbSeq atomic.Int64

// runID tells apart the databases of test binaries sharing one external server, where two
// packages may well have tests of the same name.
var runID = strings.ToLower(rand.Text()[:8])

// Main runs a package's tests around one shared PostgreSQL server; call it from TestMain as
// os.Exit(pgtest.Main(m)). It uses the server at MOSPAY_TEST_POSTGRES_URL if set, else starts a
// cluster, and stops it after the tests (also on panic). Where the binaries are missing the tests
// run with Shared() == nil, so that those needing PostgreSQL skip, unless CI or
// MOSPAY_REQUIRE_POSTGRES is set: then Main fails at once with exit code 1. A server that is
// found but does not start, or does not stop, fails the run too: that is a broken machine or a
// bug here, never a reason to skip.
func Main(m interface{ Run() int }) (code int) {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	var srv *Server
	var err error
	if rawURL := os.Getenv(envURL); rawURL != "" {
		srv, err = connectExternal(ctx, rawURL, logf)
	} else {
		srv, err = Start(ctx, logf)
	}
	cancel()
	switch {
	case errors.Is(err, ErrNoBinaries) && !required():
		logf("%v; tests that need PostgreSQL will skip", err)
		state.Store(&shared{why: strings.TrimPrefix(err.Error(), "pgtest: ")})
		return m.Run()
	case errors.Is(err, ErrNoBinaries):
		logf("FAIL: pgtest: PostgreSQL is required here (%s) but unavailable: %s",
			requiredBy(), strings.TrimPrefix(err.Error(), "pgtest: "))
		return 1
	case err != nil:
		logf("FAIL: %v", err)
		return 1
	}
	state.Store(&shared{srv: srv})
	defer func() {
		if err := srv.Stop(); err != nil {
			logf("FAIL: %v", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	return m.Run()
}

// Shared is the server Main started or connected to, or nil when there is none (PostgreSQL is
// not installed, or Main was not called).
func Shared() *Server {
	if st := state.Load(); st != nil {
		return st.srv
	}
	return nil
}

// Require returns the shared server for a test that cannot run without PostgreSQL. Without one
// it skips the test saying what is missing, or fails it where PostgreSQL is required (CI or
// MOSPAY_REQUIRE_POSTGRES set). It fails the test if TestMain did not call Main, which is a bug
// in the test package rather than in the machine.
func Require(t testing.TB) *Server {
	t.Helper()
	st := state.Load()
	switch {
	case st == nil:
		t.Fatal("pgtest: no shared server: the package's TestMain must call os.Exit(pgtest.Main(m))")
	case st.srv != nil:
		return st.srv
	case required():
		t.Fatalf("pgtest: PostgreSQL is required here (%s) but unavailable: %s", requiredBy(), st.why)
	default:
		t.Skip("pgtest: " + st.why)
	}
	return nil // unreachable: Fatal and Skip stop the test
}

// NewDB creates a database of its own for the test in the shared server and returns its DSN;
// the database is dropped when the test ends. It calls Require first, so it skips or fails the
// test as Require does.
func NewDB(t testing.TB) string {
	t.Helper()
	s := Require(t)
	name := dbName(t.Name(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDB(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context is done by now; cleanups registered later (closing the test's pools) ran first.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.dropDB(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// dbName makes a database name from a test name that a person can recognise and type unquoted in
// psql: lower case letters, digits and underscores, within PostgreSQL's 63 bytes, unique per
// process (seq) and per test binary (runID).
func dbName(testName string, seq int64) string {
	const maxBase = 40
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	base := b.String()
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	base = strings.TrimRight(base, "_")
	switch {
	case base == "":
		base = "t"
	case base[0] < 'a' || base[0] > 'z':
		base = "t_" + base
	}
	return base + "_" + runID + "_" + strconv.FormatInt(seq, 10)
}

// required reports whether a missing PostgreSQL must fail the tests instead of skipping them.
func required() bool {
	return requiredBy() != ""
}

// requiredBy names the environment variable that makes PostgreSQL required, or "" if none does.
func requiredBy() string {
	for _, name := range []string{envRequire, envCI} {
		if isTrue(os.Getenv(name)) {
			return name + " is set"
		}
	}
	return ""
}

// isTrue reads a flag variable the way CI systems set them: empty, "0" and "false" are off, any
// other value ("1", "true", "yes") is on.
func isTrue(v string) bool {
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}

// ForEachDB runs f twice, as subtests: on a fresh SQLite file ("sqlite") and on a fresh
// PostgreSQL database of the shared server ("postgres", which skips or fails as Require does).
// It is how every suite that must hold on both databases runs.
func ForEachDB(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, "sqlite:"+filepath.Join(t.TempDir(), "mospay.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, NewDB(t))
	})
}
