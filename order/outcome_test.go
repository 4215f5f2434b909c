package order_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// answer is an answer of MOS for the outcome tests: a kind, its raw status, and an amount.
func answer(kind order.ObservationKind, raw, amount string) *order.Remote {
	r := &order.Remote{Kind: kind, RawStatus: raw}
	if amount != "" {
		minor, err := money.ParseLenient(amount, money.USD)
		if err != nil {
			r.Amount = &order.ReportedAmount{Raw: amount, Currency: "USD"}
		} else {
			r.Amount = order.Reported(money.Amount{Minor: minor, Currency: money.USD})
		}
	}
	return r
}

var (
	order1699    = money.Amount{Minor: 1699, Currency: money.USD}
	mosPaid169   = answer(order.ObservedPaid, "SUCCESS", "1.69")
	mosPaid1699  = answer(order.ObservedPaid, "SUCCESS", "16.99")
	mosRefunded  = answer(order.ObservedRefunded, "REFUNDED", "16.99")
	mosPending   = answer(order.ObservedPending, "PENDING", "1.69")
	mosClosed    = answer(order.ObservedClosed, "CLOSED", "16.99")
	mosUnknown   = answer(order.ObservedUnknown, "WEIRD", "16.99")
	mosUnreadble = answer(order.ObservedPaid, "SUCCESS", "one dollar")
)

// TestOutcomesPerFlag is which outcomes each flag allows, by the order's status and MOS's last
// answer (the default, watch, always first).
func TestOutcomesPerFlag(t *testing.T) {
	w, a, c := order.OutcomeWatch, order.OutcomeAcceptMOS, order.OutcomeClose
	tests := []struct {
		name   string
		status order.Status
		flag   order.Flag
		mos    *order.Remote
		want   []order.Outcome
	}{
		{"mismatch, MOS paid another amount", order.StatusPending, order.FlagAmountMismatch, mosPaid169, []order.Outcome{w, a}},
		{"mismatch, MOS pending another amount", order.StatusPending, order.FlagAmountMismatch, mosPending, []order.Outcome{w, a, c}},
		{"mismatch, MOS refunded", order.StatusPending, order.FlagAmountMismatch, mosRefunded, []order.Outcome{w, a}},
		{"mismatch, unreadable amount", order.StatusPending, order.FlagAmountMismatch, mosUnreadble, []order.Outcome{w}},
		{"mismatch, MOS never answered", order.StatusPending, order.FlagAmountMismatch, nil, []order.Outcome{w, c}},
		{"unknown status", order.StatusPending, order.FlagUnknownStatus, mosUnknown, []order.Outcome{w, c}},
		{"unknown status on a closed order", order.StatusClosed, order.FlagUnknownStatus, mosUnknown, []order.Outcome{w}},
		{"MOS says closed, order paid", order.StatusPaid, order.FlagMOSDisagrees, mosClosed, []order.Outcome{w, a, c}},
		{"MOS says paid, order refunded", order.StatusRefunded, order.FlagMOSDisagrees, mosPaid1699, []order.Outcome{w, a}},
		{"late payment", order.StatusPaid, order.FlagLatePayment, mosPaid1699, []order.Outcome{w}},
		{"refund of an unseen payment", order.StatusRefunded, order.FlagRefundUnpaid, mosRefunded, []order.Outcome{w}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := order.Snapshot{Status: tt.status, Amount: order1699, Flags: []order.Flag{tt.flag}}
			if got := order.Outcomes(s, tt.flag, tt.mos); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Outcomes = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestResolveOutcome is what each outcome does to the order, and what it refuses.
func TestResolveOutcome(t *testing.T) {
	settled := money.Amount{Minor: 169, Currency: money.USD}
	tests := []struct {
		name    string
		status  order.Status
		flag    order.Flag
		outcome order.Outcome
		mos     *order.Remote
		to      order.Status
		settle  *money.Amount
		reason  string // a part of the transition's reason
		errCode string
	}{
		{"default is watch", order.StatusPending, order.FlagAmountMismatch, "", mosPaid169, order.StatusPending, nil, "keep watching", ""},
		{"accept a paid mismatch", order.StatusPending, order.FlagAmountMismatch, order.OutcomeAcceptMOS, mosPaid169, order.StatusPaid, &settled, "SUCCESS 1.69 USD", ""},
		{"accept a pending mismatch records the amount", order.StatusPending, order.FlagAmountMismatch, order.OutcomeAcceptMOS, mosPending, order.StatusPending, &settled, "accepted", ""},
		{"close a mismatch MOS reports pending", order.StatusPending, order.FlagAmountMismatch, order.OutcomeClose, mosPending, order.StatusClosed, nil, "closed as not paid by fin: checked", ""},
		{"close refused while MOS says paid", order.StatusPending, order.FlagAmountMismatch, order.OutcomeClose, mosPaid169, "", nil, "", order.ECONFLICT},
		{"close refused while MOS says refunded", order.StatusPending, order.FlagAmountMismatch, order.OutcomeClose, mosRefunded, "", nil, "", order.ECONFLICT},
		{"close without an answer", order.StatusPending, order.FlagUnknownStatus, order.OutcomeClose, nil, order.StatusClosed, nil, "closed", ""},
		{"accept an unknown status refused", order.StatusPending, order.FlagUnknownStatus, order.OutcomeAcceptMOS, mosUnknown, "", nil, "", order.ECONFLICT},
		{"accept MOS's closed over paid", order.StatusPaid, order.FlagMOSDisagrees, order.OutcomeAcceptMOS, mosClosed, order.StatusClosed, nil, "accepted", ""},
		{"late payment: accept refused", order.StatusPaid, order.FlagLatePayment, order.OutcomeAcceptMOS, mosPaid1699, "", nil, "", order.ECONFLICT},
		{"flag not active", order.StatusPending, order.FlagMOSDisagrees, order.OutcomeWatch, mosPaid169, "", nil, "", order.ECONFLICT},
		{"unknown outcome", order.StatusPending, order.FlagAmountMismatch, "refund", mosPaid169, "", nil, "", order.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := order.Snapshot{Status: tt.status, Amount: order1699, Flags: []order.Flag{order.FlagAmountMismatch, order.FlagUnknownStatus}}
			if tt.flag == order.FlagLatePayment {
				s.Flags = []order.Flag{order.FlagLatePayment}
			}
			if tt.name == "accept MOS's closed over paid" {
				s.Flags = []order.Flag{order.FlagMOSDisagrees}
			}
			ch, err := order.Resolve(s, order.FlagResolve{Flag: tt.flag, Note: "checked", By: "fin", Outcome: tt.outcome}, tt.mos)
			if tt.errCode != "" {
				if order.ErrorCode(err) != tt.errCode {
					t.Fatalf("err = %v, want %s", err, tt.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.From != tt.status || ch.To != tt.to {
				t.Errorf("%s → %s, want %s → %s", ch.From, ch.To, tt.status, tt.to)
			}
			if !reflect.DeepEqual(ch.Settle, tt.settle) {
				t.Errorf("Settle = %v, want %v", ch.Settle, tt.settle)
			}
			if ch.Resolve == nil || ch.Resolve.Flag != tt.flag || ch.Resolve.Outcome == "" {
				t.Errorf("Resolve = %+v", ch.Resolve)
			}
			if !strings.Contains(ch.Reason, tt.reason) || !strings.Contains(ch.Reason, "checked") {
				t.Errorf("reason %q lacks %q and the note", ch.Reason, tt.reason)
			}
		})
	}
}

// TestSettledAmountJudgesLaterAnswers: once finance accepted MOS's amount, MOS repeating it is no
// mismatch, and its refund of it goes through.
func TestSettledAmountJudgesLaterAnswers(t *testing.T) {
	settled := money.Amount{Minor: 169, Currency: money.USD}
	s := order.Snapshot{Status: order.StatusPaid, Amount: order1699, Settled: &settled}
	paid := order.Observation{Kind: order.ObservedPaid, Source: order.SourceReconciler, MOSStatus: "SUCCESS", Amount: order.Reported(settled)}
	if ch, err := order.Apply(s, paid); err != nil || !ch.Empty() && len(ch.Raise) > 0 {
		t.Errorf("MOS repeating the settled amount: %+v, %v", ch, err)
	}
	refund := paid
	refund.Kind, refund.MOSStatus = order.ObservedRefunded, "REFUNDED"
	if ch, err := order.Apply(s, refund); err != nil || ch.To != order.StatusRefunded || len(ch.Raise) > 0 {
		t.Errorf("refund of the settled amount: %+v, %v", ch, err)
	}
	other := paid
	other.Amount = order.Reported(order1699)
	if ch, err := order.Apply(s, other); err != nil || len(ch.Raise) != 1 || ch.Raise[0].Flag != order.FlagAmountMismatch {
		t.Errorf("MOS now reporting the order's own amount is a new mismatch: %+v, %v", ch, err)
	}
}

// TestCloseStuck: only a CREATED or PENDING order past its expiry, that MOS does not report paid
// and that has no active flag, is closed by finance.
func TestCloseStuck(t *testing.T) {
	expiry := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  order.Status
		flags   []order.Flag
		now     time.Time
		mos     *order.Remote
		errCode string
	}{
		{"pending past expiry, MOS pending", order.StatusPending, nil, expiry.Add(time.Hour), mosPending, ""},
		{"created past expiry, MOS never answered", order.StatusCreated, nil, expiry.Add(time.Hour), nil, ""},
		{"at expiry", order.StatusPending, nil, expiry, mosPending, ""},
		{"before expiry", order.StatusPending, nil, expiry.Add(-time.Second), mosPending, order.ECONFLICT},
		{"MOS says paid", order.StatusPending, nil, expiry.Add(time.Hour), mosPaid1699, order.ECONFLICT},
		{"MOS says refunded", order.StatusPending, nil, expiry.Add(time.Hour), mosRefunded, order.ECONFLICT},
		{"paid order", order.StatusPaid, nil, expiry.Add(time.Hour), mosClosed, order.ECONFLICT},
		{"flagged order", order.StatusPending, []order.Flag{order.FlagAmountMismatch}, expiry.Add(time.Hour), mosPending, order.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := order.Snapshot{Status: tt.status, Amount: order1699, Flags: tt.flags}
			ch, err := order.CloseStuck(s, expiry, tt.now, tt.mos, "customer gave up", "fin")
			if order.ErrorCode(err) != tt.errCode && !(tt.errCode == "" && err == nil) {
				t.Fatalf("err = %v, want %q", err, tt.errCode)
			}
			if tt.errCode == "" && (ch.To != order.StatusClosed || ch.From != tt.status || !strings.Contains(ch.Reason, "customer gave up")) {
				t.Errorf("change = %+v", ch)
			}
		})
	}
}

func TestParseOutcome(t *testing.T) {
	for in, want := range map[string]order.Outcome{"": order.OutcomeWatch, "watch": order.OutcomeWatch,
		"accept_mos": order.OutcomeAcceptMOS, "close": order.OutcomeClose} {
		if got, err := order.ParseOutcome(in); err != nil || got != want {
			t.Errorf("ParseOutcome(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"CLOSE", "refund", " watch"} {
		if _, err := order.ParseOutcome(in); order.ErrorCode(err) != order.EINVALID {
			t.Errorf("ParseOutcome(%q): %v, want EINVALID", in, err)
		}
	}
}
