package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mospay/mospay/app/apptest"
	"github.com/mospay/mospay/store/pgtest"
)

// The fault test's timings: short enough that the reconciler, not a person, has to bring every
// order to MOS's truth within the test. The refund window is cut to 15 s, so that a refund whose
// notification is lost is found by the reconciler's end-of-window check within the test (the
// load refunds an order within a second or two of paying it).
//
// Orders live 20 s, so that they expire during the test; after the load, orderQuery fails from
// the expiry of the first order made to just after the expiry of the last, over their expiry
// checks, and once that last fault heals every order must match MOS within faultConverge.
const (
	faultMOSTimeout   = 2 * time.Second
	faultPrepayGiveUp = 10 * time.Second
	faultRefundWindow = 15 * time.Second
	faultOrderTTL     = 20 * time.Second
	faultConverge     = 30 * time.Second
)

// faultScale is how hard a run pushes: make test runs the short one; MOSPAY_TEST_FAULT_LONG=1
// runs more clients, more kills and a longer load.
type faultScale struct {
	clients, minKills, maxKills int
	converge                    time.Duration // every order matches the sandbox within this, after the load
}

func faultScaleFromEnv() faultScale {
	if os.Getenv("MOSPAY_TEST_FAULT_LONG") != "" {
		return faultScale{clients: 16, minKills: 8, maxKills: 12, converge: 3 * time.Minute}
	}
	return faultScale{clients: 8, minKills: 3, maxKills: 4, converge: 2 * time.Minute}
}

// TestFaultInjection runs the real binary: `mospay serve` (not --sandbox) under load against a
// separate `mospay sandbox` process, SIGKILLed at random moments and restarted on the same
// database. MOS answers slowly, drops half its notifications and duplicates some, loses some
// prepay and orderQuery answers (the call takes effect, the answer never comes) and never answers
// a few prepays. The users pay, fail, refund right after paying, or walk away. Some kills land
// while a prepay is in flight, and the reconciler has to find out what happened. After the load,
// every orderQuery fails for a while, aimed at the expiry checks of the last orders made. Once
// that last fault heals, every order must reach the sandbox's status within faultConverge, with a
// whole, gapless history, and no order a client was told about may be missing. It runs on SQLite
// and on PostgreSQL. MOSPAY_TEST_FAULT_SEED replays a run's random choices (kill timing and
// client actions; the interleaving itself is the machine's); MOSPAY_TEST_FAULT_LONG=1 runs the
// longer version.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault test builds and runs the real binary; skipped with -short")
	}
	bin := apptest.BuildBinary(t, t.TempDir())
	t.Run("sqlite", func(t *testing.T) {
		runFaultInjection(t, bin, func(dir string) string { return "sqlite:" + filepath.Join(dir, "crash.db") })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewDB(t)
		runFaultInjection(t, bin, func(string) string { return dsn })
	})
}

// runFaultInjection is one run of the fault test, on the database dbURL names.
func runFaultInjection(t *testing.T, bin string, dbURL func(dir string) string) {
	scale := faultScaleFromEnv()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MOSPAY_TEST_FAULT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MOSPAY_TEST_FAULT_SEED: %v", err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with MOSPAY_TEST_FAULT_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	sbAddr, apiAddr := apptest.FreeAddr(t), apptest.FreeAddr(t)
	c := &faultWorld{
		t: t, dir: dir, bin: bin,
		sbURL: "http://" + sbAddr, apiURL: "http://" + apiAddr,
	}
	c.api = apptest.NewClient(t, c.apiURL)
	creds := []string{
		"MOSPAY_MOS_APP_KEY=sbx" + apptest.RandHex(8),
		"MOSPAY_MOS_APP_SECRET=" + apptest.RandHex(16),
		"MOSPAY_MOS_MC_ID=sbxmerchant" + apptest.RandHex(4),
		"MOSPAY_LOG_LEVEL=warn",
	}
	c.sandboxEnv = append(slices.Clone(creds),
		"MOSPAY_SANDBOX_ADDR="+sbAddr,
		"MOSPAY_PUBLIC_URL="+c.apiURL, // what getApplication reports as notifyUrl
		// `mospay sandbox` keeps generated development values beside the database file.
		"MOSPAY_DATABASE_URL=sqlite:"+filepath.Join(dir, "sandbox", "unused.db"),
	)
	// The merchant's systems: an event receiver that refuses a fifth of the attempts and drops
	// the connection on another tenth; mospay retries on a compressed schedule.
	var rcMu sync.Mutex
	rcRng := rand.New(rand.NewPCG(seed, 1<<32))
	events := apptest.NewEventReceiver(t, func(apptest.ReceivedEvent, int) int {
		rcMu.Lock()
		defer rcMu.Unlock()
		switch x := rcRng.IntN(10); {
		case x < 2:
			return http.StatusServiceUnavailable
		case x < 3:
			return 0
		}
		return http.StatusNoContent
	})
	c.serveEnv = append(slices.Clone(creds),
		"MOSPAY_WEBHOOK_URLS="+events.URL,
		"MOSPAY_WEBHOOK_SECRET="+apptest.EventSecret,
		"MOSPAY_WEBHOOK_RETRY=100ms,200ms,400ms,800ms,1s,1s,1s,1s,1s,1s,1s,1s",
		"MOSPAY_MOS_BASE_URL="+c.sbURL,
		"MOSPAY_JWT_SECRET="+apptest.RandHex(32),
		"MOSPAY_ADMIN_TOKENS=finance:"+apptest.FinanceToken,
		"MOSPAY_DATABASE_URL="+dbURL(dir),
		"MOSPAY_PUBLIC_URL="+c.apiURL, // required on PostgreSQL
		"MOSPAY_HTTP_ADDR="+apiAddr,
		"MOSPAY_ORDER_TTL="+faultOrderTTL.String(),
		"MOSPAY_RECONCILE_EVERY=@every 1s",
		"MOSPAY_RECONCILE_FIRST=1s",
		"MOSPAY_MOS_TIMEOUT="+faultMOSTimeout.String(),
		"MOSPAY_PREPAY_GIVEUP="+faultPrepayGiveUp.String(),
		"MOSPAY_REFUND_WINDOW="+faultRefundWindow.String(),
		"MOSPAY_CLIENT_AMOUNTS=true", // the load chooses its amounts
	)

	sb := c.start("sandbox", "sandbox")
	if err := sb.WaitReady(c.sbURL+"/sandbox/faults", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	serve := c.start("serve-0", "serve")
	if err := serve.WaitReady(c.apiURL+"/readyz", 60*time.Second); err != nil {
		t.Fatal(err)
	}

	// MOS is slow (so kills land while prepays are in flight), drops half its notifications and
	// duplicates some, sometimes never answers a prepay (the client gets 503, the order stays
	// CREATED and MOS never hears of it), and sometimes loses the answer of a prepay or an
	// orderQuery that did take effect.
	c.faults(rng, 300)

	loadStart := time.Now()
	ctx, stopLoad := context.WithCancel(context.Background())
	load := &faultLoad{acked: map[string]faultAcked{}}
	var wg sync.WaitGroup
	for i := range scale.clients {
		crng := rand.New(rand.NewPCG(seed, uint64(i)+1))
		wg.Go(func() { c.client(ctx, i, crng, load) })
	}
	t.Cleanup(func() { stopLoad(); wg.Wait() }) // when a kill step fails the test

	time.Sleep(time.Second)
	kills := scale.minKills + rng.IntN(scale.maxKills-scale.minKills+1)
	for k := range kills {
		delay := 200*time.Millisecond + time.Duration(rng.Int64N(int64(1300*time.Millisecond)))
		aimed := rng.IntN(2) == 0
		time.Sleep(delay)
		how := "at random"
		if aimed {
			// Aim at the narrow window after MOS accepted a prepay and before mospay wrote PENDING.
			how = "just after MOS accepted a prepay"
			if !c.waitPrepay(2 * time.Second) {
				how = "at random (no prepay came)"
			}
		}
		if err := serve.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d of %d at %s after %s, %s; orders acknowledged so far %d", k+1, kills, time.Now().UTC().Format("15:04:05.000"), delay.Round(time.Millisecond), how, load.count())
		latency := 100 + rng.IntN(500)
		c.faults(rng, latency)
		serve = c.start(fmt.Sprintf("serve-%d", k+1), "serve")
		if err := serve.WaitReady(c.apiURL+"/readyz", 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	stopLoad()
	wg.Wait()
	loadEnd := time.Now()
	stats := load.snapshot()
	t.Logf("load: %d create attempts, %d acknowledged (201), %d refused with 503, %d other answers, %d transport errors; paid %d, failed %d, paid and refunded %d, left pending %d",
		stats.attempts, len(stats.acked), stats.unavailable, stats.other, stats.transport, stats.pay, stats.fail, stats.refund, stats.leave)
	var sbStats struct {
		Calls                                       map[string]int
		NotificationsSent, NotificationsDropped     int
		NotificationsDuplicated, NotificationsAcked int
	}
	c.must("GET", c.sbURL+"/sandbox/stats", nil, nil, http.StatusOK, &sbStats)
	t.Logf("faults: %d kills; MOS calls %v; notifications sent %d (acknowledged %d), dropped %d, duplicated %d",
		kills, sbStats.Calls, sbStats.NotificationsSent, sbStats.NotificationsAcked, sbStats.NotificationsDropped, sbStats.NotificationsDuplicated)
	if len(stats.acked) == 0 {
		t.Fatal("no order was acknowledged: the load did not run")
	}

	// The last fault: every orderQuery fails over the expiry checks of the orders the load made.
	// Then MOS heals altogether.
	outageFrom, outageTo := loadStart.Add(faultOrderTTL), loadEnd.Add(faultOrderTTL+2*time.Second)
	time.Sleep(time.Until(outageFrom))
	c.must("PUT", c.sbURL+"/sandbox/faults", map[string]any{"errorRate": map[string]float64{"orderQuery": 1}}, nil, http.StatusOK, nil)
	time.Sleep(time.Until(outageTo))
	c.must("DELETE", c.sbURL+"/sandbox/faults", nil, nil, http.StatusOK, nil)
	healed := time.Now()

	// Leave serve running: the reconciler, not the test, must now bring every order to MOS's
	// truth.
	var orders []faultOrder
	var mismatched []string
	// Each look walks every order of the run: four a second are enough. What is left mismatched
	// at the deadline is reported below.
	apptest.WithinEvery(time.Until(healed.Add(max(scale.converge, faultConverge))), 250*time.Millisecond, func() bool {
		orders = c.adminOrders()
		mismatched = mismatched[:0]
		for i := range orders {
			o := &orders[i]
			o.mos, o.mosKnown = c.sandboxStatus(o.OutTradeNo)
			if want := faultWant(o.mos, o.mosKnown, o.expired()); o.Status != want {
				mismatched = append(mismatched, fmt.Sprintf("%s: mospay %s, sandbox %s", o.OutTradeNo, o.Status, faultMOSName(o.mos, o.mosKnown)))
			}
		}
		return len(mismatched) == 0
	})
	converged := time.Since(healed)
	due, failed, unanswered := c.expiryChecksHit(orders, outageFrom, healed)
	t.Logf("the last fault: orderQuery failed for %.1f s from %s, over the expiry checks of %d orders closed at expiry (%d of them checked without an answer, the rest held back while MOS was taken to be down); %d reconciler checks got no answer",
		healed.Sub(outageFrom).Seconds(), outageFrom.UTC().Format("15:04:05.000"), due, failed, unanswered)
	if due == 0 || unanswered == 0 {
		t.Errorf("the outage met no order's expiry check, or no check at all: it is aimed wrong")
	}
	if len(mismatched) == 0 {
		t.Logf("converged: every order matches MOS %.1f s after the last fault healed (%d orders)", converged.Seconds(), len(orders))
		if converged > faultConverge {
			t.Errorf("every order matched MOS only %.1f s after the last fault healed, want within %s", converged.Seconds(), faultConverge)
		}
	}
	if len(mismatched) > 0 {
		slices.Sort(mismatched)
		t.Errorf("%d of %d orders never reached the sandbox's status within %s:\n%s", len(mismatched), len(orders), scale.converge,
			strings.Join(mismatched[:min(len(mismatched), 20)], "\n"))
		for _, m := range mismatched[:min(len(mismatched), 3)] {
			no, _, _ := strings.Cut(m, ":")
			t.Logf("story of %s: %s", no, c.rawStory(no))
		}
		if strings.HasPrefix(dbURL(dir), "sqlite:") {
			c.explainLeases(mismatched, serve)
		}
	}

	// Nothing a client was told about was lost, and it kept the prepayId the client was given.
	byNo := make(map[string]*faultOrder, len(orders))
	for i := range orders {
		byNo[orders[i].OutTradeNo] = &orders[i]
	}
	for no, a := range stats.acked {
		o, ok := byNo[no]
		switch {
		case !ok:
			t.Errorf("order %s was acknowledged with 201 but is not in mospay's database", no)
		case o.PrepayID != a.prepayID:
			t.Errorf("order %s was acknowledged with prepayId %q, the database has %q", no, a.prepayID, o.PrepayID)
		}
	}

	c.checkEvents(orders, events, scale.converge)

	// Every order's story is whole: it starts at CREATED, each step starts where the last ended,
	// it ends at the order's status, nothing is recorded twice, and nothing was PAID unless MOS
	// said SUCCESS.
	counts := map[string]int{}
	var createdResolved, createdFailed, paidByReconciler, paidByNotify, refundedByReconciler, refundedUnseen int
	for _, o := range orders {
		counts[o.Status]++
		story := c.story(o.OutTradeNo)
		if err := faultCheckHistory(o, story); err != nil {
			t.Errorf("order %s: %v; transitions %v", o.OutTradeNo, err, story)
			continue
		}
		for _, tr := range story {
			switch {
			case tr.From == "CREATED" && tr.To == "PENDING" && tr.Source == "reconciler":
				createdResolved++
			case tr.From == "CREATED" && tr.To == "FAILED" && tr.Source == "reconciler":
				createdFailed++
			case tr.To == "PAID" && tr.Source == "reconciler":
				paidByReconciler++
			case tr.To == "PAID" && tr.Source == "notify":
				paidByNotify++
			case tr.From == "PAID" && tr.To == "REFUNDED" && tr.Source == "reconciler":
				refundedByReconciler++
			case tr.From != "PAID" && tr.To == "REFUNDED":
				refundedUnseen++
			}
		}
	}
	t.Logf("seed %d: %d orders in mospay by status %v; left CREATED by a kill or a lost prepay answer and resolved by the reconciler: %d to PENDING (MOS had it), %d to FAILED (MOS never heard of it); PAID by the reconciler %d, by a notification %d; refunds found by the reconciler's checks %d, refunds of payments never seen %d",
		seed, len(orders), counts, createdResolved, createdFailed, paidByReconciler, paidByNotify, refundedByReconciler, refundedUnseen)
}

// checkEvents holds the order events to what happened, after the kills: every event an order's
// story holds was received, signed, and acknowledged at least once by the merchant's systems;
// every order that reached PAID, FAILED, CLOSED or REFUNDED has that event; no event is received
// that mospay does not hold.
func (c *faultWorld) checkEvents(orders []faultOrder, rc *apptest.EventReceiver, wait time.Duration) {
	t := c.t
	t.Helper()
	var eps struct {
		Endpoints []struct{ Pending, Failed int }
	}
	switch {
	case !apptest.WithinEvery(wait, 500*time.Millisecond, func() bool {
		c.must("GET", c.apiURL+"/admin/webhooks", nil, c.admin(), http.StatusOK, &eps)
		return len(eps.Endpoints) == 1 && eps.Endpoints[0].Pending == 0
	}):
		t.Errorf("order event deliveries still pending after %s: %+v", wait, eps.Endpoints)
	case eps.Endpoints[0].Failed != 0:
		t.Errorf("%d deliveries failed the whole retry schedule", eps.Endpoints[0].Failed)
	}
	acked := map[string]bool{}
	received := map[string]int{}
	for _, e := range rc.Received() {
		if e.Verified != nil {
			t.Errorf("event %s does not verify: %v", e.ID, e.Verified)
		}
		received[e.ID]++
		if e.Answered == http.StatusNoContent {
			acked[e.ID] = true
		}
	}
	held, repeats := 0, 0
	for _, o := range orders {
		var story struct {
			Transitions []struct{ To string }
			Events      []struct{ ID, Type string }
		}
		c.must("GET", c.apiURL+"/admin/orders/"+o.OutTradeNo, nil, c.admin(), http.StatusOK, &story)
		types := map[string]bool{}
		for _, e := range story.Events {
			held++
			types[e.Type] = true
			if !acked[e.ID] {
				t.Errorf("order %s: event %s (%s) was never acknowledged by the receiver (received %d times)", o.OutTradeNo, e.ID, e.Type, received[e.ID])
			}
			repeats += max(0, received[e.ID]-1)
			delete(received, e.ID)
		}
		for _, tr := range story.Transitions {
			if want := "order." + strings.ToLower(tr.To); (tr.To == "PAID" || tr.To == "FAILED" || tr.To == "CLOSED" || tr.To == "REFUNDED") && !types[want] {
				t.Errorf("order %s reached %s without an %s event", o.OutTradeNo, tr.To, want)
			}
		}
	}
	for id := range received {
		t.Errorf("the receiver got event %s, which no order holds", id)
	}
	t.Logf("order events: %d held, each acknowledged; %d attempts beyond the first (refusals, drops and kills)", held, repeats)
}

// admin is the finance token's header.
func (c *faultWorld) admin() map[string]string {
	return map[string]string{"Authorization": "Bearer " + apptest.FinanceToken}
}

// faultWorld is the test's view of the processes: where they listen and how they are started.
type faultWorld struct {
	t                    *testing.T
	dir, bin             string
	sbURL, apiURL        string
	sandboxEnv, serveEnv []string
	api                  *apptest.Client // every exchange with the API held against the OpenAPI document
	procs                []*apptest.Process
}

// start runs `mospay <command>` with the world's environment for it.
func (c *faultWorld) start(name, command string) *apptest.Process {
	c.t.Helper()
	env := c.serveEnv
	if command == "sandbox" {
		env = c.sandboxEnv
	}
	p := apptest.StartProcess(c.t, name, c.bin, c.dir, apptest.ChildEnv(c.dir, env...), command)
	c.procs = append(c.procs, p)
	return p
}

// call sends one request and reads the whole answer; body is sent as JSON unless nil.
func (c *faultWorld) call(ctx context.Context, method, u string, body any, hdr map[string]string) (int, []byte, error) {
	r, err := c.api.DoContext(ctx, method, u, body, hdr)
	return r.Status, r.Body, err
}

// must is call from the test's goroutine: a transport error or an unexpected status fails it.
func (c *faultWorld) must(method, u string, body any, hdr map[string]string, want int, out any) {
	c.t.Helper()
	status, b, err := c.call(context.Background(), method, u, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	if status != want {
		c.t.Fatalf("%s %s: HTTP %d %s, want %d", method, u, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, u, err, b)
		}
	}
}

// faults sets the sandbox's faults: latencyMs on every MOS call, half the notifications
// dropped, some duplicated, a few prepays never answered, a few prepay and orderQuery answers
// lost after the call took effect.
func (c *faultWorld) faults(rng *rand.Rand, latencyMs int) {
	c.t.Helper()
	f := map[string]any{
		"latencyMs": latencyMs, "dropNotifications": 0.5, "duplicateNotifications": 0.2,
		"timeoutRate":    map[string]float64{"prepay": 0.03 + 0.04*rng.Float64()},
		"lostAnswerRate": map[string]float64{"prepay": 0.03, "orderQuery": 0.05},
	}
	c.must("PUT", c.sbURL+"/sandbox/faults", f, nil, http.StatusOK, nil)
}

// waitPrepay polls the sandbox's counters until it accepts another prepay, or timeout passes.
func (c *faultWorld) waitPrepay(timeout time.Duration) bool {
	c.t.Helper()
	var st struct {
		PrepayCalls int `json:"prepayCalls"`
	}
	c.must("GET", c.sbURL+"/sandbox/stats", nil, nil, http.StatusOK, &st)
	before := st.PrepayCalls
	// Asked every millisecond: the caller kills serve in the narrow window just after a prepay.
	return apptest.WithinEvery(timeout, time.Millisecond, func() bool {
		c.must("GET", c.sbURL+"/sandbox/stats", nil, nil, http.StatusOK, &st)
		return st.PrepayCalls > before
	})
}

// faultAcked is what a client was told about an order it created.
type faultAcked struct {
	prepayID string
	action   string // pay, fail, refund (pay, then refund) or leave: what the user did at MOS
}

// faultLoad is what the clients did, shared between them.
type faultLoad struct {
	mu                                      sync.Mutex
	acked                                   map[string]faultAcked
	attempts, unavailable, other, transport int
	pay, fail, refund, leave                int
}

func (l *faultLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// faultStats is a copy of faultLoad's counters once the load has stopped.
type faultStats struct {
	acked                                   map[string]faultAcked
	attempts, unavailable, other, transport int
	pay, fail, refund, leave                int
}

func (l *faultLoad) snapshot() faultStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return faultStats{acked: l.acked, attempts: l.attempts, unavailable: l.unavailable, other: l.other,
		transport: l.transport, pay: l.pay, fail: l.fail, refund: l.refund, leave: l.leave}
}

// client is one mini-app user: logs in, then creates orders one after another and pays, fails
// or abandons each at MOS, until ctx ends. Serve being down is expected: the client waits a
// little and goes on.
func (c *faultWorld) client(ctx context.Context, i int, rng *rand.Rand, load *faultLoad) {
	openid := fmt.Sprintf("crash-user-%d", i)
	token := ""
	for n := 0; ctx.Err() == nil; n++ {
		if token == "" {
			token = c.faultLogin(ctx, openid)
			if token == "" {
				faultPause(ctx, 50*time.Millisecond)
				continue
			}
		}
		amount := fmt.Sprintf("%d.%02d", 1+rng.IntN(50), rng.IntN(100))
		hdr := map[string]string{"Authorization": "Bearer " + token, "Idempotency-Key": fmt.Sprintf("crash-%d-%d", i, n)}
		status, b, err := c.call(ctx, "POST", c.apiURL+"/mp/orders",
			map[string]string{"totalAmount": amount, "currency": "USD", "desc": "crash test"}, hdr)
		if ctx.Err() != nil {
			return // the answer, if any, is not counted: the load is over
		}
		load.mu.Lock()
		load.attempts++
		switch {
		case err != nil:
			load.transport++
		case status == http.StatusServiceUnavailable:
			load.unavailable++
		case status != http.StatusCreated:
			load.other++
		}
		load.mu.Unlock()
		if err != nil {
			faultPause(ctx, 50*time.Millisecond)
			continue
		}
		if status == http.StatusUnauthorized {
			token = ""
			continue
		}
		if status != http.StatusCreated {
			continue
		}
		var o struct{ OutTradeNo, PrepayID, Status string }
		if json.Unmarshal(b, &o) != nil || o.OutTradeNo == "" {
			load.mu.Lock()
			load.other++
			load.mu.Unlock()
			continue
		}
		action := "leave"
		switch p := rng.Float64(); {
		case p < 0.40:
			action = "pay"
		case p < 0.55:
			action = "refund" // pay, then refund at once
		case p < 0.75:
			action = "fail"
		}
		load.mu.Lock()
		load.acked[o.OutTradeNo] = faultAcked{prepayID: o.PrepayID, action: action}
		steps := []string{action}
		switch action {
		case "pay":
			load.pay++
		case "fail":
			load.fail++
		case "refund":
			load.refund++
			steps = []string{"pay", "refund"}
		default:
			load.leave++
			steps = nil
		}
		load.mu.Unlock()
		for i, step := range steps {
			if i > 0 {
				// Sometimes mospay hears of the payment before the refund, sometimes not.
				faultPause(ctx, time.Duration(rng.IntN(1500))*time.Millisecond)
			}
			// The sandbox never dies: its control API must answer.
			if s, b, err := c.call(context.Background(), "POST", c.sbURL+"/sandbox/orders/"+o.OutTradeNo+"/"+step, nil, nil); err != nil || s != http.StatusOK {
				c.t.Errorf("sandbox %s %s: %d %s %v", step, o.OutTradeNo, s, b, err)
			}
		}
	}
}

// faultLogin plays mos.login and logs in to mospay; "" when serve is down.
func (c *faultWorld) faultLogin(ctx context.Context, openid string) string {
	s, b, err := c.call(ctx, "POST", c.sbURL+"/sandbox/login-codes", map[string]string{"openid": openid}, nil)
	var code struct{ Code string }
	if err != nil || s != http.StatusOK || json.Unmarshal(b, &code) != nil {
		return ""
	}
	s, b, err = c.call(ctx, "POST", c.apiURL+"/mp/login/miniAppLogin", map[string]string{"code": code.Code}, nil)
	var tok struct{ Token string }
	if err != nil || s != http.StatusOK || json.Unmarshal(b, &tok) != nil {
		return ""
	}
	return tok.Token
}

func faultPause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// faultOrder is an order as GET /admin/orders lists it, with the sandbox's status beside it.
type faultOrder struct {
	OutTradeNo string `json:"outTradeNo"`
	PrepayID   string `json:"prepayId"`
	Status     string `json:"status"`
	ExpireTime int64  `json:"expireTime"` // ms
	mos        string // the sandbox's status
	mosKnown   bool   // false: the sandbox has no such order (404)
}

// expired says whether the order's expireTime has passed.
func (o faultOrder) expired() bool { return !time.Now().Before(time.UnixMilli(o.ExpireTime)) }

// expiryChecksHit reads what the outage [from, to) met: due is how many orders closed at expiry
// had their expireTime in it, failed how many of those have a reconciler check in it, at or after
// their expiry, that got no answer, and unanswered how many reconciler checks of any order in it
// got no answer.
func (c *faultWorld) expiryChecksHit(orders []faultOrder, from, to time.Time) (due, failed, unanswered int) {
	c.t.Helper()
	for _, o := range orders {
		var s struct {
			Queries []struct{ At, Source, Error string } `json:"queries"`
		}
		c.must("GET", c.apiURL+"/admin/orders/"+o.OutTradeNo, nil, c.admin(), http.StatusOK, &s)
		exp := time.UnixMilli(o.ExpireTime)
		expiring := !exp.Before(from) && exp.Before(to) && o.Status == "CLOSED"
		if expiring {
			due++
		}
		hit := false
		for _, q := range s.Queries {
			at, err := time.Parse(time.RFC3339Nano, q.At)
			if err != nil || q.Source != "reconciler" || q.Error == "" || at.Before(from) || !at.Before(to) {
				continue
			}
			unanswered++
			if expiring && !hit && !at.Before(exp) {
				hit = true
				failed++
			}
		}
	}
	return due, failed, unanswered
}

// adminOrders reads every order in mospay's database, page by page.
func (c *faultWorld) adminOrders() []faultOrder {
	c.t.Helper()
	var all []faultOrder
	cursor := ""
	for {
		var page struct {
			Orders     []faultOrder `json:"orders"`
			NextCursor string       `json:"nextCursor"`
		}
		c.must("GET", c.apiURL+"/admin/orders?limit=500&cursor="+url.QueryEscape(cursor), nil,
			map[string]string{"Authorization": "Bearer " + apptest.FinanceToken}, http.StatusOK, &page)
		all = append(all, page.Orders...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// sandboxStatus is the order's status at MOS; known is false when MOS never heard of it.
func (c *faultWorld) sandboxStatus(outTradeNo string) (status string, known bool) {
	c.t.Helper()
	s, b, err := c.call(context.Background(), "GET", c.sbURL+"/sandbox/orders/"+outTradeNo, nil, nil)
	if err != nil {
		c.t.Fatalf("sandbox order %s: %v", outTradeNo, err)
	}
	if s == http.StatusNotFound {
		return "", false
	}
	var v struct{ Status string }
	if s != http.StatusOK || json.Unmarshal(b, &v) != nil {
		c.t.Fatalf("sandbox order %s: HTTP %d %s", outTradeNo, s, b)
	}
	return v.Status, true
}

// faultWant is the status mospay must end in for what MOS says. An order MOS never heard of
// never reached it: FAILED once MOSPAY_PREPAY_GIVEUP has passed; one MOS still has unpaid after
// its expireTime is CLOSED.
func faultWant(mos string, known, expired bool) string {
	if !known {
		return "FAILED"
	}
	switch mos {
	case "SUCCESS":
		return "PAID"
	case "PENDING":
		if expired {
			return "CLOSED"
		}
		return mos
	case "FAILED", "CLOSED", "REFUNDED":
		return mos
	}
	return "unknown MOS status " + mos
}

func faultMOSName(mos string, known bool) string {
	if !known {
		return "404 (never reached MOS)"
	}
	return mos
}

// faultTransition is one entry of an order's story.
type faultTransition struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Source string `json:"source"`
}

func (tr faultTransition) String() string {
	return fmt.Sprintf("%q->%s(%s)", tr.From, tr.To, tr.Source)
}

// story reads the order's transitions, oldest first (GET /admin/orders/{o}).
func (c *faultWorld) story(outTradeNo string) []faultTransition {
	c.t.Helper()
	var s struct {
		Transitions []faultTransition `json:"transitions"`
	}
	c.must("GET", c.apiURL+"/admin/orders/"+outTradeNo, nil,
		map[string]string{"Authorization": "Bearer " + apptest.FinanceToken}, http.StatusOK, &s)
	return s.Transitions
}

// explainLeases tells, for orders that never matched, who holds their lease now (read from the
// SQLite file directly, read-only): a lease held by a killed serve keeps the reconciler away from
// the order until it expires.
func (c *faultWorld) explainLeases(mismatched []string, live *apptest.Process) {
	c.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(c.dir, "crash.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		c.t.Logf("explain leases: %v", err)
		return
	}
	defer db.Close()
	livePID := strconv.Itoa(live.Cmd.Process.Pid)
	var dead int
	for _, m := range mismatched {
		no, _, _ := strings.Cut(m, ":")
		var owner sql.NullString
		var until, next sql.NullTime
		var attempts int
		err := db.QueryRow(`SELECT lease_owner, lease_until, next_check_at, check_attempts FROM orders WHERE out_trade_no = ?`, no).
			Scan(&owner, &until, &next, &attempts)
		if err != nil {
			c.t.Logf("explain leases: %s: %v", no, err)
			continue
		}
		if owner.Valid && !strings.HasSuffix(owner.String, "-"+livePID) && until.Valid && until.Time.After(time.Now()) {
			dead++
		}
		c.t.Logf("%s: lease %q until %v, next check %v, %d checks", no, owner.String, until.Time.Format(time.RFC3339Nano),
			next.Time.Format(time.RFC3339Nano), attempts)
	}
	if dead > 0 {
		c.t.Logf("%d of %d unmatched orders are still leased to a serve that was killed (live serve pid %s): the reconciler cannot check them until that lease expires",
			dead, len(mismatched), livePID)
	}
}

// rawStory is GET /admin/orders/{o} as text, for a failure's log.
func (c *faultWorld) rawStory(outTradeNo string) string {
	_, b, err := c.call(context.Background(), "GET", c.apiURL+"/admin/orders/"+outTradeNo, nil,
		map[string]string{"Authorization": "Bearer " + apptest.FinanceToken})
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// faultCheckHistory says what is wrong with an order's history, if anything: it must start with
// ""->CREATED, each transition must start where the previous ended, the last must end at the
// order's status, no change may be recorded twice, and no transition may reach PAID unless MOS
// took the payment (SUCCESS, or REFUNDED after it).
func faultCheckHistory(o faultOrder, story []faultTransition) error {
	if len(story) == 0 {
		return errors.New("no transitions")
	}
	if story[0].From != "" || story[0].To != "CREATED" {
		return fmt.Errorf("first transition %s, want \"\"->CREATED", story[0])
	}
	seen := map[[2]string]bool{}
	for i, tr := range story {
		if i > 0 && tr.From != story[i-1].To {
			return fmt.Errorf("transition %d %s does not start where %s ended", i, tr, story[i-1])
		}
		k := [2]string{tr.From, tr.To}
		if seen[k] {
			return fmt.Errorf("transition %s recorded twice", tr)
		}
		seen[k] = true
		if tr.To == "PAID" && (!o.mosKnown || (o.mos != "SUCCESS" && o.mos != "REFUNDED")) {
			return fmt.Errorf("PAID although the sandbox says %s", faultMOSName(o.mos, o.mosKnown))
		}
	}
	if last := story[len(story)-1]; last.To != o.Status {
		return fmt.Errorf("last transition %s, but the order is %s", last, o.Status)
	}
	return nil
}
