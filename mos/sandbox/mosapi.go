package sandbox

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
)

// The MOS endpoints by the names that Stats, Faults and mos.Error.Op use.
const (
	opGetApplication = "getApplication"
	opCode2Session   = "code2session"
	opPrepay         = "prepay"
	opOrderQuery     = "orderQuery"
)

var ops = []string{opGetApplication, opCode2Session, opPrepay, opOrderQuery}

// The statuses the sandbox speaks (docs/mos.md "Order statuses").
const (
	statusPending  = "PENDING"
	statusSuccess  = "SUCCESS"
	statusFailed   = "FAILED"
	statusClosed   = "CLOSED"
	statusRefunded = "REFUNDED"
)

// Envelope codes the sandbox refuses with. MOS documents only that code != 200 is a failure
// with a message; these follow HTTP's meanings.
const (
	codeOK           = 200
	codeBadRequest   = 400
	codeUnauthorized = 401
	codeConflict     = 409
	codeServerError  = 500
)

// defaultOrderTTL is the expireTime of an order prepaid without one.
const defaultOrderTTL = 2 * time.Hour

// maxBody bounds a request body; MOS bodies are small.
const maxBody = 1 << 20

// refusal is a MOS answer with code != 200.
type refusal struct {
	code int
	msg  string
}

func refuse(code int, format string, args ...any) *refusal {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// mosEndpoint wraps a MOS endpoint: counting, injected faults, body decoding, appKey and
// signature checks, and the envelope.
func (s *Server) mosEndpoint(op string, h func(fields map[string]string) (any, *refusal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.Calls[op]++
		f := s.faults
		s.mu.Unlock()

		if !s.injectFaults(w, r, op, f) {
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			s.answer(w, op, nil, refuse(codeBadRequest, "unreadable body"))
			return
		}
		fields, err := mos.DecodeFields(r.Header.Get("Content-Type"), body)
		if err != nil {
			s.answer(w, op, nil, refuse(codeBadRequest, "malformed body: %v", err))
			return
		}
		if fields["appKey"] == "" {
			s.answer(w, op, nil, refuse(codeUnauthorized, "missing appKey"))
			return
		}
		if fields["appKey"] != s.cfg.AppKey {
			s.answer(w, op, nil, refuse(codeUnauthorized, "unknown appKey"))
			return
		}
		if !mos.Verify(fields, s.cfg.AppSecret) {
			s.answer(w, op, nil, refuse(codeUnauthorized, "invalid sign"))
			return
		}
		data, ref := h(fields)
		if hit(f.LostAnswerRate, op) {
			writeJSON(w, http.StatusGatewayTimeout, map[string]any{"code": http.StatusGatewayTimeout, "message": "sandbox: injected lost answer"})
			return
		}
		s.answer(w, op, data, ref)
	})
}

// answer writes MOS's envelope on HTTP 200, whether the call succeeded or was refused.
func (s *Server) answer(w http.ResponseWriter, op string, data any, ref *refusal) {
	if ref != nil {
		s.log.Info("sandbox refused a MOS call", slog.String("op", op), slog.Int("code", ref.code), slog.String("message", ref.msg))
		writeJSON(w, http.StatusOK, map[string]any{"code": ref.code, "message": ref.msg})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": codeOK, "message": "success", "data": data})
}

// injectFaults applies latency, error and timeout faults; false means the answer is written.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, op string, f Faults) bool {
	if f.LatencyMs > 0 && !s.wait(r, time.Duration(f.LatencyMs)*time.Millisecond) {
		return false
	}
	if hit(f.TimeoutRate, op) {
		s.wait(r, hangLimit) // until the client gives up, the sandbox closes, or hangLimit
		writeJSON(w, http.StatusGatewayTimeout, map[string]any{"code": http.StatusGatewayTimeout, "message": "sandbox: injected timeout"})
		return false
	}
	if hit(f.ErrorRate, op) {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": codeServerError, "message": "sandbox: injected error"})
		return false
	}
	return true
}

// hangLimit is the longest an injected timeout holds a call.
const hangLimit = 30 * time.Second

// wait sleeps d unless the request or the sandbox ends first; it reports whether d passed.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// hit draws whether a fault with the rate of op (or of "*") happens now.
func hit(rates map[string]float64, op string) bool {
	p, ok := rates[op]
	if !ok {
		p = rates["*"]
	}
	return p > 0 && rand.Float64() < p
}

func (s *Server) getApplication(map[string]string) (any, *refusal) {
	return map[string]any{
		"appName":     s.cfg.AppName,
		"appKey":      s.cfg.AppKey,
		"appSecret":   s.cfg.AppSecret, // MOS does return it; mos.Client drops it
		"description": "MOS sandbox for " + s.cfg.AppName,
		"status":      true,
		"notifyUrl":   s.cfg.NotifyURL,
	}, nil
}

func (s *Server) code2session(fields map[string]string) (any, *refusal) {
	code := fields["code"]
	if code == "" {
		return nil, refuse(codeBadRequest, "missing code")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[code]
	switch {
	case !ok:
		return nil, refuse(codeBadRequest, "invalid code")
	case c.used:
		return nil, refuse(codeBadRequest, "code already used")
	case s.cfg.Now().After(c.expires):
		return nil, refuse(codeBadRequest, "code expired")
	}
	c.used = true
	return map[string]any{"openid": c.openid, "sessionKey": newID()}, nil
}

// identifier is the shape mospay keeps outTradeNo and nonceStr to (docs/mos.md "Identifiers, currencies and amounts");
// the sandbox enforces it so that a violation shows up in tests, not in production.
var identifier = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)

// prepayKeys are the fields that make two prepays of one outTradeNo the same request (nonceStr
// differs on every try and is left out).
var prepayKeys = []string{"mcId", "desc", "currency", "totalAmount", "notifyUrl", "openid", "expireTime"}

func (s *Server) prepay(fields map[string]string) (any, *refusal) {
	for _, k := range []string{"mcId", "outTradeNo", "currency", "totalAmount", "notifyUrl", "openid"} {
		if fields[k] == "" {
			return nil, refuse(codeBadRequest, "missing %s", k)
		}
	}
	if fields["mcId"] != s.cfg.MchID {
		return nil, refuse(codeBadRequest, "invalid mcId")
	}
	no := fields["outTradeNo"]
	if !identifier.MatchString(no) {
		return nil, refuse(codeBadRequest, "invalid outTradeNo: at most 32 characters of [0-9A-Za-z]")
	}
	if n := fields["nonceStr"]; n != "" && !identifier.MatchString(n) {
		return nil, refuse(codeBadRequest, "invalid nonceStr: at most 32 characters of [0-9A-Za-z]")
	}
	cur, err := money.ParseCurrency(fields["currency"])
	if err != nil {
		return nil, refuse(codeBadRequest, "invalid currency: %v", err)
	}
	minor, err := money.Parse(fields["totalAmount"], cur, 0)
	if err != nil {
		return nil, refuse(codeBadRequest, "invalid totalAmount: %v", err)
	}
	if u, err := url.Parse(fields["notifyUrl"]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, refuse(codeBadRequest, "invalid notifyUrl")
	}
	now := s.cfg.Now()
	expire := now.Add(defaultOrderTTL).UnixMilli()
	if e := fields["expireTime"]; e != "" {
		ms, err := strconv.ParseInt(e, 10, 64)
		if err != nil || ms <= 0 {
			return nil, refuse(codeBadRequest, "invalid expireTime: ms since the epoch expected")
		}
		expire = ms
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[no]; ok {
		for _, k := range prepayKeys {
			if o.request[k] != fields[k] {
				return nil, refuse(codeConflict, "outTradeNo %s already used with another %s", no, k)
			}
		}
		o.prepayCalls++
		s.stats.PrepayCalls++
		return map[string]any{"prepayId": o.prepayID}, nil
	}
	o := &order{
		outTradeNo:  no,
		prepayID:    "pp" + newID(),
		openid:      fields["openid"],
		mchID:       fields["mcId"],
		currency:    cur,
		amount:      money.Format(minor, cur),
		desc:        fields["desc"],
		notifyURL:   fields["notifyUrl"],
		expireTime:  expire,
		createTime:  now.UnixMilli(),
		status:      statusPending,
		prepayCalls: 1,
		request:     make(map[string]string, len(prepayKeys)),
	}
	for _, k := range prepayKeys {
		o.request[k] = fields[k]
	}
	s.orders[no] = o
	s.keepLocked(o)
	s.stats.PrepayCalls++
	return map[string]any{"prepayId": o.prepayID}, nil
}

func (s *Server) orderQuery(fields map[string]string) (any, *refusal) {
	for _, k := range []string{"nonceStr", "outTradeNo"} {
		if fields[k] == "" {
			return nil, refuse(codeBadRequest, "missing %s", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[fields["outTradeNo"]]
	if !ok {
		return nil, refuse(mos.CodeOrderNotFound, "order not found")
	}
	return o.queryData(), nil
}
