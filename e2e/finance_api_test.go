package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
)

// TestResolveFlag: finance resolves a flag with a note. The order leaves the review queue, the
// resolution is in the story, the audit trail and an order.flag_resolved event; MOS giving the
// same answer again does not raise the flag again; a different answer does.
func TestResolveFlag(t *testing.T) {
	rc := apptest.NewEventReceiver(t, nil)
	h := apptest.Start(t, apptest.Options{Config: apptest.WithEvents(nil, rc)})
	token := h.Login(t, "user-resolve")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Resolve"}, "")
	h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"totalAmount": "1.00"})
	h.Pay(t, o.OutTradeNo)
	h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })

	type reviewOrder struct {
		apptest.Order
		ActiveFlags []struct{ Flag, Note, RaisedAt string }
		MOS         *struct{ Status, TotalAmount, Currency string }
	}
	var review struct {
		Orders     []reviewOrder
		NextCursor string
	}
	h.Admin(t, "/admin/review").Decode(t, &review)
	if len(review.Orders) != 1 || review.Orders[0].OutTradeNo != o.OutTradeNo || len(review.Orders[0].ActiveFlags) != 1 ||
		review.Orders[0].MOS == nil || review.Orders[0].MOS.TotalAmount != "1.00" || review.Orders[0].MOS.Status != "SUCCESS" {
		t.Fatalf("review queue: %+v", review.Orders)
	}

	resolve := func(flag, note string) apptest.Response {
		t.Helper()
		return h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+o.OutTradeNo+"/flags/"+flag+"/resolve",
			map[string]string{"note": note}, apptest.Bearer(apptest.FinanceToken))
	}
	resolve("amount_mismatch", "  ").WantError(t, 400, "invalid_request")
	resolve("amount_mismatch", strings.Repeat("é", 501)).WantError(t, 400, "invalid_request")
	resolve("no_such_flag", "x").WantError(t, 400, "invalid_request")
	resolve("late_payment", "x").WantError(t, 409, "conflict")
	h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+o.OutTradeNo+"/flags/amount_mismatch/resolve",
		map[string]string{"note": "x"}, apptest.Bearer(token)).WantError(t, 401, "unauthorized")
	if h.Admin(t, "/admin/audit").Body == nil {
		t.Fatal("no audit answer")
	}
	r := resolve("amount_mismatch", "MOS confirmed the customer paid 1.00 by mistake; refunded by hand")
	var got apptest.Order
	r.Decode(t, &got)
	if r.Status != 200 || len(got.Flags) != 0 || got.Status != "PENDING" {
		t.Fatalf("resolve: HTTP %d %s", r.Status, r.Body)
	}
	resolve("amount_mismatch", "again").WantError(t, 409, "conflict")

	h.Admin(t, "/admin/review").Decode(t, &review)
	if len(review.Orders) != 0 {
		t.Fatalf("the resolved order is still in the queue: %+v", review.Orders)
	}
	var story struct {
		Flags []struct{ Flag, ResolvedAt, ResolvedBy, Resolution string }
	}
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
	if len(story.Flags) != 1 || story.Flags[0].ResolvedBy != "finance" || !strings.HasPrefix(story.Flags[0].Resolution, "MOS confirmed") {
		t.Fatalf("story flags: %+v", story.Flags)
	}
	var audit struct {
		Actions []struct{ Action, Actor, OutTradeNo, Detail string }
	}
	h.Admin(t, "/admin/audit").Decode(t, &audit)
	if len(audit.Actions) != 1 || audit.Actions[0].Action != "resolve" || audit.Actions[0].OutTradeNo != o.OutTradeNo ||
		!strings.Contains(audit.Actions[0].Detail, "amount_mismatch") {
		t.Fatalf("audit: %+v", audit.Actions)
	}
	events := rc.WaitFor(t, "order.flagged then order.flag_resolved", func(es []apptest.ReceivedEvent) bool {
		return len(es) == 2 && es[1].Type == "order.flag_resolved"
	})
	if !strings.Contains(string(events[1].Body), `"resolvedBy":"finance"`) {
		t.Fatalf("flag_resolved event: %s", events[1].Body)
	}
	apptest.CheckSchema(t, "EventPayload", events[1].Body)

	// MOS gives the same answer again: the flag stays resolved.
	reconcile := func() apptest.Order {
		t.Helper()
		r := h.Must(t, http.MethodPost, h.URL+"/admin/orders/"+o.OutTradeNo+"/reconcile", nil, apptest.Bearer(apptest.FinanceToken))
		var o apptest.Order
		r.Decode(t, &o)
		if r.Status != 200 {
			t.Fatalf("reconcile: HTTP %d %s", r.Status, r.Body)
		}
		return o
	}
	if o := reconcile(); len(o.Flags) != 0 {
		t.Fatalf("the same answer raised the resolved flag again: %+v", o)
	}
	// A different answer raises it anew.
	h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"totalAmount": "2.00"})
	if o := reconcile(); !o.HasFlag("amount_mismatch") {
		t.Fatalf("a different answer did not raise the flag: %+v", o)
	}
}

// TestReportFollowsTheList: the report takes the list's filters, and its totals equal what the
// list shows, in USD and KHR; money by payment date.
func TestReportFollowsTheList(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	newFixture(t, h)
	type total struct {
		Currency, Status string
		Count            int
		Amount           string
	}
	for _, q := range []string{"", "status=PAID", "currency=KHR", "flag=any", "flag=amount_mismatch", "basis=paid",
		"basis=paid&currency=USD", "status=PENDING&currency=USD", "q=alice", "from=2000-01-01&to=2000-01-02"} {
		var list struct{ Orders []apptest.Order }
		h.Admin(t, "/admin/orders?limit=500&"+q).Decode(t, &list)
		var rep struct {
			Basis  string
			Totals []total
			Money  []struct {
				Currency       string
				Paid, Refunded struct {
					Count  int
					Amount string
				}
				Net string
			}
			AtRisk []struct {
				Currency string
				Count    int
			}
			Review []apptest.Order
		}
		h.Admin(t, "/admin/reports/reconciliation?"+q).Decode(t, &rep)
		counts := map[string]int{}
		for _, o := range list.Orders {
			counts[o.Currency+" "+o.Status]++
		}
		sum := 0
		for _, tl := range rep.Totals {
			if tl.Count != counts[tl.Currency+" "+tl.Status] || tl.Count == 0 {
				t.Errorf("%q: total %+v, the list shows %d", q, tl, counts[tl.Currency+" "+tl.Status])
			}
			sum += tl.Count
		}
		if sum != len(list.Orders) {
			t.Errorf("%q: the totals count %d orders, the list shows %d", q, sum, len(list.Orders))
		}
		if strings.Contains(q, "basis=paid") {
			for _, o := range list.Orders {
				if o.Status != "PAID" && o.Status != "REFUNDED" {
					t.Errorf("%q lists a %s order", q, o.Status)
				}
			}
			if rep.Basis != "paid" {
				t.Errorf("%q: basis %q", q, rep.Basis)
			}
		}
		if q == "" {
			if len(rep.Money) != 2 || rep.Money[0].Currency != "KHR" || rep.Money[0].Paid.Amount != "4000" || rep.Money[0].Net != "4000" ||
				rep.Money[1].Paid.Amount != "16.99" || len(rep.AtRisk) != 1 || rep.AtRisk[0].Count != 1 || len(rep.Review) != 1 {
				t.Errorf("money %+v, at risk %+v, review %d", rep.Money, rep.AtRisk, len(rep.Review))
			}
		}
	}
	h.Admin(t, "/admin/reports/reconciliation?basis=sometime").WantError(t, 400, "invalid_request")
	h.Admin(t, "/admin/orders?flag=every").WantError(t, 400, "invalid_request")
	h.Admin(t, "/admin/orders?q="+strings.Repeat("x", 129)).WantError(t, 400, "invalid_request")
}
