package order_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// grid is the state machine as the brief states it, written by hand and independently of the
// code's table: one row per status, one column per event kind. A cell is
//
//	=                no change
//	X                ECONFLICT
//	PAID             move to that status
//	+flag            raise the flag, no status change
//	PAID+flag        move and raise the flag
//	expire           move to CLOSED unless a flag that holds expiry is active
const grid = `
status    prepaid  rejected  mos_pending     mos_paid           mos_failed      mos_closed      mos_refunded      mos_unknown          expired
CREATED   PENDING  FAILED    PENDING         PAID               FAILED          CLOSED          REFUNDED+refund_not_paid  +unknown_mos_status  expire
PENDING   =        X         =               PAID               FAILED          CLOSED          REFUNDED+refund_not_paid  +unknown_mos_status  expire
PAID      =        X         +mos_disagrees  =                  +mos_disagrees  +mos_disagrees  REFUNDED                  +unknown_mos_status  =
FAILED    =        =         =               PAID+late_payment  =               CLOSED          REFUNDED+refund_not_paid  +unknown_mos_status  =
CLOSED    =        =         =               PAID+late_payment  FAILED          =               REFUNDED+refund_not_paid  +unknown_mos_status  =
REFUNDED  =        X         +mos_disagrees  +mos_disagrees     +mos_disagrees  +mos_disagrees  =                 +unknown_mos_status  =
`

// gridRow is one status's row of the grid.
type gridRow struct {
	from order.Status
	want []string
}

// parseGrid reads grid and checks that it has exactly one row per status and one column per
// event kind, in the order of order.Statuses and order.ObservationKinds.
func parseGrid(t *testing.T) (kinds []order.ObservationKind, rows []gridRow) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(grid), "\n")
	for _, k := range strings.Fields(lines[0])[1:] {
		kinds = append(kinds, order.ObservationKind(k))
	}
	if !reflect.DeepEqual(kinds, order.ObservationKinds) {
		t.Fatalf("ObservationKinds = %v, the grid's columns are %v", order.ObservationKinds, kinds)
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 1+len(kinds) {
			t.Fatalf("grid row %q has %d cells, want %d", line, len(f)-1, len(kinds))
		}
		rows = append(rows, gridRow{from: order.Status(f[0]), want: f[1:]})
	}
	if len(rows) != len(order.Statuses) {
		t.Fatalf("grid has %d rows, want one per status (%d)", len(rows), len(order.Statuses))
	}
	for i, r := range rows {
		if r.from != order.Statuses[i] {
			t.Fatalf("grid row %d is %s, want %s", i, r.from, order.Statuses[i])
		}
	}
	return kinds, rows
}

var usd1699 = money.Amount{Minor: 1699, Currency: money.USD}

// variant is one way of presenting an event to an order beyond its status and kind.
type variant struct {
	name         string
	storedPrepay string
	eventPrepay  string
	flags        []order.Flag
}

func variants(kind order.ObservationKind) []variant {
	vs := []variant{
		{name: "no prepayId", storedPrepay: "", eventPrepay: ""},
		{name: "prepayId reported", storedPrepay: "", eventPrepay: "P1"},
		{name: "same prepayId", storedPrepay: "P1", eventPrepay: "P1"},
		{name: "other prepayId", storedPrepay: "P0", eventPrepay: "P1"},
		{name: "stored prepayId only", storedPrepay: "P0", eventPrepay: ""},
	}
	if kind == order.ObservedExpired {
		for _, f := range order.Flags {
			vs = append(vs, variant{name: "flag " + string(f), storedPrepay: "P0", flags: []order.Flag{f}})
		}
	}
	return vs
}

// TestApplyEveryPair ranges over every (status, event kind) pair and several prepayId and flag
// variants, and asserts the exact Change or error code.
func TestApplyEveryPair(t *testing.T) {
	kinds, rows := parseGrid(t)
	for _, row := range rows {
		for i, kind := range kinds {
			cell := row.want[i]
			for _, v := range variants(kind) {
				name := fmt.Sprintf("%s/%s/%s", row.from, kind, v.name)
				t.Run(name, func(t *testing.T) {
					s := order.Snapshot{Status: row.from, Amount: usd1699, PrepayID: v.storedPrepay, Flags: v.flags}
					e := order.Observation{Kind: kind, Source: order.SourceReconciler, Reason: "r", PrepayID: v.eventPrepay, MOSStatus: "RAW"}
					got, err := order.Apply(s, e)

					wantCode, want := expect(row.from, kind, cell, v)
					if code := order.ErrorCode(err); code != wantCode {
						t.Fatalf("Apply error = %v (code %q), want code %q", err, code, wantCode)
					}
					if wantCode != "" {
						if !reflect.DeepEqual(got, order.Change{}) {
							t.Fatalf("Apply returned %+v with an error, want the zero Change", got)
						}
						return
					}
					for i := range got.Raise {
						if got.Raise[i].Note == "" {
							t.Errorf("flag %s raised without a note", got.Raise[i].Flag)
						}
						if got.Raise[i].Answer != "RAW||" {
							t.Errorf("flag %s raised for answer %q, want MOS's RAW||", got.Raise[i].Flag, got.Raise[i].Answer)
						}
						got.Raise[i].Note, got.Raise[i].Answer = "", ""
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("Apply = %+v\n              want %+v", got, want)
					}
				})
			}
		}
	}
}

// expect turns a grid cell and a variant into the error code or the Change (notes left out)
// that the brief asks for.
func expect(from order.Status, kind order.ObservationKind, cell string, v variant) (string, order.Change) {
	open := from == order.StatusCreated || from == order.StatusPending
	switch {
	case kind == order.ObservedPrepaid && v.eventPrepay == "":
		return order.EINVALID, order.Change{}
	case cell == "X":
		return order.ECONFLICT, order.Change{}
	case kind == order.ObservedPrepaid && open && v.storedPrepay != "" && v.storedPrepay != v.eventPrepay:
		return order.ECONFLICT, order.Change{}
	}
	c := order.Change{From: from, To: from, Reason: "r"}
	if open && v.storedPrepay == "" {
		c.PrepayID = v.eventPrepay
	}
	to, flag, _ := strings.Cut(cell, "+")
	switch to {
	case "=", "":
	case "expire":
		held := false
		for _, f := range v.flags {
			held = held || f.HoldsExpiry()
		}
		if !held {
			c.To = order.StatusClosed
		}
	default:
		c.To = order.Status(to)
	}
	if flag != "" {
		c.Raise = []order.FlagRaise{{Flag: order.Flag(flag)}}
	}
	return "", c
}

// TestApplyFlagNotRaisedTwice: for every pair that raises a flag, the same event on an order
// where that flag is already active raises nothing, while the status move still happens.
func TestApplyFlagNotRaisedTwice(t *testing.T) {
	raised := 0
	for _, st := range order.Statuses {
		for _, kind := range order.ObservationKinds {
			s := order.Snapshot{Status: st, Amount: usd1699, PrepayID: "P1"}
			e := order.Observation{Kind: kind, Source: order.SourceNotify, PrepayID: "P1", MOSStatus: "RAW"}
			first, err := order.Apply(s, e)
			if err != nil || len(first.Raise) == 0 {
				continue
			}
			raised++
			for _, fr := range first.Raise {
				s.Flags = append(s.Flags, fr.Flag)
			}
			again, err := order.Apply(s, e)
			if err != nil {
				t.Fatalf("%s/%s: %v", st, kind, err)
			}
			if len(again.Raise) != 0 {
				t.Errorf("%s/%s raised %v again", st, kind, again.Raise)
			}
			if again.To != first.To {
				t.Errorf("%s/%s with the flag active moves to %s, without to %s", st, kind, again.To, first.To)
			}
			if !first.Moves() && !again.Empty() {
				t.Errorf("%s/%s with the flag active = %+v, want empty", st, kind, again)
			}
		}
	}
	if raised != 19 { // the "+" cells of the grid
		t.Fatalf("%d pairs raised a flag, want the grid's 19", raised)
	}
}

// TestApplyAmountMismatch: on every pair, an amount or currency that differs raises
// amount_mismatch and changes nothing else, even where the event would otherwise conflict; a
// matching amount changes nothing compared with no amount.
func TestApplyAmountMismatch(t *testing.T) {
	mismatches := []struct {
		amount *order.ReportedAmount
		note   string
	}{
		{order.Reported(money.Amount{Minor: 1700, Currency: money.USD}), "MOS reports 17.00 USD; the order is 16.99 USD"},
		{order.Reported(money.Amount{Minor: 1699, Currency: money.KHR}), "MOS reports 1699 KHR; the order is 16.99 USD"},
		{order.Reported(money.Amount{Minor: 0, Currency: money.USD}), "MOS reports 0.00 USD; the order is 16.99 USD"},
		{&order.ReportedAmount{Raw: "16.99", Currency: "EUR"}, `MOS reports "16.99" "EUR", which mospay cannot read; the order is 16.99 USD`},
		{&order.ReportedAmount{Raw: "16,99", Currency: "USD"}, `MOS reports "16,99" "USD", which mospay cannot read; the order is 16.99 USD`},
	}
	for _, st := range order.Statuses {
		for _, kind := range order.ObservationKinds {
			for _, m := range mismatches {
				t.Run(fmt.Sprintf("%s/%s/%s", st, kind, m.amount), func(t *testing.T) {
					s := order.Snapshot{Status: st, Amount: usd1699}
					e := order.Observation{Kind: kind, Source: order.SourceNotify, PrepayID: "P1", MOSStatus: "SUCCESS", Amount: m.amount}
					got, err := order.Apply(s, e)
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					want := order.Change{
						From: st, To: st,
						Reason: "amount reported by MOS does not match the order",
						Raise:  []order.FlagRaise{{Flag: order.FlagAmountMismatch, Note: m.note, Answer: order.AnswerKey("SUCCESS", m.amount)}},
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("Apply = %+v\n              want %+v", got, want)
					}

					s.Flags = []order.Flag{order.FlagAmountMismatch}
					got, err = order.Apply(s, e)
					if err != nil {
						t.Fatalf("Apply with the flag active: %v", err)
					}
					if !got.Empty() {
						t.Fatalf("Apply with amount_mismatch active = %+v, want empty", got)
					}
				})
			}

			t.Run(fmt.Sprintf("%s/%s/match", st, kind), func(t *testing.T) {
				s := order.Snapshot{Status: st, Amount: usd1699}
				e := order.Observation{Kind: kind, Source: order.SourceNotify, PrepayID: "P1", MOSStatus: "SUCCESS"}
				without, errWithout := order.Apply(s, e)
				e.Amount = order.Reported(usd1699)
				with, errWith := order.Apply(s, e)
				for i := range with.Raise { // the answers differ by their amount, as they should
					with.Raise[i].Answer, without.Raise[i].Answer = "", ""
				}
				if order.ErrorCode(errWith) != order.ErrorCode(errWithout) || !reflect.DeepEqual(with, without) {
					t.Fatalf("matching amount: %+v, %v; no amount: %+v, %v", with, errWith, without, errWithout)
				}
			})
		}
	}
}

// TestApplyProperties checks, over every pair and many snapshots, what must hold whatever the
// table says: PAID never moves except to REFUNDED, nothing moves to CREATED, a mismatched amount
// never marks paid, and an active flag is never raised again.
func TestApplyProperties(t *testing.T) {
	other := money.Amount{Minor: 1, Currency: money.USD}
	amounts := []*order.ReportedAmount{nil, order.Reported(usd1699), order.Reported(other), {Raw: "x", Currency: "USD"}}
	prepays := []string{"", "P0", "P1"}
	calls := 0
	for _, st := range order.Statuses {
		for _, kind := range order.ObservationKinds {
			for mask := 0; mask < 1<<len(order.Flags); mask++ {
				var flags []order.Flag
				for i, f := range order.Flags {
					if mask&(1<<i) != 0 {
						flags = append(flags, f)
					}
				}
				for _, stored := range prepays {
					for _, reported := range prepays {
						for _, amount := range amounts {
							s := order.Snapshot{Status: st, Amount: usd1699, PrepayID: stored, Flags: flags}
							e := order.Observation{Kind: kind, Source: order.SourceAdmin, PrepayID: reported, Amount: amount}
							c, err := order.Apply(s, e)
							calls++
							if err != nil {
								if code := order.ErrorCode(err); code != order.ECONFLICT && code != order.EINVALID {
									t.Fatalf("%+v %+v: unexpected error %v", s, e, err)
								}
								continue
							}
							check := func(ok bool, what string) {
								if !ok {
									t.Fatalf("%s: snapshot %+v event %+v gave %+v", what, s, e, c)
								}
							}
							check(c.From == st, "From is not the snapshot's status")
							check(c.Reason != "", "no reason")
							check(!c.Moves() || c.To.Valid(), "moves to an invalid status")
							check(st != order.StatusPaid || !c.Moves() || c.To == order.StatusRefunded, "PAID moved elsewhere than REFUNDED")
							check(st != order.StatusRefunded || !c.Moves(), "REFUNDED moved")
							check(!c.Moves() || c.To != order.StatusCreated, "moved to CREATED")
							check(c.PrepayID == "" || stored == "", "replaced a stored prepayId")
							mismatch := amount != nil && !amount.Matches(usd1699)
							check(!mismatch || !c.Moves(), "moved on a mismatched amount")
							for _, fr := range c.Raise {
								for _, f := range flags {
									check(fr.Flag != f, "raised an active flag")
								}
								check(fr.Note != "", "flag without a note")
							}
							check(c.Empty() == (!c.Moves() && c.PrepayID == "" && len(c.Raise) == 0), "Empty disagrees with the fields")
						}
					}
				}
			}
		}
	}
	t.Logf("%d calls", calls)
}

// TestApplyExact checks whole Changes, default reasons and notes included, for the cases people
// will read in an order's story.
func TestApplyExact(t *testing.T) {
	pending := order.Snapshot{Status: order.StatusPending, Amount: usd1699, PrepayID: "P1"}
	created := order.Snapshot{Status: order.StatusCreated, Amount: usd1699}
	failed := order.Snapshot{Status: order.StatusFailed, Amount: usd1699, PrepayID: "P1"}
	paid := order.Snapshot{Status: order.StatusPaid, Amount: usd1699, PrepayID: "P1"}
	held := order.Snapshot{Status: order.StatusPending, Amount: usd1699, PrepayID: "P1",
		Flags: []order.Flag{order.FlagLatePayment, order.FlagUnknownStatus}}
	amount := usd1699
	tests := []struct {
		name string
		s    order.Snapshot
		e    order.Observation
		want order.Change
	}{
		{"prepay accepted", created,
			order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI, PrepayID: "P9"},
			order.Change{From: "CREATED", To: "PENDING", Reason: "prepay accepted", PrepayID: "P9"}},
		{"rejected", created,
			order.Observation{Kind: order.ObservedRejected, Source: order.SourceAPI},
			order.Change{From: "CREATED", To: "FAILED", Reason: "rejected by MOS"}},
		{"paid at MOS", pending,
			order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify, MOSStatus: "SUCCESS", PrepayID: "P1", Amount: order.Reported(amount)},
			order.Change{From: "PENDING", To: "PAID", Reason: "paid at MOS"}},
		{"caller's reason wins", pending,
			order.Observation{Kind: order.ObservedPaid, Source: order.SourceAdmin, Reason: "manual reconcile"},
			order.Change{From: "PENDING", To: "PAID", Reason: "manual reconcile"}},
		{"expired unpaid", pending,
			order.Observation{Kind: order.ObservedExpired, Source: order.SourceReconciler},
			order.Change{From: "PENDING", To: "CLOSED", Reason: "expired unpaid"}},
		{"expiry held", held,
			order.Observation{Kind: order.ObservedExpired, Source: order.SourceReconciler},
			order.Change{From: "PENDING", To: "PENDING", Reason: "expiry held by flag unknown_mos_status"}},
		{"late payment", failed,
			order.Observation{Kind: order.ObservedPaid, Source: order.SourceReconciler, MOSStatus: "SUCCESS"},
			order.Change{From: "FAILED", To: "PAID", Reason: "payment after FAILED recorded as late",
				Raise: []order.FlagRaise{{Flag: "late_payment", Note: `MOS reports payment (status "SUCCESS") after the order was FAILED`}}}},
		{"MOS disagrees", paid,
			order.Observation{Kind: order.ObservedClosed, Source: order.SourceReconciler, MOSStatus: "EXPIRED"},
			order.Change{From: "PAID", To: "PAID", Reason: "flagged mos_disagrees",
				Raise: []order.FlagRaise{{Flag: "mos_disagrees", Note: `MOS reports the order closed unpaid (status "EXPIRED") but it is PAID here`}}}},
		{"refund of an unpaid order", pending,
			order.Observation{Kind: order.ObservedRefunded, Source: order.SourceNotify, MOSStatus: "REFUND"},
			order.Change{From: "PENDING", To: "REFUNDED", Reason: "refunded at MOS, never seen paid here (was PENDING)",
				Raise: []order.FlagRaise{{Flag: "refund_not_paid", Note: `MOS reports a refund (status "REFUND") but the order was never seen paid here (it was PENDING)`}}}},
		{"unknown status, raw kept and cut", pending,
			order.Observation{Kind: order.ObservedUnknown, Source: order.SourceReconciler, MOSStatus: "WEIRD\n" + strings.Repeat("x", 100)},
			order.Change{From: "PENDING", To: "PENDING", Reason: "flagged unknown_mos_status",
				Raise: []order.FlagRaise{{Flag: "unknown_mos_status",
					Note: `MOS reported status "WEIRD\n` + strings.Repeat("x", 58) + `"…, which mospay cannot map`}}}},
		{"unknown status already flagged", held,
			order.Observation{Kind: order.ObservedUnknown, Source: order.SourceReconciler, MOSStatus: "WEIRD"},
			order.Change{From: "PENDING", To: "PENDING", Reason: "already flagged unknown_mos_status"}},
		{"prepayId reported while pending", order.Snapshot{Status: order.StatusPending, Amount: usd1699},
			order.Observation{Kind: order.ObservedPending, Source: order.SourceReconciler, PrepayID: "P7"},
			order.Change{From: "PENDING", To: "PENDING", Reason: "prepayId reported by MOS recorded", PrepayID: "P7"}},
		{"nothing to do", paid,
			order.Observation{Kind: order.ObservedPaid, Source: order.SourceNotify},
			order.Change{From: "PAID", To: "PAID", Reason: "mos_paid changes nothing for a PAID order"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.Apply(tt.s, tt.e)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for i := range got.Raise {
				if got.Raise[i].Answer != order.AnswerKey(tt.e.MOSStatus, tt.e.Amount) {
					t.Errorf("flag raised for answer %q", got.Raise[i].Answer)
				}
				got.Raise[i].Answer = ""
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Apply = %#v\n              want %#v", got, tt.want)
			}
		})
	}
}

func TestApplyInvalid(t *testing.T) {
	ok := order.Snapshot{Status: order.StatusPending, Amount: usd1699}
	amount := usd1699
	tests := []struct {
		name string
		s    order.Snapshot
		e    order.Observation
		code string
	}{
		{"unknown status", order.Snapshot{Status: "paid"}, order.Observation{Kind: order.ObservedPaid, Source: order.SourceAPI}, order.EINVALID},
		{"empty status", order.Snapshot{}, order.Observation{Kind: order.ObservedPaid, Source: order.SourceAPI}, order.EINVALID},
		{"unknown kind", ok, order.Observation{Kind: "SUCCESS", Source: order.SourceAPI}, order.EINVALID},
		{"empty kind", ok, order.Observation{Source: order.SourceAPI}, order.EINVALID},
		{"unknown source", ok, order.Observation{Kind: order.ObservedPaid, Source: "cron"}, order.EINVALID},
		{"empty source", ok, order.Observation{Kind: order.ObservedPaid}, order.EINVALID},
		{"prepaid without prepayId", ok, order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI}, order.EINVALID},
		{"amount but snapshot has none", order.Snapshot{Status: order.StatusPending},
			order.Observation{Kind: order.ObservedPaid, Source: order.SourceAPI, Amount: order.Reported(amount)}, order.EINVALID},
		{"second prepayId", order.Snapshot{Status: order.StatusPending, Amount: usd1699, PrepayID: "P0"},
			order.Observation{Kind: order.ObservedPrepaid, Source: order.SourceAPI, PrepayID: "P1"}, order.ECONFLICT},
		{"rejected after MOS took it", ok, order.Observation{Kind: order.ObservedRejected, Source: order.SourceAPI}, order.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.Apply(tt.s, tt.e)
			if code := order.ErrorCode(err); code != tt.code {
				t.Fatalf("Apply error = %v (code %q), want %q", err, code, tt.code)
			}
			if !reflect.DeepEqual(got, order.Change{}) {
				t.Fatalf("Apply returned %+v with an error", got)
			}
			if msg := order.ErrorMessage(err); strings.Contains(msg, "P0") || strings.Contains(msg, "P1") {
				t.Fatalf("message %q shows prepayIds; they belong in the cause", msg)
			}
		})
	}
}

func TestChangeMovesEmpty(t *testing.T) {
	tests := []struct {
		c            order.Change
		moves, empty bool
	}{
		{order.Change{From: "PENDING", To: "PENDING"}, false, true},
		{order.Change{From: "PENDING", To: "PENDING", Reason: "why"}, false, true},
		{order.Change{From: "PENDING", To: "PAID"}, true, false},
		{order.Change{From: "PENDING", To: "PENDING", PrepayID: "P1"}, false, false},
		{order.Change{From: "PAID", To: "PAID", Raise: []order.FlagRaise{{Flag: order.FlagMOSDisagrees}}}, false, false},
	}
	for _, tt := range tests {
		if got := tt.c.Moves(); got != tt.moves {
			t.Errorf("%+v.Moves() = %v, want %v", tt.c, got, tt.moves)
		}
		if got := tt.c.Empty(); got != tt.empty {
			t.Errorf("%+v.Empty() = %v, want %v", tt.c, got, tt.empty)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, st := range order.Statuses {
		got, err := order.ParseStatus(string(st))
		if err != nil || got != st {
			t.Errorf("ParseStatus(%q) = %q, %v", st, got, err)
		}
	}
	want := []string{"CREATED", "PENDING", "PAID", "FAILED", "CLOSED", "REFUNDED"}
	for i, st := range order.Statuses {
		if string(st) != want[i] {
			t.Errorf("Statuses[%d] = %q, want %q", i, st, want[i])
		}
	}
	for _, bad := range []string{"", "paid", "Paid", " PAID", "PAID ", "SUCCESS", "EXPIRED"} {
		_, err := order.ParseStatus(bad)
		if order.ErrorCode(err) != order.EINVALID {
			t.Errorf("ParseStatus(%q) error = %v, want %s", bad, err, order.EINVALID)
		}
	}
}

func TestStatusFinal(t *testing.T) {
	final := map[order.Status]bool{"REFUNDED": true}
	for _, st := range order.Statuses {
		if got := st.Final(); got != final[st] {
			t.Errorf("%s.Final() = %v, want %v", st, got, final[st])
		}
	}
}

func TestParseFlag(t *testing.T) {
	want := []string{"amount_mismatch", "late_payment", "mos_disagrees", "unknown_mos_status", "refund_not_paid"}
	if len(order.Flags) != len(want) {
		t.Fatalf("Flags = %v, want %v", order.Flags, want)
	}
	for i, f := range order.Flags {
		if string(f) != want[i] {
			t.Errorf("Flags[%d] = %q, want %q", i, f, want[i])
		}
		got, err := order.ParseFlag(want[i])
		if err != nil || got != f {
			t.Errorf("ParseFlag(%q) = %q, %v", want[i], got, err)
		}
	}
	for _, bad := range []string{"", "AMOUNT_MISMATCH", "late", "refund_unpaid"} {
		_, err := order.ParseFlag(bad)
		if order.ErrorCode(err) != order.EINVALID {
			t.Errorf("ParseFlag(%q) error = %v, want %s", bad, err, order.EINVALID)
		}
	}
}

func TestFlagHoldsExpiry(t *testing.T) {
	holds := map[order.Flag]bool{"amount_mismatch": true, "unknown_mos_status": true}
	for _, f := range order.Flags {
		if got := f.HoldsExpiry(); got != holds[f] {
			t.Errorf("%s.HoldsExpiry() = %v, want %v", f, got, holds[f])
		}
	}
}

func TestSourcesAndKindsValid(t *testing.T) {
	for _, s := range []order.Source{"api", "notify", "reconciler", "admin"} {
		if !s.Valid() {
			t.Errorf("Source %q not valid", s)
		}
	}
	if order.Source("API").Valid() || order.Source("").Valid() {
		t.Error("a wrong source is valid")
	}
	if order.ObservationKind("paid").Valid() || order.ObservationKind("").Valid() {
		t.Error("a wrong event kind is valid")
	}
}

// TestResolvedFlagNotRaisedForTheSameAnswer: a flag finance resolved for an answer of MOS stays
// resolved while MOS keeps giving that answer (status, amount and currency), and is raised anew
// by a different one.
func TestResolvedFlagNotRaisedForTheSameAnswer(t *testing.T) {
	reported := func(raw, cur string) *order.ReportedAmount {
		a := &order.ReportedAmount{Raw: raw, Currency: cur}
		if minor, err := money.ParseLenient(raw, money.Currency(cur)); err == nil {
			a.Amount, a.Readable = money.Amount{Minor: minor, Currency: money.Currency(cur)}, true
		}
		return a
	}
	one := reported("1.00", "USD")
	key := order.AnswerKey("SUCCESS", one)
	s := order.Snapshot{Status: order.StatusPending, Amount: usd1699, PrepayID: "P1",
		Resolved: []order.ResolvedFlag{{Flag: order.FlagAmountMismatch, Answer: key}}}
	tests := []struct {
		name   string
		status string
		amount *order.ReportedAmount
		raised bool
	}{
		{"the same answer", "SUCCESS", one, false},
		{"the same amount written otherwise", "SUCCESS", reported("1.0", "USD"), false},
		{"another amount", "SUCCESS", reported("2.00", "USD"), true},
		{"another currency", "SUCCESS", reported("1", "KHR"), true},
		{"another status", "PAYING", one, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := order.Apply(s, order.Observation{Kind: order.ObservedPaid, Source: order.SourceReconciler, MOSStatus: tt.status, Amount: tt.amount})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(c.Raise) == 1 && c.Raise[0].Flag == order.FlagAmountMismatch; got != tt.raised || c.Moves() {
				t.Fatalf("change %+v: raised %v, want %v, and no move", c, got, tt.raised)
			}
		})
	}
}
