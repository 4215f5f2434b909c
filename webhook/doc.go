// Package webhook delivers mospay's order events to the merchant's systems: the deliverer, one
// worker per endpoint over the outbox rows (deliver.go), signing each event as Standard Webhooks
// sign them (sign.go). It is outbound only and knows nothing of MOS: MOS's inbound notifications
// are received in package mos (mos.Receiver). It speaks plain net/http.
package webhook
