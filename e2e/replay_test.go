package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
	"github.com/mospay/mospay/store/pgtest"
)

// variants are byte variants of one signed notification body that its signature does not see:
// spacing, key order, up to 200 KB of padding on each side of a value (trimmed by the signing
// rule), escapes, empty and null fields, a number for a numeric string.
func variants(t *testing.T, body []byte) [][]byte {
	t.Helper()
	var f map[string]string
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// build writes the fields in order, value(k) giving each one's JSON, sep between members.
	build := func(order []string, sep string, value func(k string) string) []byte {
		var b strings.Builder
		b.WriteString("{")
		for i, k := range order {
			if i > 0 {
				b.WriteString("," + sep)
			}
			fmt.Fprintf(&b, "%q%s:%s%s", k, sep, sep, value(k))
		}
		b.WriteString("}")
		return []byte(b.String())
	}
	plain := func(k string) string { v, _ := json.Marshal(f[k]); return string(v) }
	padded := func(field, pad string) func(string) string {
		return func(k string) string {
			if k != field {
				return plain(k)
			}
			return `"` + pad + f[k] + pad + `"`
		}
	}
	reversed := slices.Clone(keys)
	slices.Reverse(reversed)
	var indented bytes.Buffer
	if err := json.Indent(&indented, body, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return [][]byte{
		// The padded one first: its row keeps the first 2 KiB of it, its size and its hash.
		build(keys, "", padded("outTradeNo", strings.Repeat(" ", 200<<10))),
		body,
		indented.Bytes(),
		build(keys, "", plain),
		build(reversed, "", plain),
		build(keys, "  ", plain),
		build(reversed, " ", padded("status", strings.Repeat(`\n`, 100<<10))),
		build(keys, "", padded("currency", strings.Repeat(`\t `, 66<<10))),
		build(keys, "", func(k string) string {
			if k == "status" {
				return `"\u` + fmt.Sprintf("%04x", f[k][0]) + f[k][1:] + `"`
			}
			return plain(k)
		}),
		build(append(slices.Clone(keys), "extra"), "", func(k string) string {
			if k == "extra" {
				return `""`
			}
			return plain(k)
		}),
		build(append(slices.Clone(reversed), "gone"), "", func(k string) string {
			if k == "gone" {
				return "null"
			}
			return plain(k)
		}),
		build(keys, "\n", func(k string) string {
			if k == "totalAmount" {
				return f[k] // a number's literal text is signed as the string's
			}
			return plain(k)
		}),
	}
}

// TestNotificationReplaysBySignedContent: a dozen byte variants of one signed notification cost
// at most one orderQuery, are all answered 200, are one stored row counting the repeats, and
// grow the order's story by less than 64 KiB; a payment refunded within a second of its
// notification ends REFUNDED, the refund's notification checked when the window ends; a user's
// query is never held back by the window. On SQLite and PostgreSQL.
func TestNotificationReplaysBySignedContent(t *testing.T) {
	pgtest.ForEachDB(t, func(t *testing.T, dbURL string) {
		h := apptest.Start(t, apptest.Options{DBURL: dbURL})
		token := h.Login(t, "user-replay")
		story := func(no string) []byte { return h.Admin(t, "/admin/orders/"+no).Body }

		t.Run("a dozen variants", func(t *testing.T) {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "variants"}, "")
			h.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1})
			defer h.SandboxPost(t, http.MethodDelete, "/sandbox/faults", nil)
			h.Pay(t, o.OutTradeNo)
			vs := variants(t, h.Notification(t, o.OutTradeNo, nil, h.Secret))
			if len(vs) != 12 {
				t.Fatalf("%d variants, want 12", len(vs))
			}
			before, queries := len(story(o.OutTradeNo)), mosCalls(h, "orderQuery")
			dupBefore := metric(t, h, h.URL, `mospay_notifications_total{outcome="duplicate"}`)
			for i, v := range vs {
				r := h.Must(t, http.MethodPost, h.URL+"/mos/notify", v, nil)
				if r.Status != 200 {
					t.Fatalf("variant %d (%d bytes): HTTP %d %s", i, len(v), r.Status, r.Body)
				}
				apptest.WantMOSAnswer(t, r, 200)
			}
			if n := mosCalls(h, "orderQuery") - queries; n > 1 {
				t.Fatalf("12 variants cost %d orderQuery calls, want at most 1", n)
			}
			if _, got := h.GetOrder(t, token, o.OutTradeNo); got.Status != "PAID" {
				t.Fatalf("order %s, want PAID", got.Status)
			}
			var st struct {
				Notifications []struct {
					Outcome, RawBody, Signed string
					Repeats, BodySize        int64
				}
			}
			after := story(o.OutTradeNo)
			if err := json.Unmarshal(after, &st); err != nil {
				t.Fatal(err)
			}
			t.Logf("story: %d bytes before, %d after", before, len(after))
			if grew := len(after) - before; grew >= 64<<10 {
				t.Fatalf("the story grew by %d bytes, want under 64 KiB", grew)
			}
			if len(st.Notifications) != 1 || st.Notifications[0].Outcome != "applied" || st.Notifications[0].Repeats != 11 ||
				!strings.Contains(st.Notifications[0].Signed, `"outTradeNo":"`+o.OutTradeNo+`"`) {
				t.Fatalf("notifications %+v, want one applied row with 11 repeats", st.Notifications)
			}
			if n := metric(t, h, h.URL, `mospay_notifications_total{outcome="duplicate"}`) - dupBefore; n != 11 {
				t.Fatalf("%v duplicates counted, want 11", n)
			}
			if n := h.Count(t, `SELECT COALESCE(SUM(LENGTH(raw_body) + LENGTH(signed)), 0) FROM notifications WHERE out_trade_no = ?`, o.OutTradeNo); n > 4<<10 {
				t.Fatalf("the notification rows hold %d bytes, want at most 4 KiB", n)
			}
			if n := st.Notifications[0]; n.BodySize != int64(len(vs[0])) || len(n.RawBody) > 2048 {
				t.Fatalf("stored body: %d bytes of %d, want the first 2048 of %d", len(n.RawBody), n.BodySize, len(vs[0]))
			}
		})

		t.Run("paid then refunded within a second", func(t *testing.T) {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "5.00", Currency: "USD", Desc: "refund soon"}, "")
			h.Pay(t, o.OutTradeNo)
			h.WaitStatus(t, token, o.OutTradeNo, "PAID") // by the payment's notification, whose query opened the window
			h.SandboxPost(t, http.MethodPost, "/sandbox/orders/"+o.OutTradeNo+"/refund", nil)
			h.WaitSandbox(t, o.OutTradeNo, "the refund's notification acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked >= 2 })
			h.WaitStatus(t, token, o.OutTradeNo, "REFUNDED")
			h.WantTransitions(t, o.OutTradeNo, created, prepaid, paid,
				apptest.Transition{From: "PAID", To: "REFUNDED", Source: "notify"})
			outcomes := map[string]int{}
			for _, n := range h.Notifications(t, o.OutTradeNo) {
				outcomes[n.Outcome]++
			}
			if outcomes["applied"] != 1 || outcomes["deferred"] != 1 {
				t.Fatalf("notification outcomes %v, want the payment's applied and the refund's deferred", outcomes)
			}
		})

		t.Run("a user's query is not held back", func(t *testing.T) {
			o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "6.00", Currency: "USD", Desc: "ask"}, "")
			h.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1})
			defer h.SandboxPost(t, http.MethodDelete, "/sandbox/faults", nil)
			h.Pay(t, o.OutTradeNo)
			apptest.WantMOSAnswer(t, h.Must(t, http.MethodPost, h.URL+"/mos/notify", h.Notification(t, o.OutTradeNo, nil, h.Secret), nil), 200)
			// Another notification (a fresh nonceStr): held back by the window, answered 200.
			apptest.WantMOSAnswer(t, h.Must(t, http.MethodPost, h.URL+"/mos/notify", h.Notification(t, o.OutTradeNo, nil, h.Secret), nil), 200)
			queries := mosCalls(h, "orderQuery")
			r := h.Must(t, http.MethodPost, h.URL+"/mp/orders/"+o.OutTradeNo+"/query", nil, apptest.Bearer(token))
			if r.Status != 200 || mosCalls(h, "orderQuery")-queries != 1 {
				t.Fatalf("query: HTTP %d, %d orderQuery calls, want 200 and 1", r.Status, mosCalls(h, "orderQuery")-queries)
			}
		})
	})
}

// TestNotificationReplaysAcrossInstances: two instances on one PostgreSQL database share the
// deduplication and the window: a variant of a notification one instance checked is a repeat at
// the other, and a new notification at the other within 5 s is held back, then checked.
func TestNotificationReplaysAcrossInstances(t *testing.T) {
	dsn := pgtest.NewDB(t)
	a := apptest.Start(t, apptest.Options{DBURL: dsn})
	b := apptest.Start(t, apptest.Options{DBURL: dsn, MOS: a})
	token := a.Login(t, "user-two-instances")
	o := a.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "7.00", Currency: "USD", Desc: "two"}, "")
	a.SandboxPost(t, http.MethodPut, "/sandbox/faults", sandbox.Faults{DropNotifications: 1})
	defer a.SandboxPost(t, http.MethodDelete, "/sandbox/faults", nil)
	a.Pay(t, o.OutTradeNo)
	body := a.Notification(t, o.OutTradeNo, nil, a.Secret)
	queries := mosCalls(a, "orderQuery")
	apptest.WantMOSAnswer(t, a.Must(t, http.MethodPost, a.URL+"/mos/notify", body, nil), 200)
	apptest.WantMOSAnswer(t, b.Must(t, http.MethodPost, b.URL+"/mos/notify", variants(t, body)[3], nil), 200)
	apptest.WantMOSAnswer(t, b.Must(t, http.MethodPost, b.URL+"/mos/notify", a.Notification(t, o.OutTradeNo, nil, a.Secret), nil), 200)
	if n := mosCalls(a, "orderQuery") - queries; n != 1 {
		t.Fatalf("three notifications at two instances within 5 s cost %d orderQuery calls, want 1", n)
	}
	outcomes := map[string]int{}
	for _, n := range a.Notifications(t, o.OutTradeNo) {
		outcomes[n.Outcome]++
	}
	if outcomes["applied"] != 1 || outcomes["deferred"] != 1 || len(outcomes) != 2 {
		t.Fatalf("notification outcomes %v, want one applied (with its repeat) and one deferred", outcomes)
	}
	// The held-back one is checked when the window ends, by the instance that held it back.
	apptest.Eventually(t, "the held-back notification to be checked", func() bool { return mosCalls(a, "orderQuery")-queries >= 2 })
	// MOS counts the call before mospay has written its answer: wait for the row too.
	notifyQueries := func() int {
		return a.Count(t, `SELECT COUNT(*) FROM mos_queries q JOIN orders o ON o.id = q.order_id WHERE o.out_trade_no = ? AND q.source = 'notify'`, o.OutTradeNo)
	}
	apptest.Within(apptest.WaitFor, func() bool { return notifyQueries() >= 2 })
	if n := notifyQueries(); n != 2 {
		t.Fatalf("%d notify queries recorded, want 2", n)
	}
}
