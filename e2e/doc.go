// Package e2e holds mospay's end-to-end and race tests: the real order service, store, MOS
// client, notification receiver and HTTP API, wired exactly as `mospay serve` wires them, talking
// over real HTTP to the MOS sandbox, on SQLite and on PostgreSQL.
//
// The package has no code of its own: unit tests prove each part, these prove that the parts
// together keep the promises of CONTRACT.md (a payment is never lost, applied twice, or marked
// paid for the wrong amount) when requests, notifications and retries arrive at once.
package e2e
