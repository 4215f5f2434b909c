// Package mos speaks the MOS protocol for mospay: signing and verifying bodies, calling the four
// MOS endpoints, reading MOS's order statuses, and receiving MOS's payment notifications at
// NotifyPath (Receiver, over ParseNotification).
//
// It exists so that everything mospay assumes about MOS lives in one place (described in docs/mos.md): the
// signing rule of MOS's Java signer, the response envelope, which failures are worth retrying,
// and the one table that turns MOS's undocumented status strings into mospay's states. The day a
// real MOS behaves differently, this package and the sandbox in mos/sandbox change, and nothing
// else does.
//
// The client never retries by itself: a prepay may only be repeated with the same outTradeNo,
// and that decision belongs to the caller. Errors say whether retrying can help (IsRetryable) or
// MOS refused the request (IsRejected). Secrets, signing strings and session keys are never
// logged or kept.
package mos
