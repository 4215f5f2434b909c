// Package sandbox is a stand-in MOS: a real HTTP server that behaves as docs/mos.md says MOS
// does, so that mospay can be developed, demonstrated, tested end to end and load-tested without
// the super-app.
//
// It serves the four MOS endpoints with real signature checks, keeps orders in memory (and, when
// opened with a state file, across restarts: state.go), and sends signed notifications to an
// order's notifyUrl with MOS's assumed retry schedule. A control API under /sandbox plays the user (pay, fail, close, refund), bends what MOS reports (PATCH an
// order, send an odd notification) and injects faults (latency, errors, timeouts, dropped,
// duplicated, delayed and reordered notifications), because the failures mospay must survive are
// the ones a real MOS produces rarely and never on demand.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mospay/mospay/mos"
)

// Config sets up a sandbox for one mini-app.
type Config struct {
	AppKey, AppSecret, MchID string
	AppName                  string
	// NotifyURL is what getApplication reports (may be empty); notifications go to each
	// order's own notifyUrl.
	NotifyURL string
	// RetryScale multiplies the notification retry schedule: 1 (or 0) is the real one
	// (15s, 15s, 30s, 3m, ...); tests use e.g. 0.001.
	RetryScale float64
	// HTTPClient delivers notifications; by default a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger gets one line per notification attempt and per refused call; nil discards.
	Logger *slog.Logger
	// Now is the clock for login-code expiry and order times (default time.Now).
	Now func() time.Time
	// StateFile, if set, keeps the orders across restarts (Open; state.go).
	StateFile string
	// SaveEvery is how often changes are written to StateFile (DefaultSaveEvery when zero).
	SaveEvery time.Duration
	// Origins are the browser origins that may call /sandbox (CORS): the sandbox's own (as
	// http://127.0.0.1:port and http://localhost:port) and the mini-app's dev servers
	// (MOSPAY_CORS_ORIGINS); "*" is any. A page of any other origin gets no CORS answer and
	// cannot change anything. OwnOrigins makes the first ones from the listen address.
	Origins []string
}

// OwnOrigins are the origins a browser gives pages of the sandbox listening on addr: both
// spellings of a loopback host (and of an unspecified one, which loopback reaches), else the
// host as it is.
func OwnOrigins(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	switch host {
	case "", "0.0.0.0", "::", "127.0.0.1", "localhost", "::1":
		return []string{"http://127.0.0.1:" + port, "http://localhost:" + port, "http://[::1]:" + port}
	}
	return []string{"http://" + net.JoinHostPort(host, port)}
}

// Server is the sandbox. It is safe for concurrent use; Close stops its notification deliveries.
type Server struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client

	ctx    context.Context // cancelled by Close: ends deliveries and hanging calls
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery goroutines

	mu        sync.Mutex
	closed    bool
	codes     map[string]*loginCode
	orders    map[string]*order
	faults    Faults
	stats     Stats
	held      []delivery // notifications held back while reorderNotifications is on
	holdTimer *time.Timer
	journal   *journal   // with StateFile: changes not yet written
	fileMu    sync.Mutex // serialises writes to the state file
}

// New builds a sandbox from cfg, filling in defaults, with its orders in memory only (see Open
// for a sandbox that keeps them in cfg.StateFile).
func New(cfg Config) *Server {
	if cfg.RetryScale <= 0 {
		cfg.RetryScale = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		http:   cfg.HTTPClient,
		codes:  make(map[string]*loginCode),
		orders: make(map[string]*order),
		stats:  Stats{Calls: make(map[string]int)},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 10 * time.Second}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Open is New, then, with cfg.StateFile, the orders kept there read back and every later change
// kept (state.go); a state file it cannot read or write is an error.
func Open(cfg Config) (*Server, error) {
	s := New(cfg)
	if cfg.StateFile == "" {
		return s, nil
	}
	if err := s.restore(cfg.StateFile); err != nil {
		s.cancel()
		return nil, fmt.Errorf("sandbox state: %w", err)
	}
	every := cfg.SaveEvery
	if every <= 0 {
		every = DefaultSaveEvery
	}
	s.wg.Add(1)
	go s.saveLoop(every)
	return s, nil
}

// Handler serves the MOS endpoints, the control API and the browser side (web.go: mos.js, the
// payment sheet, the demo mini-app). Unknown routes get a JSON 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+mos.PathGetApplication, s.mosEndpoint(opGetApplication, s.getApplication))
	mux.Handle("POST "+mos.PathCode2Session, s.mosEndpoint(opCode2Session, s.code2session))
	mux.Handle("POST "+mos.PathPrepay, s.mosEndpoint(opPrepay, s.prepay))
	mux.Handle("POST "+mos.PathOrderQuery, s.mosEndpoint(opOrderQuery, s.orderQuery))

	mux.HandleFunc("POST /sandbox/login-codes", s.handleLoginCode)
	mux.HandleFunc("GET /sandbox/orders/{outTradeNo}", s.handleGetOrder)
	mux.HandleFunc("PATCH /sandbox/orders/{outTradeNo}", s.handlePatchOrder)
	mux.HandleFunc("POST /sandbox/orders/{outTradeNo}/pay", s.handleTransition(statusSuccess, true, statusPending, statusFailed))
	mux.HandleFunc("POST /sandbox/orders/{outTradeNo}/fail", s.handleTransition(statusFailed, true, statusPending))
	mux.HandleFunc("POST /sandbox/orders/{outTradeNo}/close", s.handleTransition(statusClosed, false, statusPending, statusFailed))
	mux.HandleFunc("POST /sandbox/orders/{outTradeNo}/refund", s.handleTransition(statusRefunded, true, statusSuccess))
	mux.HandleFunc("POST /sandbox/orders/{outTradeNo}/notify", s.handleNotify)
	mux.HandleFunc("GET /sandbox/faults", s.handleGetFaults)
	mux.HandleFunc("PUT /sandbox/faults", s.handlePutFaults)
	mux.HandleFunc("DELETE /sandbox/faults", s.handleDeleteFaults)
	mux.HandleFunc("GET /sandbox/stats", s.handleStats)
	s.webRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path)
	})
	return s.withBrowserHeaders(mux)
}

// Close stops notification deliveries and hanging calls, and waits for them to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	if s.holdTimer != nil {
		s.holdTimer.Stop()
	}
	s.held = nil
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.journal != nil {
		s.flush()
		if err := s.journal.file.Close(); err != nil {
			s.log.Error("sandbox state not saved", slog.String("err", err.Error()))
		}
	}
}

// Stats counts what the sandbox has seen, for tests and load runs.
type Stats struct {
	// Calls counts requests per MOS endpoint ("getApplication", "code2session", "prepay",
	// "orderQuery"), including refused and fault-injected ones.
	Calls map[string]int `json:"calls"`
	// PrepayCalls counts accepted prepay calls: new orders and idempotent repeats.
	PrepayCalls int `json:"prepayCalls"`
	// NotificationsSent counts HTTP deliveries attempted (every retry and duplicate counts).
	NotificationsSent int `json:"notificationsSent"`
	// NotificationsAcked counts deliveries answered HTTP 200 {"code":200}.
	NotificationsAcked int `json:"notificationsAcked"`
	// NotificationsDropped counts notifications never sent because of dropNotifications.
	NotificationsDropped int `json:"notificationsDropped"`
	// NotificationsDuplicated counts extra copies sent because of duplicateNotifications.
	NotificationsDuplicated int `json:"notificationsDuplicated"`
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Calls = make(map[string]int, len(s.stats.Calls))
	for k, v := range s.stats.Calls {
		st.Calls[k] = v
	}
	return st
}

// loginCode is what mos.login would hand the front end: valid 5 minutes, usable once.
type loginCode struct {
	openid  string
	expires time.Time
	used    bool
}

// codeTTL is how long a login code stays valid (docs/mos.md).
const codeTTL = 5 * time.Minute

// NewLoginCode issues a login code for openid, as POST /sandbox/login-codes does.
func (s *Server) NewLoginCode(openid string) string {
	code := newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if len(s.codes) > 10000 { // keep a long load run from growing without bound
		for k, c := range s.codes {
			if c.used || now.After(c.expires) {
				delete(s.codes, k)
			}
		}
	}
	s.codes[code] = &loginCode{openid: openid, expires: now.Add(codeTTL)}
	return code
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers the control API's error shape, the same as mospay's own.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// newID is a random identifier (26 characters of [A-Z2-7]) for codes, prepayIds and nonces.
func newID() string { return rand.Text() }
