package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/store/pgtest"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Scenario names, the rows of the table; mospay's are followed by the database, " (SQLite)".
const (
	rowTrivial = "echo trivial (baseline)"
	rowBare    = "bare durable (baseline)"
	// rowBareNonDurable is the baseline mospay's create is held against: as little as an order
	// needs, without waiting for the disk.
	rowBareNonDurable = "bare non-durable (baseline)"
	rowCreate         = "create order with prepay"
	rowNotify         = "notification handling"
	rowGet            = "GET /mp/orders/{outTradeNo}"
	rowEvents         = "order event delivery"
	rowMemory         = "mospay resident memory"
	// memorySelector is the name -run matches to decide whether the memory row is measured (the
	// row itself names the orders counted, known only afterwards).
	memorySelector = rowMemory + " (SQLite)"
)

// database is one database mospay's scenarios run on.
type database struct {
	name string // SQLite, PostgreSQL
	url  string
	// events, if set, is where mospay sends its order events: two endpoints of the bench's own.
	events *baselines
}

// row names a row of mospay's scenarios on db.
func (db database) row(scenario string) string { return scenario + " (" + db.name + ")" }

// users is how many mini-app users the load is spread over.
const users = 8

// notifyPoolFactor: before the notification scenario, orders are topped up (untimed, and
// counted towards -orders) to this multiple of those created in the create scenario, so that most
// notifications are for distinct orders.
const notifyPoolFactor = 2

// credentials are the mini-app's secrets for this run, shared by the sandbox, mospay and the
// bench; generated fresh each time.
type credentials struct {
	AppKey, AppSecret, MchID, JWTSecret, AdminToken string
}

func newCredentials() credentials {
	return credentials{
		AppKey: "bench" + randHex(8), AppSecret: randHex(16), MchID: "benchmerchant",
		JWTSecret: randHex(32), AdminToken: randHex(16),
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// suite is one run: the processes it started and what it learned along the way.
type suite struct {
	opts    options
	log     *slog.Logger
	creds   credentials
	atk     attacker
	http    *http.Client
	dir     string
	bin     string
	common  []string // environment of every child
	sandbox string   // http://addr of mospay sandbox
	api     string   // http://addr of mospay serve
	tokens  []string
	byOpen  map[string]int // openid -> index into tokens
	created atomic.Int64   // orders mospay acknowledged (201) on the current database
	turn    int            // the current turn, from 1
	debug   string         // http://addr of the current serve's pprof listener, with -profile
	serve   int            // the current serve's pid, whose CPU each of its scenarios reports
}

// placed is an order mospay created, with what a notification and a GET need.
type placed struct {
	OutTradeNo  string `json:"outTradeNo"`
	PrepayID    string `json:"prepayId"`
	OpenID      string `json:"openid"`
	Currency    string `json:"currency"`
	TotalAmount string `json:"totalAmount"`
	Desc        string `json:"desc"`
	ExpireTime  int64  `json:"expireTime"`
	CreateTime  int64  `json:"createTime"`
	Status      string `json:"status"`
}

// runSuite starts everything, runs the scenarios and returns the report; every process and
// file it made is gone when it returns. A child that died is named in the error, with its output.
func runSuite(ctx context.Context, opts options, log *slog.Logger) (rep *report, err error) {
	dir, err := os.MkdirTemp("", "mospaybench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	bin := opts.bin
	if bin == "" {
		if bin, err = buildMospay(ctx, dir, log); err != nil {
			return nil, err
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	s := &suite{
		opts: opts, log: log, creds: newCredentials(), atk: attacker{concurrency: opts.concurrency},
		http: &http.Client{Timeout: 30 * time.Second}, dir: dir, bin: bin,
	}
	rep = &report{opts: opts, machine: describeMachine(ctx, bin)}

	sbAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.sandbox = "http://" + sbAddr
	s.common = []string{
		"MOSPAY_MOS_APP_KEY=" + s.creds.AppKey, "MOSPAY_MOS_APP_SECRET=" + s.creds.AppSecret,
		"MOSPAY_MOS_MC_ID=" + s.creds.MchID, "MOSPAY_LOG_LEVEL=warn", "MOSPAY_SANDBOX_ADDR=" + sbAddr,
		"MOSPAY_DATABASE_URL=sqlite:" + filepath.Join(dir, "sandbox", "unused.db"), // where the sandbox keeps its files
	}
	sb, err := startProc("sandbox", dir, bin, []string{"sandbox"}, s.common)
	if err != nil {
		return nil, err
	}
	defer func() {
		if why, dead := sb.exited(); dead && err != nil {
			err = fmt.Errorf("%w\n%s", err, why)
		}
		sb.stop()
	}()
	if err := sb.waitReady(ctx, s.sandbox+"/sandbox/faults", 30*time.Second); err != nil {
		return nil, err
	}
	base, err := startBaselines(dir, s.creds, s.sandbox, log)
	if err != nil {
		return nil, err
	}
	defer base.close()

	var pg *pgtest.Server
	if opts.postgres && s.wants(database{name: "PostgreSQL"}, false) {
		var perr error
		pg, perr = pgtest.StartDurable(ctx, func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) })
		switch {
		case errors.Is(perr, pgtest.ErrNoBinaries):
			log.Warn("PostgreSQL rows left out: its binaries are not installed", "err", perr)
			rep.notes = append(rep.notes, "PostgreSQL rows left out: "+perr.Error())
			pg = nil
		case perr != nil:
			return nil, perr
		default:
			defer func() {
				if serr := pg.Stop(); serr != nil && err == nil {
					err = serr
				}
			}()
			rep.notes = append(rep.notes, "PostgreSQL 15 on loopback, durable as in production (fsync, synchronous_commit and full_page_writes on), as SQLite's synchronous=FULL.")
		}
	}

	// The baselines and mospay's paths take turns, so that a busy spell of a shared machine weighs
	// on both; each turn starts mospay on fresh databases, as the first did.
	for k := 1; k <= opts.turns; k++ {
		s.turn = k
		log.Info("turn", "turn", k, "of", opts.turns)
		// Baselines first, then mospay's paths on each database.
		rep.add(rowTrivial, turn{stats: s.timed(ctx, rowTrivial, countedTargeter(-1, func(_ int, t *vegeta.Target) {
			t.Method, t.URL = http.MethodGet, base.URL+"/trivial"
		}), nil), note: "GET, small JSON, Echo in the bench process"})
		rep.add(rowBare, turn{stats: s.timed(ctx, rowBare, countedTargeter(-1, func(_ int, t *vegeta.Target) {
			t.Method, t.URL, t.Header = http.MethodPost, base.URL+"/bare", jsonHeader("")
		}), nil), note: "INSERT, prepay, UPDATE; 3 commits, synchronous=FULL, 1 writer; in the bench process"})
		rep.add(rowBareNonDurable, turn{stats: s.timed(ctx, rowBareNonDurable, countedTargeter(-1, func(_ int, t *vegeta.Target) {
			t.Method, t.URL, t.Header = http.MethodPost, base.URL+"/bare-nondurable", jsonHeader("")
		}), nil), note: "INSERT, signed prepay, versioned UPDATE through GORM; 3 commits, synchronous=NORMAL, 1 connection; in the bench process"})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}

		// Order events: the SQLite scenarios again on a fresh file, with two event endpoints, right
		// after SQLite's own (before PostgreSQL's, whose server keeps working in the background for
		// a while after its run: settlePostgres waits for that before the next turn).
		dbs := []database{
			{name: "SQLite", url: "sqlite:" + filepath.Join(dir, fmt.Sprintf("bench-%d.db", k))},
			{name: "SQLite, 2 event endpoints", url: "sqlite:" + filepath.Join(dir, fmt.Sprintf("events-%d.db", k)), events: base},
		}
		pgName := fmt.Sprintf("bench%d", k)
		if pg != nil {
			dsn, err := pg.CreateDB(ctx, pgName)
			if err != nil {
				return nil, err
			}
			dbs = append(dbs, database{name: "PostgreSQL", url: dsn})
		}
		for i, db := range dbs {
			memory := i == 0 && k == opts.turns && opts.selected(memorySelector)
			if err := s.runDatabase(ctx, rep, db, memory); err != nil {
				return nil, fmt.Errorf("%s: %w", db.name, err)
			}
			removeSQLite(db.url)
		}
		if pg != nil {
			if err := settlePostgres(ctx, pg, pgName); err != nil {
				return nil, err
			}
		}
	}
	keepMedianProfiles(rep, opts.profile, log)
	return rep, nil
}

// wants reports whether any of mospay's scenarios on db is selected (-run), or memory is to be
// read there.
func (s *suite) wants(db database, memory bool) bool {
	create, notify, get := s.scenarios(db)
	return create || notify || get || memory
}

// scenarios says which of mospay's scenarios run on db: -run selects them by row name. The
// order events are measured from the notification scenario with endpoints, so selecting them
// runs it.
func (s *suite) scenarios(db database) (create, notify, get bool) {
	sel := s.opts.selected
	create = sel(db.row(rowCreate))
	notify = sel(db.row(rowNotify)) || (db.events != nil && sel(db.row(rowEvents)))
	get = db.events == nil && sel(db.row(rowGet))
	return create, notify, get
}

// settlePostgres drops the turn's database and checkpoints, so that PostgreSQL's background work
// after the load (writing dirty pages out, vacuuming the new rows) is done before the next turn's
// baselines rather than during them.
func settlePostgres(ctx context.Context, pg *pgtest.Server, name string) error {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("settling PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{"DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)", "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("settling PostgreSQL: %s: %w", q, err)
		}
	}
	return nil
}

// removeSQLite deletes a SQLite database of a finished turn, with its WAL and lock, so that the
// turns do not fill the disk.
func removeSQLite(url string) {
	path, ok := strings.CutPrefix(url, "sqlite:")
	if !ok {
		return
	}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		_ = os.Remove(f)
	}
}

// runDatabase starts `mospay serve` on db and times creating orders, notifications and reads;
// with memory, it then fills the database to -orders orders and reads serve's resident memory.
func (s *suite) runDatabase(ctx context.Context, rep *report, db database, memory bool) (err error) {
	opts, log := s.opts, s.log
	doCreate, doNotify, doGet := s.scenarios(db)
	if !s.wants(db, memory) {
		return nil
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	s.api = "http://" + apiAddr
	s.tokens, s.byOpen = nil, map[string]int{}
	s.created.Store(0)
	env := append(slices.Clone(s.common), "MOSPAY_PUBLIC_URL="+s.api, "MOSPAY_DATABASE_URL="+db.url)
	s.debug = ""
	switch a := os.Getenv("MOSPAY_BENCH_DEBUG_ADDR"); {
	case opts.profile != "":
		// The bench takes the profiles itself, in the middle of each scenario (mospayTimed).
		if a, err = freeAddr(); err != nil {
			return err
		}
		env = append(env, "MOSPAY_DEBUG_ADDR="+a)
		s.debug = "http://" + a
	case a != "":
		// Profile the server under load: go tool pprof http://ADDR/debug/pprof/profile
		env = append(env, "MOSPAY_DEBUG_ADDR="+a)
	}
	if db.events != nil {
		env = append(env, "MOSPAY_WEBHOOK_URLS="+db.events.URL+"/events/a,"+db.events.URL+"/events/b",
			"MOSPAY_WEBHOOK_SECRET=whsec_"+base64.StdEncoding.EncodeToString([]byte(randHex(16))))
	}
	srv, err := startProc("serve-"+strings.ToLower(strings.Fields(db.name)[0]), s.dir, s.bin, []string{"serve"}, append(env,
		"MOSPAY_HTTP_ADDR="+apiAddr, "MOSPAY_MOS_BASE_URL="+s.sandbox,
		"MOSPAY_JWT_SECRET="+s.creds.JWTSecret, "MOSPAY_ADMIN_TOKENS=bench:"+s.creds.AdminToken,
		"MOSPAY_RECONCILE_EVERY=@every 1h", "MOSPAY_ORDER_TTL=2h",
		"MOSPAY_USER_RATE=0", // the load is 8 users as fast as they can: the per-user limit would be all it measured
		// The load posts totalAmount, as it always has, so that its figures stay comparable.
		"MOSPAY_CLIENT_AMOUNTS=true",
	))
	if err != nil {
		return err
	}
	defer func() {
		if why, dead := srv.exited(); dead && err != nil {
			err = fmt.Errorf("%w\n%s", err, why)
		}
		srv.stop()
	}()
	if err := srv.waitReady(ctx, s.api+"/readyz", 2*time.Minute); err != nil {
		return err
	}
	if err := s.login(ctx); err != nil {
		return err
	}
	s.serve = srv.pid()
	defer func() { s.serve = 0 }()
	log.Info("ready", "database", db.name, "sandbox", s.sandbox, "api", s.api, "serve_pid", srv.pid(),
		"duration", opts.duration, "concurrency", opts.concurrency)

	var mu sync.Mutex
	var fresh []string
	collect := func(r *vegeta.Result) {
		if r.Code != http.StatusCreated {
			return
		}
		s.created.Add(1)
		var o struct {
			OutTradeNo string `json:"outTradeNo"`
		}
		if json.Unmarshal(r.Body, &o) == nil && o.OutTradeNo != "" {
			mu.Lock()
			fresh = append(fresh, o.OutTradeNo)
			mu.Unlock()
		}
	}
	if doCreate {
		t := s.mospayTimed(ctx, db.row(rowCreate), s.createTargeter(-1), collect)
		t.note = "POST /mp/orders: order, prepay at the sandbox, PENDING"
		s.add(rep, db, rowCreate, t)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(fresh) == 0 {
			return fmt.Errorf("create scenario made no order (%d errors, e.g. %s); serve log:\n%s", t.stats.Errors, t.stats.FirstError, srv.logTail())
		}
	}

	if doNotify || doGet {
		// Notifications: top the pool up, mark every order paid at the sandbox without it
		// notifying, then time mospay's handling of notifications the bench signs itself.
		want := min(notifyPoolFactor*len(fresh), max(opts.orders, len(fresh)))
		if len(fresh) == 0 {
			want = poolWithoutCreate(opts.orders) // the create scenario did not run (-run)
		}
		if extra := want - len(fresh); extra > 0 {
			log.Info("topping up orders for the notification pool (untimed)", "orders", extra)
			if err := s.createOrders(ctx, extra, collect); err != nil {
				return err
			}
		}
		pool, err := s.markPaid(ctx, fresh)
		if err != nil {
			return err
		}
		if doNotify {
			notifyStart := time.Now()
			if db.events != nil {
				db.events.events.reset()
			}
			t := s.mospayTimed(ctx, db.row(rowNotify), countedTargeter(-1, func(i int, t *vegeta.Target) {
				t.Method, t.URL, t.Header = http.MethodPost, s.api+"/mos/notify", jsonHeader("")
				t.Body = s.notification(pool[i%len(pool)])
			}), nil)
			loadEnd := time.Now()
			distinct := min(t.stats.Requests, len(pool))
			t.note = fmt.Sprintf("POST /mos/notify, signed by the bench, each confirmed by orderQuery; %s distinct orders of %s requests (repeats are no-ops)",
				thousands(int64(distinct)), thousands(int64(t.stats.Requests)))
			s.add(rep, db, rowNotify, t)
			if db.events != nil {
				if err := s.drainEvents(ctx, rep, db, notifyStart, loadEnd, 2*distinct); err != nil {
					return err
				}
			}
		}
		if doGet {
			t := s.mospayTimed(ctx, db.row(rowGet), countedTargeter(-1, func(i int, t *vegeta.Target) {
				o := pool[(i*7919)%len(pool)] // a stride, so consecutive requests read different orders
				t.Method, t.URL = http.MethodGet, s.api+"/mp/orders/"+o.OutTradeNo
				t.Header = jsonHeader(s.tokens[s.byOpen[o.OpenID]])
			}), nil)
			t.note = fmt.Sprintf("the owner reads one of %s orders", thousands(int64(len(pool))))
			s.add(rep, db, rowGet, t)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if !memory {
		return nil
	}

	// Memory after the database holds -orders orders.
	if rest := int64(opts.orders) - s.created.Load(); rest > 0 {
		log.Info("creating orders before reading memory (untimed)", "orders", rest, "target", opts.orders)
		if err := s.createOrders(ctx, int(rest), func(r *vegeta.Result) {
			if r.Code == http.StatusCreated {
				s.created.Add(1)
			}
		}); err != nil {
			return err
		}
	}
	mem, err := readMemory(srv.pid())
	if err != nil {
		return err
	}
	stored, err := s.countOrders(ctx)
	if err != nil {
		return err
	}
	if stored != s.created.Load() {
		log.Warn("mospay's report counts other than the bench did", "report", stored, "bench", s.created.Load())
	}
	rep.memory = &memoryRow{orders: stored, database: db.name, serve: mem}
	log.Info("done", "database", db.name, "orders", stored, "rss_mib", mib(mem.RSS), "hwm_mib", mib(mem.Peak))
	return nil
}

// add records a turn of one of mospay's scenarios on db; with event endpoints, the row's note
// ends with its ratio to the same scenario on SQLite without them.
func (s *suite) add(rep *report, db database, scenario string, t turn) {
	rep.add(db.row(scenario), t)
	if db.events != nil {
		rep.compare(db.row(scenario), database{name: "SQLite"}.row(scenario))
	}
}

// poolWithoutCreate is how many orders the notification and read scenarios are given when the
// create scenario, whose orders they use otherwise, did not run.
func poolWithoutCreate(orders int) int { return min(max(orders, 1000), 50000) }

// eventWait is how long after the load the bench waits for the last order event.
const eventWait = time.Minute

// drainEvents waits until the two endpoints have received want events (an order.paid each, for
// every order the notification scenario paid), at most eventWait after the load ended, and
// reports the rate they arrived at (from the scenario's start, while mospay also handled the
// notifications, to the last one) and how long after the load the last one came. Events that had
// not come by then are counted as errors.
func (s *suite) drainEvents(ctx context.Context, rep *report, db database, start, loadEnd time.Time, want int) error {
	sink := &db.events.events
	deadline := loadEnd.Add(eventWait)
	for {
		got, last := sink.snapshot()
		late := time.Now().After(deadline)
		if got >= want || late {
			note := fmt.Sprintf("events/s received by 2 endpoints answering 204 (%s events: an order.paid per paid order per endpoint), from the notification scenario's start until the last arrived",
				thousands(int64(got)))
			t := turn{stats: stats{Requests: got, OK: got}}
			if !last.IsZero() {
				t.stats.Elapsed = last.Sub(start)
				after := max(last.Sub(loadEnd), 0)
				t.lastEvent = &after
				note += fmt.Sprintf("; last event %.1f s after the load", after.Seconds())
			}
			if got < want {
				t.stats.Errors = want - got
				note += fmt.Sprintf("; %s of %s events had not arrived %s after the load", thousands(int64(want-got)), thousands(int64(want)), eventWait)
				s.log.Warn("order events missing", "missing", want-got, "want", want, "waited", eventWait)
			}
			t.note = note
			rep.add(db.row(rowEvents), t)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// timed runs one scenario for -duration.
func (s *suite) timed(ctx context.Context, name string, tr vegeta.Targeter, onResult func(*vegeta.Result)) stats {
	s.log.Info("scenario", "name", name, "turn", s.turn, "duration", s.opts.duration)
	before := readCPU(s.serve)
	st := s.atk.attack(ctx, name, tr, s.opts.duration, onResult)
	st.CPU = readCPU(s.serve).since(before)
	s.log.Info("scenario done", "name", name, "req_per_s", fmt.Sprintf("%.0f", st.Throughput()),
		"p50", st.P50, "p99", st.P99, "errors", st.Errors, "cpu_us_per_answer", fmt.Sprintf("%.0f", perAnswer(st.CPU.Machine, st.OK)),
		"serve_cpu_us_per_answer", fmt.Sprintf("%.0f", perAnswer(st.CPU.Serve, st.OK)))
	if st.Errors > 0 {
		s.log.Warn("scenario had errors", "name", name, "errors", st.Errors, "first", st.FirstError)
	}
	return st
}

// createTargeter posts n orders (n < 0: without end), spread over the users.
func (s *suite) createTargeter(n int) vegeta.Targeter {
	body := []byte(`{"totalAmount":"16.99","currency":"USD","desc":"bench"}`)
	return countedTargeter(n, func(i int, t *vegeta.Target) {
		t.Method, t.URL, t.Body = http.MethodPost, s.api+"/mp/orders", body
		t.Header = jsonHeader(s.tokens[i%len(s.tokens)])
	})
}

// fillBatch is how many orders createOrders asks for in one attack, so that a long fill reports
// its progress (and any slow-down as the database grows).
const fillBatch = 10000

// createOrders creates n orders at full concurrency (untimed), in batches; failed ones are made up
// for, as long as each batch succeeds at least once.
func (s *suite) createOrders(ctx context.Context, n int, onResult func(*vegeta.Result)) error {
	for n > 0 {
		before := s.created.Load()
		st := s.atk.attack(ctx, "fill", s.createTargeter(min(n, fillBatch)), 0, onResult)
		if err := ctx.Err(); err != nil {
			return err
		}
		made := int(s.created.Load() - before)
		s.log.Info("orders created", "orders", made, "req_per_s", fmt.Sprintf("%.0f", st.Throughput()),
			"p99", st.P99, "errors", st.Errors, "total", s.created.Load())
		if made == 0 {
			return fmt.Errorf("creating orders: none succeeded (%d errors, e.g. %s)", st.Errors, st.FirstError)
		}
		n -= made
	}
	return nil
}

// login logs the users in: a login code from the sandbox, exchanged at mospay for a token.
func (s *suite) login(ctx context.Context) error {
	for i := range users {
		openid := fmt.Sprintf("benchuser%d", i)
		var code struct {
			Code string `json:"code"`
		}
		if err := s.call(ctx, http.MethodPost, s.sandbox+"/sandbox/login-codes", "", map[string]string{"openid": openid}, &code); err != nil {
			return fmt.Errorf("login code: %w", err)
		}
		var tok struct {
			Token string `json:"token"`
		}
		if err := s.call(ctx, http.MethodPost, s.api+"/mp/login/miniAppLogin", "", map[string]string{"code": code.Code}, &tok); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		if tok.Token == "" {
			return errors.New("login: no token in the answer")
		}
		s.byOpen[openid] = len(s.tokens)
		s.tokens = append(s.tokens, tok.Token)
	}
	return nil
}

// markPaid has the sandbox's users pay every order without the sandbox notifying mospay
// (dropNotifications 1 while it runs), so that the orders are PENDING at mospay and SUCCESS at
// MOS: exactly what a notification then confirms. It returns the sandbox's view of each.
func (s *suite) markPaid(ctx context.Context, nos []string) ([]placed, error) {
	s.log.Info("marking orders paid at the sandbox, notifications dropped (untimed)", "orders", len(nos))
	if err := s.call(ctx, http.MethodPut, s.sandbox+"/sandbox/faults", "", map[string]any{"dropNotifications": 1}, nil); err != nil {
		return nil, fmt.Errorf("sandbox faults: %w", err)
	}
	out := make([]placed, len(nos))
	errs := make([]error, len(nos))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(nos) || ctx.Err() != nil {
					return
				}
				errs[i] = s.call(ctx, http.MethodPost, s.sandbox+"/sandbox/orders/"+nos[i]+"/pay", "", nil, &out[i])
			}
		}()
	}
	wg.Wait()
	if err := s.call(ctx, http.MethodDelete, s.sandbox+"/sandbox/faults", "", nil, nil); err != nil {
		return nil, fmt.Errorf("sandbox faults: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("paying at the sandbox: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, o := range out {
		if _, ok := s.byOpen[o.OpenID]; !ok || o.Status != "SUCCESS" {
			return nil, fmt.Errorf("sandbox order %s: openid %q status %q", o.OutTradeNo, o.OpenID, o.Status)
		}
	}
	return out, nil
}

// notification is the body MOS would POST for o, signed as the sandbox signs it: the orderQuery
// fields, appKey, a fresh nonceStr, and sign over all of them.
func (s *suite) notification(o placed) []byte {
	fields := map[string]string{
		"openid": o.OpenID, "prepayId": o.PrepayID, "outTradeNo": o.OutTradeNo, "country": "KH",
		"currency": o.Currency, "totalAmount": o.TotalAmount, "desc": o.Desc, "status": "SUCCESS",
		"expireTime": strconv.FormatInt(o.ExpireTime, 10), "createTime": strconv.FormatInt(o.CreateTime, 10),
		"appKey": s.creds.AppKey, "nonceStr": order.NewNonce(),
	}
	fields[mos.SignField] = mos.Sign(fields, s.creds.AppSecret)
	body := make(map[string]any, len(fields))
	for k, v := range fields {
		body[k] = v
	}
	// MOS sends times as JSON numbers; their literal text is what was signed.
	body["expireTime"], body["createTime"] = o.ExpireTime, o.CreateTime
	b, _ := json.Marshal(body)
	return b
}

// countOrders asks mospay's reconciliation report how many orders it holds (created from
// yesterday to tomorrow, UTC, so a run across midnight still counts them all).
func (s *suite) countOrders(ctx context.Context) (int64, error) {
	now := time.Now().UTC()
	q := "?tz=UTC&from=" + now.AddDate(0, 0, -1).Format("2006-01-02") + "&to=" + now.AddDate(0, 0, 2).Format("2006-01-02")
	var rep struct {
		Totals []struct {
			Count int64 `json:"count"`
		} `json:"totals"`
	}
	if err := s.call(ctx, http.MethodGet, s.api+"/admin/reports/reconciliation"+q, s.creds.AdminToken, nil, &rep); err != nil {
		return 0, fmt.Errorf("counting orders: %w", err)
	}
	var n int64
	for _, t := range rep.Totals {
		n += t.Count
	}
	return n, nil
}

// call does one setup request with an optional JSON body and decodes a 2xx answer into out.
func (s *suite) call(ctx context.Context, method, url, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header = jsonHeader(token)
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, truncate(strings.TrimSpace(string(b)), 300))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return nil
}

// describeMachine is what the table was measured on.
func describeMachine(ctx context.Context, bin string) machine {
	m := machine{CPU: "unknown", Go: "unknown", Mospay: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.NProc = runtime.NumCPU()
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.Go = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if out, err := exec.CommandContext(ctx, bin, "version").Output(); err == nil {
		m.Mospay = strings.TrimSpace(string(out))
	}
	return m
}
