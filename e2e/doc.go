// Package e2e holds mospay's end-to-end and race tests: mospay as `mospay serve` assembles it
// (package app, started by app/apptest on loopback ports), talking over real HTTP to the MOS
// sandbox, on SQLite and on PostgreSQL, every exchange held against the OpenAPI document; and the
// real binary, killed and restarted.
//
// The package has no code of its own: unit tests prove each part, these prove that the parts
// together keep mospay's promises (a payment is never lost, applied twice, or marked
// paid for the wrong amount) when requests, notifications and retries arrive at once.
package e2e
