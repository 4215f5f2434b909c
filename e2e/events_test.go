package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
)

// eventSummary is an event in a list; eventJSON one event with its attempts.
type eventSummary struct {
	ID, Type, OutTradeNo, CreatedAt string
	Deliveries                      []struct {
		Endpoint, Status, LastError string
		Attempts                    int
	}
}

type eventJSON struct {
	ID, Type, OutTradeNo, CreatedAt string
	Deliveries                      []struct {
		Endpoint, Status, LastError string
		Attempts                    []struct {
			StatusCode int
			Error      string
		}
	}
}

// TestOrderEvents: paying an order and a flagged payment reach the merchant's systems as signed
// Standard Webhooks events whose payload the OpenAPI document describes; creating an order is no
// event. Finance sees each event, its deliveries and attempts, replays one (the same webhook-id
// again, in the audit trail), and sees each endpoint's queue.
func TestOrderEvents(t *testing.T) {
	var failFirst atomic.Bool
	failFirst.Store(true)
	rc := apptest.NewEventReceiver(t, func(e apptest.ReceivedEvent, seen int) int {
		if seen == 0 && failFirst.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	other := apptest.NewEventReceiver(t, nil)
	h := apptest.Start(t, apptest.Options{Config: apptest.WithEvents(nil, rc, other)})
	token := h.Login(t, "user-events")

	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Events"}, "")
	h.Pay(t, o.OutTradeNo)
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	got := rc.WaitFor(t, "order.paid, retried once", func(es []apptest.ReceivedEvent) bool {
		return len(es) == 2 && es[1].Answered == http.StatusNoContent
	})
	for _, e := range got {
		if e.Verified != nil || e.Type != "order.paid" || e.Order != o.OutTradeNo || e.Status != "PAID" || e.ID != got[0].ID ||
			!strings.HasPrefix(e.ID, "evt_") {
			t.Fatalf("received %+v (signature: %v)", e, e.Verified)
		}
		apptest.CheckSchema(t, "EventPayload", e.Body)
	}
	if string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("a retry sent another body:\n%s\n%s", got[0].Body, got[1].Body)
	}
	other.WaitFor(t, "order.paid once", func(es []apptest.ReceivedEvent) bool { return len(es) == 1 && es[0].ID == got[0].ID })

	// A payment of another amount flags the order: order.flagged, with the flag and its note.
	failFirst.Store(false)
	m := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "5.00", Currency: "USD", Desc: "Mismatch"}, "")
	h.SandboxPost(t, "PATCH", "/sandbox/orders/"+m.OutTradeNo, map[string]any{"totalAmount": "1.00"})
	h.Pay(t, m.OutTradeNo)
	flagged := rc.WaitFor(t, "order.flagged", func(es []apptest.ReceivedEvent) bool {
		return len(es) == 3 && es[2].Type == "order.flagged"
	})[2]
	apptest.CheckSchema(t, "EventPayload", flagged.Body)
	if !strings.Contains(string(flagged.Body), `"flag":{"flag":"amount_mismatch","note":"`) || flagged.Order != m.OutTradeNo ||
		!strings.Contains(string(flagged.Body), `"apiVersion":"1"`) {
		t.Fatalf("flagged event: %s", flagged.Body)
	}

	// Finance's view: the list, one event with its attempts, the story, the endpoints.
	var page struct {
		Events     []eventSummary
		NextCursor string
	}
	h.Admin(t, "/admin/events").Decode(t, &page)
	if len(page.Events) != 2 || page.Events[0].Type != "order.flagged" || page.Events[1].ID != got[0].ID {
		t.Fatalf("events: %+v", page.Events)
	}
	h.Admin(t, "/admin/events?type=order.paid&outTradeNo="+o.OutTradeNo).Decode(t, &page)
	if len(page.Events) != 1 {
		t.Fatalf("filtered events: %+v", page.Events)
	}
	h.Admin(t, "/admin/events?status=failed").Decode(t, &page)
	if len(page.Events) != 0 {
		t.Fatalf("failed events: %+v", page.Events)
	}
	h.Admin(t, "/admin/events?type=order.created").WantError(t, 400, "invalid_request")
	h.Admin(t, "/admin/events/evt_nope").WantError(t, 404, "not_found")

	// Attempts are recorded once their answers are in: wait for both deliveries' records.
	var ev eventJSON
	if !apptest.Within(apptest.WaitFor, func() bool {
		h.Admin(t, "/admin/events/"+got[0].ID).Decode(t, &ev)
		return len(ev.Deliveries) == 2 && ev.Deliveries[0].Status == "delivered" && ev.Deliveries[1].Status == "delivered"
	}) {
		t.Fatalf("deliveries: %+v", ev.Deliveries)
	}
	for _, d := range ev.Deliveries {
		switch d.Endpoint {
		case rc.URL:
			if d.Status != "delivered" || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 503 ||
				d.Attempts[1].StatusCode != 204 {
				t.Fatalf("delivery to the first endpoint: %+v", d)
			}
		case other.URL:
			if d.Status != "delivered" || len(d.Attempts) != 1 {
				t.Fatalf("delivery to the second endpoint: %+v", d)
			}
		default:
			t.Fatalf("a delivery to %s", d.Endpoint)
		}
	}
	var story struct{ Events []eventSummary }
	h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
	if len(story.Events) != 1 || story.Events[0].ID != got[0].ID || story.Events[0].Deliveries[0].Attempts+story.Events[0].Deliveries[1].Attempts != 3 {
		t.Fatalf("story events: %+v", story.Events)
	}

	// A replay sends the same event again, with the same id, and is audited.
	r := h.Must(t, http.MethodPost, h.URL+"/admin/events/"+got[0].ID+"/redeliver", nil, apptest.Bearer(apptest.FinanceToken))
	if r.Status != http.StatusAccepted {
		t.Fatalf("redeliver: %d %s", r.Status, r.Body)
	}
	rc.WaitFor(t, "the replay", func(es []apptest.ReceivedEvent) bool { return len(es) == 4 && es[3].ID == got[0].ID })
	var audit struct {
		Actions []struct{ Action, Actor, Detail string }
	}
	h.Admin(t, "/admin/audit").Decode(t, &audit)
	if len(audit.Actions) != 1 || audit.Actions[0].Action != "redeliver" || !strings.Contains(audit.Actions[0].Detail, got[0].ID) {
		t.Fatalf("audit: %+v", audit.Actions)
	}
	r = h.Must(t, http.MethodPost, h.URL+"/admin/events/redeliver?since=2020-01-01&status=failed", nil, apptest.Bearer(apptest.FinanceToken))
	if r.Status != http.StatusAccepted || !strings.Contains(string(r.Body), `"redelivered":0`) {
		t.Fatalf("redeliver failed ones: %d %s", r.Status, r.Body)
	}
	for _, q := range []string{"", "?since=yesterday", "?since=2020-01-01&status=delivered"} {
		h.Must(t, http.MethodPost, h.URL+"/admin/events/redeliver"+q, nil, apptest.Bearer(apptest.FinanceToken)).
			WantError(t, 400, "invalid_request")
	}

	var eps struct {
		Endpoints []struct {
			URL                string
			Configured         bool
			Pending, Delivered int
			LastAttempt        *struct{ StatusCode int }
			OldestPendingAt    *string
		}
	}
	if !apptest.Within(apptest.WaitFor, func() bool {
		h.Admin(t, "/admin/webhooks").Decode(t, &eps)
		return len(eps.Endpoints) == 2 && eps.Endpoints[0].Pending == 0 && eps.Endpoints[1].Pending == 0
	}) {
		t.Fatalf("endpoints: %+v", eps.Endpoints)
	}
	if e := eps.Endpoints[0]; e.URL != rc.URL || !e.Configured || e.Delivered != 2 || e.LastAttempt == nil || e.OldestPendingAt != nil {
		t.Fatalf("first endpoint: %+v", e)
	}
	metrics := h.Must(t, http.MethodGet, h.URL+"/metrics", nil, nil)
	for _, name := range []string{`mospay_webhook_attempts_total{outcome="retry"} 1`, "mospay_webhook_pending_deliveries", "mospay_webhook_oldest_pending_age_seconds"} {
		if !strings.Contains(string(metrics.Body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestOrderEventSurvivesSIGKILL: mospay killed while an event's delivery is in flight delivers it
// after it restarts, with the same webhook-id.
func TestOrderEventSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := apptest.BuildBinary(t, dir)
	hang := make(chan struct{})
	var hung atomic.Bool
	rc := apptest.NewEventReceiver(t, func(e apptest.ReceivedEvent, seen int) int {
		if seen == 0 && hung.CompareAndSwap(false, true) {
			<-hang // mospay dies while this attempt is open
			return 0
		}
		return http.StatusOK
	})
	defer close(hang)
	sbAddr, apiAddr := apptest.FreeAddr(t), apptest.FreeAddr(t)
	env := apptest.ChildEnv(dir,
		"MOSPAY_DATABASE_URL=sqlite:"+filepath.Join(dir, "mospay.db"),
		"MOSPAY_HTTP_ADDR="+apiAddr, "MOSPAY_SANDBOX_ADDR="+sbAddr,
		"MOSPAY_WEBHOOK_URLS="+rc.URL, "MOSPAY_WEBHOOK_SECRET="+apptest.EventSecret,
		"MOSPAY_ADMIN_TOKENS=finance:"+apptest.FinanceToken, "MOSPAY_LOG_LEVEL=warn")
	serve := func(name string) *apptest.Process {
		p := apptest.StartProcess(t, name, bin, dir, env, "serve", "--sandbox")
		if err := p.WaitReady("http://"+apiAddr+"/readyz", time.Minute); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := serve("serve-1")
	c := apptest.NewClient(t, "http://"+apiAddr)
	// A checkout through the sandbox: a login code, login, create, pay.
	sb := apptest.NewClient(t, "")
	code := sb.Must(t, http.MethodPost, "http://"+sbAddr+"/sandbox/login-codes", map[string]string{"openid": "user-kill"}, nil)
	var cv struct{ Code string }
	code.Decode(t, &cv)
	var login struct{ Token string }
	c.Must(t, http.MethodPost, "http://"+apiAddr+"/mp/login/miniAppLogin", map[string]string{"code": cv.Code}, nil).Decode(t, &login)
	var o struct{ OutTradeNo string }
	r := c.Must(t, http.MethodPost, "http://"+apiAddr+"/mp/orders", map[string]string{"totalAmount": "3.00", "currency": "USD", "desc": "kill"},
		apptest.Bearer(login.Token))
	r.Decode(t, &o)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	sb.Must(t, http.MethodPost, "http://"+sbAddr+"/sandbox/orders/"+o.OutTradeNo+"/pay", nil, nil)
	rc.WaitFor(t, "the first attempt", func(es []apptest.ReceivedEvent) bool { return len(es) == 1 })
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	serve("serve-2")
	got := rc.WaitFor(t, "the event after the restart", func(es []apptest.ReceivedEvent) bool {
		return len(es) == 2 && es[1].Answered == http.StatusOK
	})
	if got[0].ID != got[1].ID || got[1].Type != "order.paid" || got[1].Order != o.OutTradeNo || got[1].Verified != nil {
		t.Fatalf("received %+v", got)
	}
	// The attempt is recorded once its answer is in: wait for the record.
	var ev eventJSON
	if !apptest.Within(apptest.WaitFor, func() bool {
		c.Must(t, http.MethodGet, "http://"+apiAddr+"/admin/events/"+got[1].ID, nil, apptest.Bearer(apptest.FinanceToken)).Decode(t, &ev)
		return len(ev.Deliveries) == 1 && ev.Deliveries[0].Status == "delivered"
	}) {
		t.Fatalf("event after the restart: %+v", ev)
	}
}
