// Package order is the centre of mospay: the payment order, its statuses and flags, the coded
// errors every layer speaks, and the one state machine that decides status changes.
//
// Why a machine: MOS tells us about an order through several channels that arrive late,
// duplicated, out of order or never (the prepay answer, notifications, our own queries), and
// our own clock expires unpaid orders. If each channel set statuses itself, a late "pending"
// could undo "paid", or a payment after expiry could be lost. Instead what each channel sees becomes
// an Observation, and Apply decides, from the order's Snapshot alone, what it does: a Change
// (a new status, a prepayId to record, flags to raise), nothing, or a coded error. Apply is
// pure: it reads no clock, database or network, so it is tested over every (status, observation) pair.
//
// Nothing else assigns a status. The store writes a Change and its transition row (from, to,
// source, reason) in one transaction, guarded by an optimistic version
// (UPDATE ... WHERE id = ? AND version = ?): zero rows means someone else changed the order
// first, and the caller reloads it and applies the observation again.
//
// Statuses and the observations that move them:
//
//	             prepaid, mos_pending
//	  CREATED ─────────────────────────► PENDING
//	     │                                  │
//	     │ mos_paid                mos_paid │
//	     ├──────────────► PAID ◄────────────┤
//	     │                 │                │
//	     │                 │ mos_refunded   │
//	     │                 ▼                │
//	     │              REFUNDED            │
//	     │                                  │
//	     │ rejected,                        │
//	     │ mos_failed            mos_failed │
//	     ├──────────────► FAILED ◄──────────┤
//	     │                ▲   │             │
//	     │     mos_failed │   │ mos_closed  │
//	     │                │   ▼             │
//	     └──────────────► CLOSED ◄──────────┘
//	   mos_closed,               mos_closed,
//	   expired (unless held)     expired (unless held)
//
//	FAILED, CLOSED ── mos_paid ──► PAID + flag late_payment   (money is never lost)
//
//	CREATED, PENDING, FAILED, CLOSED ── mos_refunded ──► REFUNDED + flag refund_not_paid
//	                                   (the money moved and came back; MOS's truth wins)
//
// PAID never moves except to REFUNDED, and nothing moves back to CREATED. FAILED and CLOSED are
// not final: the reconciler keeps asking MOS during a grace period after expiry. PAID is not
// final either: MOS may report a refund only through orderQuery, so a PAID order is checked
// sparsely through a refund window. REFUNDED is final.
//
// Flags ask finance to look, and never lose information by changing a status:
//
//	amount_mismatch     MOS reports another amount or currency; checked before anything else,
//	                    for every observation; the order is not marked paid. Holds expiry.
//	late_payment        MOS reports a payment for a FAILED or CLOSED order (which moves to PAID).
//	mos_disagrees       MOS reports an unpaid or paid status for a PAID or REFUNDED order.
//	unknown_mos_status  MOS answered a status mospay cannot map; the note has the raw value.
//	                    Holds expiry.
//	refund_not_paid     MOS reports a refund for an order mospay never saw paid; the order
//	                    moves to REFUNDED.
//
// A flag that holds expiry stops our clock from closing a CREATED or PENDING order: money may
// have moved at MOS in a way we do not understand, so finance decides. An active flag is never
// raised again.
//
// Errors are *Error values with a code of docs/api.md "Errors" (EINVALID, ENOTFOUND, ECONFLICT, ...);
// ErrorCode and ErrorMessage read them through any wrapping, and treat anything uncoded as
// EINTERNAL whose detail is never shown.
package order
