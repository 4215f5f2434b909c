package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mospay/mospay/app"
	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/mos/sandbox"
)

// wantKeys asserts a JSON object has exactly the given keys.
func wantKeys(t testing.TB, what string, raw json.RawMessage, keys ...string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %s", what, raw)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("%s has keys %v, want %v", what, got, keys)
	}
	return m
}

// storyJSON is GET /admin/orders/{o} as the API shows it.
type storyJSON struct {
	Order       apptest.Order `json:"order"`
	Transitions []struct {
		From, To, Source, Reason, MOSStatus, At string
	} `json:"transitions"`
	Notifications []struct {
		MOSStatus     string `json:"mosStatus"`
		QueriedStatus string `json:"queriedStatus"`
		Outcome       string `json:"outcome"`
		RawBody       string `json:"rawBody"`
	} `json:"notifications"`
	Queries []struct {
		Source    string `json:"source"`
		MOSStatus string `json:"mosStatus"`
	} `json:"queries"`
	Flags []struct {
		Flag       string  `json:"flag"`
		RaisedAt   string  `json:"raisedAt"`
		ResolvedAt *string `json:"resolvedAt"`
		Note       string  `json:"note"`
	} `json:"flags"`
}

// TestAdminStory: finance's view of one order tells its whole story, oldest first.
func TestAdminStory(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	token := h.Login(t, "user-story")

	t.Run("paid", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Story"}, "")
		h.Pay(t, o.OutTradeNo)
		h.WaitStatus(t, token, o.OutTradeNo, "PAID")
		h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })

		r := h.Admin(t, "/admin/orders/"+o.OutTradeNo)
		if r.Status != 200 {
			t.Fatalf("story: HTTP %d %s", r.Status, r.Body)
		}
		top := wantKeys(t, "the story", r.Body, "order", "transitions", "notifications", "queries", "flags", "actions", "events")
		order := wantKeys(t, "the story's order", top["order"], "outTradeNo", "prepayId", "appKey", "totalAmount", "currency",
			"desc", "status", "flags", "expireTime", "createdAt", "updatedAt", "paidAt", "refundedAt", "userId", "openid", "sandbox")
		_ = order
		var tr []json.RawMessage
		_ = json.Unmarshal(top["transitions"], &tr)
		for _, raw := range tr {
			wantKeys(t, "a transition", raw, "from", "to", "source", "reason", "mosStatus", "at", "requestId")
		}
		var s storyJSON
		r.Decode(t, &s)
		if s.Order.OutTradeNo != o.OutTradeNo || s.Order.OpenID != "user-story" || s.Order.Status != "PAID" || s.Order.TotalAmount != "16.99" {
			t.Fatalf("story's order: %+v", s.Order)
		}
		var steps []string
		for i, x := range s.Transitions {
			steps = append(steps, x.From+"->"+x.To+"("+x.Source+")")
			if x.Reason == "" {
				t.Errorf("transition %d has no reason", i)
			}
			if i > 0 && x.At < s.Transitions[i-1].At {
				t.Errorf("transitions not oldest first: %s before %s", s.Transitions[i-1].At, x.At)
			}
			if _, err := time.Parse(time.RFC3339Nano, x.At); err != nil || !strings.HasSuffix(x.At, "Z") {
				t.Errorf("transition time %q is not RFC 3339 UTC", x.At)
			}
		}
		if want := []string{"->CREATED(api)", "CREATED->PENDING(api)", "PENDING->PAID(notify)"}; !slices.Equal(steps, want) {
			t.Fatalf("transitions %v, want %v", steps, want)
		}
		if s.Transitions[2].MOSStatus != "SUCCESS" {
			t.Errorf("PAID transition's mosStatus %q, want SUCCESS", s.Transitions[2].MOSStatus)
		}
		if len(s.Notifications) != 1 || s.Notifications[0].Outcome != "applied" || s.Notifications[0].MOSStatus != "SUCCESS" ||
			!strings.Contains(s.Notifications[0].RawBody, o.OutTradeNo) {
			t.Fatalf("notifications: %+v", s.Notifications)
		}
		if len(s.Queries) != 1 || s.Queries[0].Source != "notify" || s.Queries[0].MOSStatus != "SUCCESS" {
			t.Fatalf("queries: %+v", s.Queries)
		}
		if s.Flags == nil || len(s.Flags) != 0 {
			t.Fatalf("flags: %s, want []", top["flags"])
		}
	})

	t.Run("flagged", func(t *testing.T) {
		o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "Story"}, "")
		h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"totalAmount": "40"})
		h.Pay(t, o.OutTradeNo)
		h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
		r := h.Admin(t, "/admin/orders/"+o.OutTradeNo)
		var top map[string]json.RawMessage
		r.Decode(t, &top)
		var flags []json.RawMessage
		_ = json.Unmarshal(top["flags"], &flags)
		if len(flags) != 1 {
			t.Fatalf("flags: %s", top["flags"])
		}
		wantKeys(t, "a flag", flags[0], "flag", "raisedAt", "resolvedAt", "note")
		var s storyJSON
		r.Decode(t, &s)
		f := s.Flags[0]
		if f.Flag != "amount_mismatch" || f.ResolvedAt != nil || f.Note == "" || f.RaisedAt == "" {
			t.Fatalf("flag %+v", f)
		}
		if s.Order.Status != "PENDING" || !slices.Equal(s.Order.Flags, []string{"amount_mismatch"}) {
			t.Fatalf("flagged order %+v", s.Order)
		}
		if len(s.Notifications) != 1 || s.Notifications[0].Outcome != "flagged" {
			t.Fatalf("notifications %+v", s.Notifications)
		}
	})

	r := h.Admin(t, "/admin/orders/0"+strings.Repeat("a", 31))
	r.WantError(t, 404, "not_found")
}

// fixture is a small book of orders for the list, CSV and report tests.
type fixture struct {
	all     []apptest.Order // newest first, as lists return them
	flagged string
}

func newFixture(t *testing.T, h *apptest.Stack) fixture {
	t.Helper()
	alice, bob := h.Login(t, "alice"), h.Login(t, "bob")
	var f fixture
	add := func(token string, b apptest.CreateBody, pay bool) apptest.Order {
		o := h.CreateOrder(t, token, b, "")
		if pay {
			h.Pay(t, o.OutTradeNo)
			o = h.WaitStatus(t, token, o.OutTradeNo, "PAID")
		}
		f.all = append([]apptest.Order{o}, f.all...)
		return o
	}
	add(alice, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "+cmd|' /C calc'!A0"}, true) // a formula must not reach a spreadsheet
	add(alice, apptest.CreateBody{TotalAmount: "5", Currency: "USD", Desc: "a"}, false)
	add(alice, apptest.CreateBody{TotalAmount: "4000", Currency: "KHR", Desc: "b"}, true)
	add(bob, apptest.CreateBody{TotalAmount: "8000", Currency: "KHR", Desc: "c"}, false)
	o := add(bob, apptest.CreateBody{TotalAmount: "1.00", Currency: "USD", Desc: "d"}, false)
	h.SandboxPost(t, "PATCH", "/sandbox/orders/"+o.OutTradeNo, map[string]any{"totalAmount": "0.10"})
	h.Pay(t, o.OutTradeNo)
	h.WaitSandbox(t, o.OutTradeNo, "acknowledged", func(v sandbox.OrderView) bool { return v.NotifyAcked == 1 })
	f.flagged = o.OutTradeNo
	return f
}

// TestAdminList: finance's list filters, and its cursor pagination walks every order once.
func TestAdminList(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	f := newFixture(t, h)
	page := func(t *testing.T, query string) ([]apptest.Order, string) {
		t.Helper()
		r := h.Admin(t, "/admin/orders?"+query)
		var p struct {
			Orders     []apptest.Order `json:"orders"`
			NextCursor string          `json:"nextCursor"`
		}
		r.Decode(t, &p)
		if r.Status != 200 || p.Orders == nil {
			t.Fatalf("list %q: HTTP %d %s", query, r.Status, r.Body)
		}
		return p.Orders, p.NextCursor
	}
	nos := func(os []apptest.Order) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.OutTradeNo)
		}
		return out
	}
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, f.all[i].OutTradeNo)
		}
		return out
	}
	// f.all, newest first: 0 bob 1.00 USD flagged, 1 bob 8000 KHR, 2 alice 4000 KHR PAID,
	// 3 alice 5.00 USD, 4 alice 16.99 USD PAID.
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", pick(0, 1, 2, 3, 4)},
		{"status=PAID", pick(2, 4)},
		{"status=PENDING", pick(0, 1, 3)},
		{"currency=KHR", pick(1, 2)},
		{"currency=USD&status=PENDING", pick(0, 3)},
		{"openid=bob", pick(0, 1)},
		{"openid=alice&currency=USD", pick(3, 4)},
		{"flag=amount_mismatch", pick(0)},
		{"flag=late_payment", nil},
		{"openid=nobody", nil},
		{"from=2000-01-01&to=2000-01-02", nil},
		{"from=" + url.QueryEscape(time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)), pick(0, 1, 2, 3, 4)},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, next := page(t, tc.query)
			if !slices.Equal(nos(got), tc.want) || next != "" {
				t.Fatalf("got %v (next %q), want %v", nos(got), next, tc.want)
			}
			for _, o := range got {
				if o.OpenID == "" {
					t.Fatalf("admin list without the openid: %+v", o)
				}
			}
		})
	}

	t.Run("pagination", func(t *testing.T) {
		for _, filter := range []string{"", "&openid=alice"} {
			var seen []string
			cursor, pages := "", 0
			for {
				got, next := page(t, "limit=2&cursor="+url.QueryEscape(cursor)+filter)
				pages++
				if len(got) > 2 || (next != "" && len(got) != 2) {
					t.Fatalf("page %d: %d orders, next %q", pages, len(got), next)
				}
				seen = append(seen, nos(got)...)
				if next == "" {
					break
				}
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
				cursor = next
			}
			want := pick(0, 1, 2, 3, 4)
			if filter != "" {
				want = pick(2, 3, 4)
			}
			if !slices.Equal(seen, want) {
				t.Fatalf("pages%s gave %v, want %v", filter, seen, want)
			}
		}
	})

	for _, q := range []string{"cursor=bogus", "status=paid", "currency=EUR", "flag=nope", "limit=0", "limit=501", "from=yesterday", "tz=Mars/Olympus"} {
		t.Run("bad_"+q, func(t *testing.T) {
			h.Admin(t, "/admin/orders?"+q).WantError(t, 400, "invalid_request")
		})
	}
}

// TestAdminCSV: one header row, then one row per order; amounts as text.
func TestAdminCSV(t *testing.T) {
	h := apptest.Start(t, apptest.Options{})
	f := newFixture(t, h)
	read := func(t *testing.T, query string) [][]string {
		t.Helper()
		r := h.Admin(t, "/admin/orders.csv?"+query)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: HTTP %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if !strings.HasPrefix(string(r.Body), "\uFEFF") {
			t.Fatalf("the CSV does not start with a byte order mark: %q", r.Body[:min(len(r.Body), 16)])
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(r.Body), "\uFEFF"))).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, r.Body)
		}
		return recs
	}
	recs := read(t, "tz=Asia/Phnom_Penh")
	header := []string{"outTradeNo", "prepayId", "openid", "userId", "status", "currency", "totalAmount", "desc", "flags",
		"createdAt", "paidAt", "refundedAt", "expireAt", "updatedAt", "zone", "sandbox", "merchant", "reference", "metadata"}
	if !slices.Equal(recs[0], header) {
		t.Fatalf("header %v, want %v", recs[0], header)
	}
	if len(recs) != 1+len(f.all) {
		t.Fatalf("%d rows, want %d", len(recs)-1, len(f.all))
	}
	col := func(name string) int { return slices.Index(header, name) }
	byNo := map[string][]string{}
	for _, rec := range recs[1:] {
		if len(rec) != len(header) {
			t.Fatalf("row %v has %d fields", rec, len(rec))
		}
		byNo[rec[col("outTradeNo")]] = rec
		pp, _ := time.LoadLocation("Asia/Phnom_Penh")
		for _, c := range []string{"createdAt", "updatedAt", "expireAt"} {
			at, err := time.ParseInLocation(time.DateTime, rec[col(c)], pp)
			if err != nil || time.Since(at) > time.Hour || time.Since(at) < -time.Hour {
				t.Errorf("%s %q is not a time in Asia/Phnom_Penh as spreadsheets read it (%v)", c, rec[col(c)], err)
			}
		}
		if rec[col("zone")] != "Asia/Phnom_Penh" {
			t.Errorf("zone %q", rec[col("zone")])
		}
	}
	for _, o := range f.all {
		rec, ok := byNo[o.OutTradeNo]
		if !ok {
			t.Fatalf("order %s missing from the CSV", o.OutTradeNo)
		}
		if rec[col("totalAmount")] != o.TotalAmount || rec[col("currency")] != o.Currency {
			t.Errorf("row %v: amount %s %s, want %s %s", rec, rec[col("totalAmount")], rec[col("currency")], o.TotalAmount, o.Currency)
		}
	}
	paid := f.all[4]
	if rec := byNo[paid.OutTradeNo]; rec[col("status")] != "PAID" || rec[col("openid")] != "alice" || rec[col("totalAmount")] != "16.99" ||
		rec[col("desc")] != "'+cmd|' /C calc'!A0" || rec[col("paidAt")] == "" || rec[col("refundedAt")] != "" {
		t.Errorf("paid row %v", rec)
	}
	if rec := byNo[f.all[3].OutTradeNo]; rec[col("totalAmount")] != "5.00" {
		t.Errorf("5 USD row %v, want 5.00", rec)
	}
	if rec := byNo[f.flagged]; !strings.HasPrefix(rec[col("flags")], "amount_mismatch: MOS reports ") {
		t.Errorf("flagged row %v", rec)
	}

	if recs := read(t, "status=PAID&currency=KHR"); len(recs) != 2 || recs[1][col("outTradeNo")] != f.all[2].OutTradeNo {
		t.Fatalf("filtered CSV: %v", recs)
	}
	if recs := read(t, "openid=nobody"); len(recs) != 1 {
		t.Fatalf("empty CSV: %v", recs)
	}
	h.Admin(t, "/admin/orders.csv?status=nope").WantError(t, 400, "invalid_request")
	r := h.Admin(t, "/admin/orders.csv?bom=0&from=2026-11-01&to=2026-12-01&tz=UTC")
	if strings.HasPrefix(string(r.Body), "\uFEFF") || !strings.HasPrefix(string(r.Body), "outTradeNo,") ||
		r.Header.Get("Content-Disposition") != `attachment; filename="mospay-orders-2026-11-01-to-2026-12-01.csv"` {
		t.Fatalf("bom=0: %s %q", r.Header.Get("Content-Disposition"), r.Body[:min(len(r.Body), 20)])
	}
}

// TestAdminReport: counts and sums per currency and status, amounts as text, flagged orders for
// review.
func TestAdminReport(t *testing.T) {
	today := apptest.DayBoundaries[1]
	h := apptest.Start(t, apptest.Options{Clock: apptest.ClockAt(today)})
	f := newFixture(t, h)
	from, to := today.AddDate(0, 0, -1).Format("2006-01-02"), today.AddDate(0, 0, 2).Format("2006-01-02")
	r := h.Admin(t, "/admin/reports/reconciliation?from="+from+"&to="+to+"&tz=UTC")
	wantKeys(t, "the report", r.Body, "from", "to", "tz", "basis", "totals", "money", "atRisk", "review", "asOf")
	type total struct {
		Currency, Status string
		Count            int64
		Amount           string
	}
	var rep struct {
		From, To, TZ string
		Totals       []total
		Review       []apptest.Order
	}
	r.Decode(t, &rep)
	if r.Status != 200 || rep.TZ != "UTC" || !strings.HasPrefix(rep.From, from) || !strings.HasPrefix(rep.To, to) {
		t.Fatalf("report: HTTP %d %s", r.Status, r.Body)
	}
	want := []total{
		{"KHR", "PAID", 1, "4000"},
		{"KHR", "PENDING", 1, "8000"},
		{"USD", "PAID", 1, "16.99"},
		{"USD", "PENDING", 2, "6.00"},
	}
	slices.SortFunc(rep.Totals, func(a, b total) int { return strings.Compare(a.Currency+a.Status, b.Currency+b.Status) })
	if !slices.Equal(rep.Totals, want) {
		t.Fatalf("totals %+v, want %+v", rep.Totals, want)
	}
	if len(rep.Review) != 1 || rep.Review[0].OutTradeNo != f.flagged || rep.Review[0].OpenID != "bob" ||
		!rep.Review[0].HasFlag("amount_mismatch") {
		t.Fatalf("review %+v", rep.Review)
	}

	// Another time zone, another window: nothing was created in 2000.
	r = h.Admin(t, "/admin/reports/reconciliation?from=2000-01-01&to=2000-02-01&tz=Asia/Phnom_Penh")
	r.Decode(t, &rep)
	if r.Status != 200 || len(rep.Totals) != 0 || len(rep.Review) != 0 || rep.TZ != "Asia/Phnom_Penh" ||
		rep.From != "2000-01-01T00:00:00+07:00" {
		t.Fatalf("empty report: HTTP %d %s", r.Status, r.Body)
	}
	h.Admin(t, "/admin/reports/reconciliation?from="+to+"&to="+from).WantError(t, 400, "invalid_request")
}

// TestAdminAuth: /admin takes admin tokens only, each with its name; a mini-app token is 401.
// Each case comes from an address of its own (X-Forwarded-For from a trusted proxy), so that the
// limit on failed admin authentications (TestAdminAuthFailuresLimited) stays out of the way.
func TestAdminAuth(t *testing.T) {
	h := apptest.Start(t, apptest.Options{Config: func(c *app.Config) { c.TrustedProxies = loopbackProxy(t) }})
	token := h.Login(t, "user-admin-auth")
	o := h.CreateOrder(t, token, apptest.CreateBody{TotalAmount: "16.99", Currency: "USD", Desc: "Auth"}, "")

	address := 0
	for name, hdr := range map[string]map[string]string{
		"mini_app_token": apptest.Bearer(token),
		"none":           nil,
		"wrong_token":    apptest.Bearer(apptest.FinanceToken + "x"),
		"prefix_only":    apptest.Bearer(apptest.FinanceToken[:10]),
		"name_as_token":  apptest.Bearer("finance"),
		"name_and_token": apptest.Bearer("finance:" + apptest.FinanceToken),
		"basic_scheme":   {"Authorization": "Basic " + apptest.FinanceToken},
	} {
		address++
		if hdr == nil {
			hdr = map[string]string{}
		}
		hdr["X-Forwarded-For"] = fmt.Sprintf("192.0.2.%d", address)
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/admin/orders", "/admin/orders/" + o.OutTradeNo, "/admin/orders.csv", "/admin/reports/reconciliation",
				"/admin/users?openid=x", "/admin/audit"} {
				h.Must(t, "GET", h.URL+path, nil, hdr).WantError(t, 401, "unauthorized")
			}
			h.Must(t, "POST", h.URL+"/admin/orders/"+o.OutTradeNo+"/reconcile", nil, hdr).WantError(t, 401, "unauthorized")
			h.Must(t, "POST", h.URL+"/admin/users/x/revoke", nil, hdr).WantError(t, 401, "unauthorized")
		})
	}
	// An admin token is no mini-app token either.
	h.Must(t, "GET", h.URL+"/mp/orders", nil, apptest.Bearer(apptest.AdminToken)).WantError(t, 401, "unauthorized")

	// Both configured tokens work, and the audit records each one's name.
	for _, tc := range []struct{ token, name string }{{apptest.FinanceToken, "finance"}, {apptest.AdminToken, "admin"}} {
		r := h.Must(t, "POST", h.URL+"/admin/orders/"+o.OutTradeNo+"/reconcile", nil, apptest.Bearer(tc.token))
		var got apptest.Order
		r.Decode(t, &got)
		if r.Status != 200 || got.OutTradeNo != o.OutTradeNo || got.OpenID != "user-admin-auth" {
			t.Fatalf("reconcile with %s's token: HTTP %d %s", tc.name, r.Status, r.Body)
		}
		if !strings.Contains(h.Logs.String(), `"msg":"admin reconcile","admin":"`+tc.name+`"`) {
			t.Fatalf("no audit line naming %q:\n%s", tc.name, h.Logs.Tail(4096))
		}
	}
	if n := h.Count(t, `SELECT COUNT(*) FROM mos_queries WHERE source = 'admin'`); n != 2 {
		t.Fatalf("%d admin queries recorded, want 2", n)
	}
	// The tokens are never logged.
	for _, secret := range []string{apptest.FinanceToken, apptest.AdminToken, token} {
		if strings.Contains(h.Logs.String(), secret) {
			t.Fatal("a bearer token reached the log")
		}
	}
}

// loopbackProxy trusts the tests' own address as a proxy, so that X-Forwarded-For gives each
// request the client address a test chooses.
func loopbackProxy(t *testing.T) []*net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return []*net.IPNet{n}
}
