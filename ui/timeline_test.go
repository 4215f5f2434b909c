package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/order"
)

// The order's timeline from its story's parts; the story page itself is tested through HTTP in
// story_test.go.

// TestTimeline: the story's parts merge into one sequence, oldest first (within an instant:
// notification, query, transition, flag, event); identical consecutive queries collapse into
// one counted entry, a different one in between breaks the run; a resolution appears once.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	resolved := at(50)
	q := func(s int, status string) order.QueryRecord {
		return order.QueryRecord{At: at(s), Source: order.SourceReconciler, MOSStatus: status, TotalAmount: "1.00", Currency: "USD"}
	}
	st := &order.Story{
		Order: &order.Order{OutTradeNo: "o1", Amount: money.Amount{Minor: 100, Currency: money.USD}},
		Transitions: []order.Transition{
			{From: "", To: order.StatusCreated, Source: order.SourceAPI, At: at(0)},
			{From: order.StatusCreated, To: order.StatusPending, Source: order.SourceAPI, At: at(0)},
			{From: order.StatusPending, To: order.StatusPaid, Source: order.SourceNotify, At: at(10)},
		},
		Notifications: []order.NotificationRecord{{ReceivedAt: at(10), MOSStatus: "SUCCESS", QueriedStatus: "SUCCESS",
			Outcome: order.OutcomeApplied, RawBody: `{"status":"SUCCESS"}`, ContentType: "application/json"}},
		Queries: []order.QueryRecord{
			{At: at(10), Source: order.SourceNotify, MOSStatus: "SUCCESS", TotalAmount: "1.00", Currency: "USD"},
			q(20, "SUCCESS"), q(30, "SUCCESS"), q(31, "SUCCESS"), q(40, "REFUND"), q(41, "SUCCESS"),
		},
		Flags: []order.FlagRecord{{Flag: order.FlagMOSDisagrees, Note: "MOS says REFUND", RaisedAt: at(40),
			ResolvedAt: &resolved, ResolvedBy: "finance", Resolution: "checked"}},
		Actions: []order.AdminAction{
			{Actor: "finance", Action: order.ActionResolve, Detail: "mos_disagrees: checked", At: resolved},
			{Actor: "finance", Action: order.ActionReconcile, At: at(60)},
		},
	}
	tz := time.FixedZone("ICT", 7*3600)
	var got []string
	for _, e := range buildTimeline(st, tz) {
		line := e.Kind + " " + e.Title
		if e.Repeated() {
			line += " x" + string(rune('0'+e.Count)) + " last " + e.LastAt
		}
		got = append(got, line)
	}
	want := []string{
		"status Created as CREATED (api)",
		"status CREATED → PENDING (api)",
		"notification Notification from MOS: SUCCESS",
		"query orderQuery (notify): SUCCESS 1.00 USD",
		"status PENDING → PAID (notify)",
		"query orderQuery (reconciler): SUCCESS 1.00 USD x3 last 2026-11-30 14:00:31 +07:00",
		"query orderQuery (reconciler): REFUND 1.00 USD",
		"flag Flag mos_disagrees raised",
		"query orderQuery (reconciler): SUCCESS 1.00 USD",
		"resolved Flag mos_disagrees resolved by finance",
		"admin finance asked MOS now (reconcile)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tl := buildTimeline(st, tz); tl[0].At != "2026-11-30 14:00:00 +07:00" || tl[2].Raw != `{"status":"SUCCESS"}` {
		t.Fatalf("first entry at %q, notification body %q", tl[0].At, tl[2].Raw)
	}
}
