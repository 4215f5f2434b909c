package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned by Start when initdb or pg_ctl cannot be found, so that callers can
// tell "PostgreSQL is not installed here" (skip, or fail in CI) from "PostgreSQL is broken here"
// (always a failure).
var ErrNoBinaries = errors.New("pgtest: PostgreSQL binaries not found")

// debianBinGlob is where Debian and Ubuntu install the server binaries, one directory per major
// version, none of them on PATH by default.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// binaries are the absolute paths of the server programs one cluster is run with.
type binaries struct {
	initdb string
	pgCtl  string
}

// findBinaries looks for initdb and pg_ctl on PATH first, then in the highest-versioned
// /usr/lib/postgresql/*/bin that holds both. The error names what is missing where.
func findBinaries() (binaries, error) {
	var b binaries
	var missing []string
	var err error
	if b.initdb, err = exec.LookPath("initdb"); err != nil {
		missing = append(missing, "initdb")
	}
	if b.pgCtl, err = exec.LookPath("pg_ctl"); err != nil {
		missing = append(missing, "pg_ctl")
	}
	if len(missing) == 0 {
		return absBinaries(b)
	}
	dirs, _ := filepath.Glob(debianBinGlob) // the pattern is constant and valid
	sortBinDirs(dirs)
	for _, dir := range dirs {
		c := binaries{initdb: filepath.Join(dir, "initdb"), pgCtl: filepath.Join(dir, "pg_ctl")}
		if isExecutable(c.initdb) && isExecutable(c.pgCtl) {
			return c, nil
		}
	}
	return binaries{}, fmt.Errorf("%w: %s not on PATH, and no %s holds both initdb and pg_ctl "+
		"(install the postgresql package, or set %s to a running server)",
		ErrNoBinaries, strings.Join(missing, " and "), debianBinGlob, envURL)
}

// absBinaries makes PATH hits absolute: the programs run with another working directory.
func absBinaries(b binaries) (binaries, error) {
	var err error
	if b.initdb, err = filepath.Abs(b.initdb); err != nil {
		return b, fmt.Errorf("pgtest: resolve initdb: %w", err)
	}
	if b.pgCtl, err = filepath.Abs(b.pgCtl); err != nil {
		return b, fmt.Errorf("pgtest: resolve pg_ctl: %w", err)
	}
	return b, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// sortBinDirs orders /usr/lib/postgresql/<version>/bin directories highest version first.
func sortBinDirs(dirs []string) {
	slices.SortStableFunc(dirs, func(a, b string) int { return slices.Compare(dirVersion(b), dirVersion(a)) })
}

// dirVersion extracts "15" or "9.6" from /usr/lib/postgresql/<version>/bin as numbers, which
// slices.Compare orders correctly: 9.6 < 10 < 15 < 16.
func dirVersion(binDir string) []int {
	var v []int
	for _, part := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil // not a version: sorts lowest
		}
		v = append(v, n)
	}
	return v
}
