package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
)

// The transitions of an order that was created, prepaid and paid through a notification.
var (
	created = apptest.Transition{From: "", To: "CREATED", Source: "api"}
	prepaid = apptest.Transition{From: "CREATED", To: "PENDING", Source: "api"}
	paid    = apptest.Transition{From: "PENDING", To: "PAID", Source: "notify"}
)

// TestCheckout walks a whole checkout over HTTP in both currencies: login, create, the user pays
// in the sandbox, MOS's notification arrives, the order is PAID, and its history says how.
func TestCheckout(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-checkout")
	for _, tc := range []struct {
		amount, currency, want string
	}{
		{"16.99", "USD", "16.99"},
		{"4000", "KHR", "4000"},
		{"7.5", "USD", "7.50"}, // echoed canonical
		{"0.01", "USD", "0.01"},
	} {
		t.Run(tc.currency+"_"+tc.amount, func(t *testing.T) {
			r, err := h.Create(token, apptest.CreateBody{TotalAmount: tc.amount, Currency: tc.currency, Desc: "Coffee ☕"}, "")
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]any
			r.Decode(t, &raw)
			if _, ok := raw["openid"]; ok {
				t.Errorf("a /mp order carries the openid: %s", r.Body)
			}
			var o apptest.Order
			r.Decode(t, &o)
			if r.Status != http.StatusCreated || o.Status != "PENDING" || o.PrepayID == "" || o.AppKey != h.AppKey ||
				o.TotalAmount != tc.want || o.Currency != tc.currency || o.Desc != "Coffee ☕" || o.ExpireTime == 0 ||
				len(o.OutTradeNo) != 32 || o.Flags == nil {
				t.Fatalf("create: HTTP %d %s", r.Status, r.Body)
			}
			sv, ok := h.Sandbox.Order(o.OutTradeNo)
			if !ok || sv.PrepaidAmount != tc.want || sv.PrepayID != o.PrepayID || sv.OpenID != "user-checkout" ||
				sv.NotifyURL != h.URL+"/mos/notify" || sv.ExpireTime != o.ExpireTime {
				t.Fatalf("the sandbox has %+v for %+v", sv, o)
			}

			h.Pay(t, o.OutTradeNo)
			got := h.WaitStatus(t, token, o.OutTradeNo, "PAID")
			if got.TotalAmount != tc.want || got.PrepayID != o.PrepayID || len(got.Flags) != 0 {
				t.Fatalf("paid order %+v", got)
			}
			h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
			h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
			ns := h.Notifications(t, o.OutTradeNo)
			if len(ns) != 1 || ns[0] != (apptest.NotificationRow{MOSStatus: "SUCCESS", QueriedStatus: "SUCCESS", Outcome: "applied"}) {
				t.Fatalf("notifications stored: %+v", ns)
			}
		})
	}
}

// TestNotifyRefusals: notifications that are not MOS's, or not about one of our orders, change
// nothing and are answered in MOS's envelope with the status docs/mos.md gives.
func TestNotifyRefusals(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-refusals")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Tea"}, "")
	// The sandbox says paid, but no notification has been sent: a refused notification must not
	// be the one that makes mospay find out.
	h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})

	signed := h.Notification(t, o.OutTradeNo, nil, h.Secret)
	var fields map[string]string
	if err := json.Unmarshal(signed, &fields); err != nil {
		t.Fatal(err)
	}
	tampered := func() []byte {
		f := map[string]string{}
		for k, v := range fields {
			f[k] = v
		}
		f["totalAmount"] = "0.01" // changed after signing
		b, _ := json.Marshal(f)
		return b
	}()
	unknown := "0" + strings.Repeat("f", 31)

	notifications := h.Count(t, `SELECT COUNT(*) FROM notifications`)
	for _, tc := range []struct {
		name        string
		contentType string
		body        []byte
		status      int
		stored      int // notifications rows it adds
	}{
		{"forged", "application/json", h.Notification(t, o.OutTradeNo, nil, "not-the-secret"), 401, 0},
		{"forged_form", "application/x-www-form-urlencoded", []byte("outTradeNo=" + o.OutTradeNo + "&status=SUCCESS&appKey=" + h.AppKey + "&sign=0123456789abcdef0123456789abcdef"), 401, 0},
		{"unsigned", "application/json", []byte(`{"outTradeNo":"` + o.OutTradeNo + `","status":"SUCCESS","appKey":"` + h.AppKey + `"}`), 401, 0},
		{"tampered", "application/json", tampered, 401, 0},
		{"malformed", "application/json", []byte(`{"outTradeNo": "` + o.OutTradeNo), 400, 0},
		{"not_json", "application/json", []byte("SUCCESS"), 400, 0},
		{"empty", "application/json", nil, 400, 0},
		{"no_out_trade_no", "application/json", h.Notification(t, "", map[string]string{"outTradeNo": ""}, h.Secret), 400, 0},
		{"another_app", "application/json", h.Notification(t, o.OutTradeNo, map[string]string{"appKey": "another-app"}, h.Secret), 401, 0},
		{"too_large", "application/json", []byte(`{"outTradeNo":"` + strings.Repeat("a", 2<<20) + `"}`), 413, 0},
		{"unknown_order", "application/json", h.Notification(t, unknown, map[string]string{"status": "SUCCESS", "totalAmount": "16.99", "currency": "USD"}, h.Secret), 404, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Must(t, "POST", h.URL+"/mos/notify", tc.body, map[string]string{"Content-Type": tc.contentType})
			apptest.WantMOSAnswer(t, r, tc.status)
			if n := h.Count(t, `SELECT COUNT(*) FROM notifications`); n != notifications+tc.stored {
				t.Errorf("notifications stored: %d, want %d", n, notifications+tc.stored)
			}
			notifications += tc.stored
			_, got := h.GetOrder(t, token, o.OutTradeNo)
			if got.Status != "PENDING" || len(got.Flags) != 0 {
				t.Errorf("the order changed: %+v", got)
			}
		})
	}
	h.WantTransitions(t, o.OutTradeNo, created, prepaid)
	if n := h.Count(t, `SELECT COUNT(*) FROM mos_queries`); n != 0 {
		t.Errorf("%d orderQuery calls for refused notifications, want 0", n)
	}
	// /mos/notify answers in MOS's envelope whatever is asked of it.
	for _, method := range []string{"GET", "PUT"} {
		apptest.WantMOSAnswer(t, h.Must(t, method, h.URL+"/mos/notify", nil, nil), 405)
	}
	// The unknown order's notification is kept for finance, verified and marked as such.
	if ns := h.Notifications(t, unknown); len(ns) != 1 || ns[0].Outcome != "unknown_order" || ns[0].MOSStatus != "SUCCESS" {
		t.Fatalf("unknown order's notification: %+v", ns)
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM notifications WHERE out_trade_no = ? AND order_id IS NULL`, unknown); n != 1 {
		t.Fatalf("unknown order's notification has an order id")
	}

	// A forged notification delivered the way MOS delivers (the sandbox, "sign" overridden) is
	// refused every time it is retried, and still changes nothing.
	h.SandboxPost(t, "POST", "/sandbox/orders/"+o.OutTradeNo+"/notify", map[string]any{"fields": map[string]any{"sign": "0123456789abcdef0123456789abcdef"}})
	h.WaitSandbox(t, o.OutTradeNo, "retried", func(v sandbox.OrderView) bool { return v.NotifyAttempts >= 3 })
	if v, _ := h.Sandbox.Order(o.OutTradeNo); v.NotifyAcked != 0 {
		t.Fatalf("a forged notification was acknowledged: %+v", v)
	}
	if _, got := h.GetOrder(t, token, o.OutTradeNo); got.Status != "PENDING" {
		t.Fatalf("forged notification changed the order: %+v", got)
	}

	// The genuine one is applied.
	r := h.Must(t, "POST", h.URL+"/mos/notify", signed, nil)
	apptest.WantMOSAnswer(t, r, 200)
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
}

// TestAmountMismatch: MOS (orderQuery) reports the order paid for another amount. The order is
// not PAID, it is flagged amount_mismatch, and the notification is still acknowledged (MOS must
// stop retrying; finance takes it from there). A notification that only claims another amount
// is recorded as disagreeing, and changes nothing orderQuery does not say.
func TestAmountMismatch(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-mismatch")

	t.Run("mos_reports_another_amount", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Cake"}, "")
		h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"totalAmount": "1.00"})
		h.Pay(t, o.OutTradeNo)
		h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
		_, got := h.GetOrder(t, token, o.OutTradeNo)
		if got.Status != "PENDING" || !got.HasFlag("amount_mismatch") {
			t.Fatalf("order after a mismatched payment: %+v", got)
		}
		h.WantTransitions(t, o.OutTradeNo, created, prepaid)
		if ns := h.Notifications(t, o.OutTradeNo); len(ns) != 1 || ns[0].Outcome != "flagged" {
			t.Fatalf("notifications: %+v", ns)
		}
	})
	// A notification is a trigger: where its own amount or currency differs from what orderQuery
	// answers, the difference is recorded on its row and shown in the story, never a flag; MOS's
	// answer decides (its amount matches the order: PAID).
	for _, tc := range []struct{ name, field, value, want string }{
		{"notification_claims_another_amount", "totalAmount", "400", `amount 400 KHR (orderQuery: 4000 KHR)`},
		{"notification_claims_another_currency", "currency", "USD", `amount 4000.00 USD (orderQuery: 4000 KHR)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Noodles"}, "")
			h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
			r := h.Must(t, "POST", h.URL+"/mos/notify", h.Notification(t, o.OutTradeNo, map[string]string{tc.field: tc.value}, h.Secret), nil)
			apptest.WantMOSAnswer(t, r, 200)
			_, got := h.GetOrder(t, token, o.OutTradeNo)
			if got.Status != "PAID" || len(got.Flags) != 0 {
				t.Fatalf("order after a notification claiming another %s: %+v, want PAID without a flag", tc.field, got)
			}
			var story struct {
				Notifications []struct{ Disagreement string }
			}
			h.Admin(t, "/admin/orders/"+o.OutTradeNo).Decode(t, &story)
			if len(story.Notifications) != 1 || !strings.Contains(story.Notifications[0].Disagreement, tc.want) {
				t.Fatalf("story notifications %+v, want a disagreement %s", story.Notifications, tc.want)
			}
		})
	}
}

// TestNotificationDisagreesWithQuery: the notification is a trigger; what orderQuery says is
// what is applied, and the notification is stored with both statuses.
func TestNotificationDisagreesWithQuery(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-disagree")

	t.Run("says_paid_mos_says_pending", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Soup"}, "")
		h.SandboxPost(t, "POST", "/sandbox/orders/"+o.OutTradeNo+"/notify", map[string]any{"status": "SUCCESS"})
		h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
		if _, got := h.GetOrder(t, token, o.OutTradeNo); got.Status != "PENDING" {
			t.Fatalf("a notification orderQuery contradicts was applied: %+v", got)
		}
		h.WantTransitions(t, o.OutTradeNo, created, prepaid)
		if ns := h.Notifications(t, o.OutTradeNo); len(ns) != 1 || ns[0] != (apptest.NotificationRow{MOSStatus: "SUCCESS", QueriedStatus: "PENDING", Outcome: "no_change"}) {
			t.Fatalf("notifications: %+v", ns)
		}
	})
	t.Run("says_pending_mos_says_paid", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Soup"}, "")
		h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
		h.SandboxPost(t, "POST", "/sandbox/orders/"+o.OutTradeNo+"/notify", map[string]any{"status": "PENDING"})
		h.WaitStatus(t, token, o.OutTradeNo, "PAID")
		h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
		if ns := h.Notifications(t, o.OutTradeNo); len(ns) != 1 || ns[0] != (apptest.NotificationRow{MOSStatus: "PENDING", QueriedStatus: "SUCCESS", Outcome: "applied"}) {
			t.Fatalf("notifications: %+v", ns)
		}
		var reason string
		if err := h.DB.SQL().QueryRow(h.DB.Rebind(`SELECT t.reason FROM transitions t JOIN orders o ON o.id = t.order_id
			WHERE o.out_trade_no = ? AND t.to_status = 'PAID'`), o.OutTradeNo).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(reason, "orderQuery") {
			t.Fatalf("the PAID transition's reason %q does not say orderQuery was applied", reason)
		}
	})
}

// TestOtherUsersOrder: an order is its owner's alone; to anyone else it does not exist.
func TestOtherUsersOrder(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	alice, bob := h.Login(t, "alice"), h.Login(t, "bob")
	o := h.CreateOrder(t, alice, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Alice's"}, "")

	r := h.Must(t, "GET", h.URL+"/mp/orders/"+o.OutTradeNo, nil, apptest.Bearer(bob))
	r.WantError(t, 404, "not_found")
	r = h.Must(t, "POST", h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(bob))
	r.WantError(t, 404, "not_found")
	// The same answer as for an order that does not exist at all.
	r = h.Must(t, "GET", h.URL+"/mp/orders/0"+strings.Repeat("e", 31), nil, apptest.Bearer(bob))
	r.WantError(t, 404, "not_found")

	r = h.Must(t, "GET", h.URL+"/mp/orders", nil, apptest.Bearer(bob))
	var page struct {
		Orders     []apptest.Order `json:"orders"`
		NextCursor *string         `json:"nextCursor"`
	}
	r.Decode(t, &page)
	if r.Status != 200 || page.Orders == nil || len(page.Orders) != 0 || page.NextCursor == nil || *page.NextCursor != "" {
		t.Fatalf("bob's list: HTTP %d %s", r.Status, r.Body)
	}
	r = h.Must(t, "GET", h.URL+"/mp/orders", nil, apptest.Bearer(alice))
	r.Decode(t, &page)
	if len(page.Orders) != 1 || page.Orders[0].OutTradeNo != o.OutTradeNo || page.Orders[0].OpenID != "" {
		t.Fatalf("alice's list: %s", r.Body)
	}
	// Still there for its owner, and still unpaid.
	if r, got := h.GetOrder(t, alice, o.OutTradeNo); r.Status != 200 || got.Status != "PENDING" {
		t.Fatalf("alice's order: HTTP %d %s", r.Status, r.Body)
	}
	r = h.Must(t, "POST", h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(alice))
	if r.Status != 200 {
		t.Fatalf("alice's query: HTTP %d %s", r.Status, r.Body)
	}
}

// TestBadAmounts: each amount a client must not send is refused in the error format, stores
// nothing and never reaches MOS.
func TestBadAmounts(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-bad-amounts")
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"empty", `{"totalAmount":"","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"negative", `{"totalAmount":"-1","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"exponent", `{"totalAmount":"1e2","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"hex", `{"totalAmount":"0x10","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"leading_space", `{"totalAmount":" 1","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"trailing_space", `{"totalAmount":"1 ","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"plus", `{"totalAmount":"+1","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"lone_dot", `{"totalAmount":"1.","currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"json_number", `{"totalAmount":1699,"currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"json_float", `{"totalAmount":16.99,"currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"missing", `{"currency":"USD","desc":"x"}`, 400, "invalid_request"},
		{"zero", `{"totalAmount":"0","currency":"USD","desc":"x"}`, 422, "unprocessable"},
		{"zero_cents", `{"totalAmount":"0.00","currency":"USD","desc":"x"}`, 422, "unprocessable"},
		{"three_decimals", `{"totalAmount":"16.999","currency":"USD","desc":"x"}`, 422, "unprocessable"},
		{"fractional_riel", `{"totalAmount":"4000.5","currency":"KHR","desc":"x"}`, 422, "unprocessable"},
		{"over_max_usd", `{"totalAmount":"10000.01","currency":"USD","desc":"x"}`, 422, "unprocessable"},
		{"over_max_khr", `{"totalAmount":"40000001","currency":"KHR","desc":"x"}`, 422, "unprocessable"},
		{"huge", `{"totalAmount":"99999999999999999999999","currency":"USD","desc":"x"}`, 422, "unprocessable"},
		{"eur", `{"totalAmount":"16.99","currency":"EUR","desc":"x"}`, 400, "invalid_request"},
		{"lower_case_currency", `{"totalAmount":"16.99","currency":"usd","desc":"x"}`, 400, "invalid_request"},
		{"no_currency", `{"totalAmount":"16.99","desc":"x"}`, 400, "invalid_request"},
		{"unknown_field", `{"totalAmount":"16.99","currency":"USD","desc":"x","amount":"1"}`, 400, "invalid_request"},
		{"not_json", `totalAmount=16.99`, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Sandbox.Stats()
			for _, key := range []string{"", "bad-" + tc.name} {
				r, err := h.Create(token, tc.body, key)
				if err != nil {
					t.Fatal(err)
				}
				r.WantError(t, tc.status, tc.code)
			}
			if n := h.Count(t, `SELECT COUNT(*) FROM orders`); n != 0 {
				t.Fatalf("%d orders stored", n)
			}
			if n := h.Count(t, `SELECT COUNT(*) FROM transitions`); n != 0 {
				t.Fatalf("%d transitions stored", n)
			}
			after := h.Sandbox.Stats()
			if after.Calls["prepay"] != before.Calls["prepay"] || after.PrepayCalls != before.PrepayCalls {
				t.Fatalf("MOS was called: prepay calls %d -> %d", before.Calls["prepay"], after.Calls["prepay"])
			}
		})
	}
	if st := h.Sandbox.Stats(); st.Calls["prepay"] != 0 || st.Calls["orderQuery"] != 0 {
		t.Fatalf("MOS calls after bad amounts only: %v", st.Calls)
	}
	// A good amount afterwards goes through: the refusals were about the amounts.
	h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "10000.00", Currency: "USD", Desc: "the most"}, "")
}

// TestIdempotency: one Idempotency-Key, one order; another body under it is a conflict; a
// create whose prepay timed out is resumed by its retry.
func TestIdempotency(t *testing.T) {
	h := apptest.Start(t, apptest.Options{MOSTimeout: 1500 * time.Millisecond}) // the timeout case waits it out
	token := h.Login(t, "user-idem")

	t.Run("same_key_same_body", func(t *testing.T) {
		body := apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Lunch"}
		first := h.CreateOrder(t, token, body, "lunch-1")
		r, err := h.Create(token, body, "lunch-1")
		if err != nil {
			t.Fatal(err)
		}
		var again apptest.Order
		r.Decode(t, &again)
		if r.Status != 200 || again.OutTradeNo != first.OutTradeNo || again.PrepayID != first.PrepayID || again.Status != "PENDING" {
			t.Fatalf("repeat: HTTP %d %s, want 200 with %s", r.Status, r.Body, first.OutTradeNo)
		}
		r, _ = h.Create(token, apptest.CreateBody{TotalAmount: "16.98", Currency: "USD", Desc: "Lunch"}, "lunch-1")
		r.WantError(t, 409, "conflict")
		r, _ = h.Create(token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Dinner"}, "lunch-1")
		r.WantError(t, 409, "conflict")
		if n := h.Count(t, `SELECT COUNT(*) FROM orders WHERE idempotency_key = ?`, "lunch-1"); n != 1 {
			t.Fatalf("%d orders under one key", n)
		}
		if v, _ := h.Sandbox.Order(first.OutTradeNo); v.PrepayCalls != 1 {
			t.Fatalf("prepay calls %d, want 1", v.PrepayCalls)
		}
		// Another user may use the same key for an order of their own.
		other := h.Login(t, "user-idem-2")
		o2 := h.CreateOrder(t, other, body, "lunch-1")
		if o2.OutTradeNo == first.OutTradeNo {
			t.Fatal("two users' keys collided")
		}
	})

	t.Run("prepay_timed_out", func(t *testing.T) {
		h.SandboxPost(t, "PUT", "/sandbox/faults", map[string]any{"timeoutRate": map[string]float64{"prepay": 1}})
		before := h.Sandbox.Stats()
		body := apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Retry me"}
		r, err := h.Create(token, body, "retry-1")
		if err != nil {
			t.Fatal(err)
		}
		r.WantError(t, 503, "provider_unavailable")
		var outTradeNo, status, prepayID string
		if err := h.DB.SQL().QueryRow(h.DB.Rebind(`SELECT out_trade_no, status, prepay_id FROM orders WHERE idempotency_key = ?`), "retry-1").
			Scan(&outTradeNo, &status, &prepayID); err != nil {
			t.Fatalf("the order was not kept: %v", err)
		}
		if status != "CREATED" || prepayID != "" {
			t.Fatalf("after a prepay timeout the order is %s with prepayId %q, want CREATED without", status, prepayID)
		}
		if _, got := h.GetOrder(t, token, outTradeNo); got.Status != "CREATED" {
			t.Fatalf("GET after the timeout: %+v", got)
		}

		h.SandboxPost(t, "DELETE", "/sandbox/faults", nil)
		r, err = h.Create(token, body, "retry-1")
		if err != nil {
			t.Fatal(err)
		}
		var o apptest.Order
		r.Decode(t, &o)
		if r.Status != 200 || o.OutTradeNo != outTradeNo || o.Status != "PENDING" || o.PrepayID == "" {
			t.Fatalf("retry: HTTP %d %s, want 200 PENDING %s with a prepayId", r.Status, r.Body, outTradeNo)
		}
		after := h.Sandbox.Stats()
		// Two calls reached the sandbox: the one that hung (before the sandbox looked at it) and
		// the retry, which created the sandbox's order.
		if d := after.Calls["prepay"] - before.Calls["prepay"]; d != 2 {
			t.Fatalf("prepay calls at the sandbox: %d, want 2", d)
		}
		if v, _ := h.Sandbox.Order(outTradeNo); v.PrepayCalls != 1 || v.PrepayID != o.PrepayID {
			t.Fatalf("sandbox order %+v, want one accepted prepay with %s", v, o.PrepayID)
		}
		h.WantTransitions(t, outTradeNo, created, prepaid)
		// And it pays like any other.
		h.Pay(t, outTradeNo)
		h.WaitStatus(t, token, outTradeNo, "PAID")
	})
}

// TestNotificationForm: docs/mos.md has MOS possibly posting its notification as a form; a
// signed form is as good as signed JSON.
func TestNotificationForm(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-form")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Form"}, "")
	h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"status": "SUCCESS"})
	var fields map[string]string
	if err := json.Unmarshal(h.Notification(t, o.OutTradeNo, nil, h.Secret), &fields); err != nil {
		t.Fatal(err)
	}
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	r := h.Must(t, "POST", h.URL+"/mos/notify", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	apptest.WantMOSAnswer(t, r, 200)
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
}

// TestMOSUnavailable: when orderQuery fails, a notification is answered 503 so that MOS
// delivers it again (within 5 s of the failed query, without asking MOS again), and the front
// end's query is 503 provider_unavailable; once MOS answers, the redelivered notification pays
// the order.
func TestMOSUnavailable(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-mos-down")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Down"}, "")
	h.SandboxPost(t, "PUT", "/sandbox/faults", map[string]any{"errorRate": map[string]float64{"orderQuery": 1}})

	h.Must(t, "POST", h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(token)).WantError(t, 503, "provider_unavailable")
	h.Pay(t, o.OutTradeNo)
	h.WaitSandbox(t, o.OutTradeNo, "redelivered", func(v sandbox.OrderView) bool { return v.NotifyAttempts >= 3 })
	if v, _ := h.Sandbox.Order(o.OutTradeNo); v.NotifyAcked != 0 {
		t.Fatalf("a notification that could not be confirmed was acknowledged: %+v", v)
	}
	if _, got := h.GetOrder(t, token, o.OutTradeNo); got.Status != "PENDING" {
		t.Fatalf("order changed without MOS's confirmation: %+v", got)
	}
	// One notification (its deliveries are one signed content), counted again at each delivery;
	// the user's query and the first delivery's failed, and further deliveries within 5 s of that
	// one ask MOS no more. (A delivery in flight marks it checking.)
	ns := h.Notifications(t, o.OutTradeNo)
	if len(ns) != 1 || (ns[0].Outcome != "mos_unavailable" && ns[0].Outcome != "checking") || ns[0].MOSStatus != "SUCCESS" {
		t.Fatalf("notifications while MOS was down: %+v", ns)
	}
	if n := h.Count(t, `SELECT COALESCE(SUM(repeats), 0) FROM notifications WHERE out_trade_no = ?`, o.OutTradeNo); n < 2 {
		t.Fatalf("%d deliveries again counted, want at least 2", n)
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM mos_queries WHERE error <> ''`); n < 2 {
		t.Fatalf("%d failed queries recorded, want at least 2", n)
	}

	h.SandboxPost(t, "DELETE", "/sandbox/faults", nil)
	h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
	h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid)
}

// TestLatePaymentAndRefund: a payment MOS reports after the order FAILED is recorded (PAID,
// flagged late_payment), never lost; a refund moves a PAID order to REFUNDED.
func TestLatePaymentAndRefund(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-late")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Late"}, "")
	h.SandboxPost(t, "POST", "/sandbox/orders/"+o.OutTradeNo+"/fail", nil)
	h.WaitStatus(t, token, o.OutTradeNo, "FAILED")
	h.Pay(t, o.OutTradeNo)
	got := h.WaitStatus(t, token, o.OutTradeNo, "PAID")
	if !got.HasFlag("late_payment") {
		t.Fatalf("late payment not flagged: %+v", got)
	}
	h.SandboxPost(t, "POST", "/sandbox/orders/"+o.OutTradeNo+"/refund", nil)
	h.WaitStatus(t, token, o.OutTradeNo, "REFUNDED")
	h.WantTransitions(t, o.OutTradeNo, created, prepaid,
		apptest.Transition{From: "PENDING", To: "FAILED", Source: "notify"}, apptest.Transition{From: "FAILED", To: "PAID", Source: "notify"}, apptest.Transition{From: "PAID", To: "REFUNDED", Source: "notify"})
}
