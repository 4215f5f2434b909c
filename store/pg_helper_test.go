package store

import "testing"

// postgresURL is replaced once the pgtest harness lands.
func postgresURL(t *testing.T) string { return "" }
