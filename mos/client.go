package mos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mospay/mospay/money"
)

// The MOS endpoints (docs/mos.md "Calls").
const (
	PathGetApplication = "/open-apis/application/v1/getApplication"
	PathCode2Session   = "/open-apis/mp/v1/auth/code2session"
	PathPrepay         = "/open-apis/mp/v1/pay/prepay"
	PathOrderQuery     = "/open-apis/mp/v1/pay/orderQuery"
)

// DefaultTimeout bounds one MOS call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxAnswer bounds how much of a MOS answer is read; real answers are a few hundred bytes.
const maxAnswer = 1 << 20

// Config holds what a Client needs to act for one mini-app.
type Config struct {
	BaseURL   string // e.g. https://mos-test.mos.me, without a trailing path
	AppKey    string
	AppSecret string // signs requests; never logged, never sent
	MchID     string // the merchant id sent as mcId on prepay
	// Timeout bounds each call (DefaultTimeout when zero); a shorter ctx deadline wins.
	Timeout time.Duration
	// HTTPClient is injectable for tests and proxies; by default a client of its own that does
	// not follow redirects (a redirected POST would silently become a GET).
	HTTPClient *http.Client
	// Logger gets one debug line per call, without bodies; nil discards.
	Logger *slog.Logger
	// Observe, if set, is told each call's outcome (for metrics): op is the call ("prepay",
	// "orderQuery", ...), outcome one of OutcomeOK, OutcomeUnavailable and OutcomeRefused.
	Observe func(op, outcome string, d time.Duration)
}

// The outcomes Config.Observe is told: MOS answered; MOS could not be reached or answered a
// server error or a timeout (IsRetryable: try again later); MOS answered and refused the call.
const (
	OutcomeOK          = "ok"
	OutcomeUnavailable = "unavailable"
	OutcomeRefused     = "refused"
)

// Client calls MOS for one mini-app. It is safe for concurrent use and never retries by
// itself: whether a failed call may be repeated is the caller's decision (see IsRetryable).
type Client struct {
	baseURL string
	appKey  string
	secret  string
	mchID   string
	timeout time.Duration
	http    *http.Client
	log     *slog.Logger
	observe func(op, outcome string, d time.Duration)
}

// NewClient builds a Client from cfg, filling in defaults.
func NewClient(cfg Config) *Client {
	c := &Client{
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		appKey:  cfg.AppKey,
		secret:  cfg.AppSecret,
		mchID:   cfg.MchID,
		timeout: cfg.Timeout,
		http:    cfg.HTTPClient,
		log:     cfg.Logger,
		observe: cfg.Observe,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// AppKey is the mini-app's key, which the front end passes to mos.pay with a prepayId.
func (c *Client) AppKey() string { return c.appKey }

// Application is what MOS knows of the mini-app. MOS also returns the appSecret, which is
// dropped on purpose: the secret comes from configuration and is held only to sign.
type Application struct {
	AppName     string
	AppKey      string
	Description string
	Status      bool
	NotifyURL   string
}

// GetApplication asks MOS about the mini-app; a cheap way to check credentials at start-up.
func (c *Client) GetApplication(ctx context.Context) (Application, error) {
	var d struct {
		AppName     string `json:"appName"`
		AppKey      string `json:"appKey"`
		Description string `json:"description"`
		Status      bool   `json:"status"`
		NotifyURL   string `json:"notifyUrl"`
	}
	if err := c.call(ctx, "getApplication", PathGetApplication, nil, &d); err != nil {
		return Application{}, err
	}
	return Application(d), nil
}

// Session is the user MOS vouches for behind a login code. MOS's sessionKey is dropped: mospay
// issues its own token and has no use for it.
type Session struct {
	OpenID string
}

// Code2Session exchanges a login code from mos.login (valid 5 minutes, single use) for the
// user's openid.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	const op = "code2session"
	if code == "" {
		return Session{}, &Error{Op: op, Message: "empty login code"}
	}
	var d struct {
		OpenID string `json:"openid"`
	}
	if err := c.call(ctx, op, PathCode2Session, map[string]string{"code": code}, &d); err != nil {
		return Session{}, err
	}
	if d.OpenID == "" {
		return Session{}, badAnswer(op, errors.New("no openid in data"))
	}
	return Session(d), nil
}

// PrepayRequest is one order to register with MOS. Repeating a prepay is safe only with the same
// OutTradeNo and the same fields.
type PrepayRequest struct {
	NonceStr    string // required: the order's own (order.NewNonce)
	Desc        string
	OutTradeNo  string
	Currency    money.Currency
	TotalAmount string // canonical decimal text, money.Format
	NotifyURL   string
	OpenID      string
	ExpireTime  time.Time // sent as ms since the epoch; omitted when zero
}

// PrepayResult is MOS's answer to a prepay: the id the front end hands to mos.pay.
type PrepayResult struct {
	PrepayID string
}

// Prepay registers an order with MOS and returns its prepayId.
func (c *Client) Prepay(ctx context.Context, r PrepayRequest) (PrepayResult, error) {
	const op = "prepay"
	fields := map[string]string{
		"mcId":        c.mchID,
		"nonceStr":    r.NonceStr,
		"desc":        r.Desc,
		"outTradeNo":  r.OutTradeNo,
		"currency":    string(r.Currency),
		"totalAmount": r.TotalAmount,
		"notifyUrl":   r.NotifyURL,
		"openid":      r.OpenID,
	}
	if r.NonceStr == "" {
		return PrepayResult{}, &Error{Op: op, Message: "empty nonceStr"}
	}
	if !r.ExpireTime.IsZero() {
		fields["expireTime"] = strconv.FormatInt(r.ExpireTime.UnixMilli(), 10)
	}
	var d struct {
		PrepayID string `json:"prepayId"`
	}
	if err := c.call(ctx, op, PathPrepay, fields, &d); err != nil {
		return PrepayResult{}, err
	}
	if d.PrepayID == "" {
		return PrepayResult{}, badAnswer(op, errors.New("no prepayId in data"))
	}
	return PrepayResult(d), nil
}

// OrderInfo is MOS's view of an order, as orderQuery reports it. Status and TotalAmount are kept
// as MOS sent them (MapStatus and Minor read them) so that an odd value can be stored and shown.
type OrderInfo struct {
	OpenID      string
	PrepayID    string
	OutTradeNo  string
	Country     string
	Currency    string
	TotalAmount string // the raw text, whether MOS sent a string or a number
	Desc        string
	Status      string // raw; see MapStatus
	ExpireTime  int64  // ms since the epoch
	CreateTime  int64  // ms since the epoch
}

// CodeOrderNotFound is the envelope code with which mospay assumes MOS answers orderQuery for an
// order it has no record of. MOS documents no code for it; the sandbox answers so, and the day a
// real MOS differs, this constant changes (docs/mos.md).
const CodeOrderNotFound = 404

// ErrOrderNotFound is orderQuery's answer for an order MOS has no record of (CodeOrderNotFound):
// a prepay that never reached MOS.
var ErrOrderNotFound = errors.New("mos: no such order")

// OrderQuery asks MOS for the order's current state. It is idempotent, so callers may repeat it
// freely. nonceStr is required (the order's own). An order MOS has no record of is an *Error
// wrapping ErrOrderNotFound.
func (c *Client) OrderQuery(ctx context.Context, outTradeNo, nonceStr string) (OrderInfo, error) {
	const op = "orderQuery"
	if nonceStr == "" {
		return OrderInfo{}, &Error{Op: op, Message: "empty nonceStr"}
	}
	var d struct {
		OpenID      string      `json:"openid"`
		PrepayID    string      `json:"prepayId"`
		OutTradeNo  string      `json:"outTradeNo"`
		Country     string      `json:"country"`
		Currency    string      `json:"currency"`
		TotalAmount text        `json:"totalAmount"`
		Desc        string      `json:"desc"`
		Status      string      `json:"status"`
		ExpireTime  json.Number `json:"expireTime"`
		CreateTime  json.Number `json:"createTime"`
	}
	fields := map[string]string{"outTradeNo": outTradeNo, "nonceStr": nonceStr}
	if err := c.call(ctx, op, PathOrderQuery, fields, &d); err != nil {
		var e *Error
		if errors.As(err, &e) && !e.Retryable && e.Code == CodeOrderNotFound {
			e.Err = ErrOrderNotFound
		}
		return OrderInfo{}, err
	}
	info := OrderInfo{
		OpenID:      d.OpenID,
		PrepayID:    d.PrepayID,
		OutTradeNo:  d.OutTradeNo,
		Country:     d.Country,
		Currency:    d.Currency,
		TotalAmount: string(d.TotalAmount),
		Desc:        d.Desc,
		Status:      d.Status,
	}
	var err error
	if info.ExpireTime, err = millis(d.ExpireTime); err != nil {
		return OrderInfo{}, badAnswer(op, fmt.Errorf("expireTime: %w", err))
	}
	if info.CreateTime, err = millis(d.CreateTime); err != nil {
		return OrderInfo{}, badAnswer(op, fmt.Errorf("createTime: %w", err))
	}
	if info.OutTradeNo == "" || info.Status == "" {
		return OrderInfo{}, badAnswer(op, errors.New("no outTradeNo or status in data"))
	}
	return info, nil
}

// millis reads a time in ms from its decimal text; absent is zero.
func millis(n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	return strconv.ParseInt(string(n), 10, 64)
}

// text accepts a JSON string or number and keeps its text, never passing through float64.
type text string

// UnmarshalJSON keeps a string's value or a number's literal text; null leaves it empty.
func (t *text) UnmarshalJSON(b []byte) error {
	v, _, err := fieldText(b)
	if err != nil {
		return err
	}
	*t = text(v)
	return nil
}

// envelope is MOS's answer around every result.
type envelope struct {
	Code    json.RawMessage `json:"code"`
	Message json.RawMessage `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call signs fields, POSTs them to path and decodes the envelope's data into out.
func (c *Client) call(ctx context.Context, op, path string, fields map[string]string, out any) (err error) {
	start := time.Now()
	status, code := 0, 0
	defer func() {
		c.log.LogAttrs(ctx, slog.LevelDebug, "mos call",
			slog.String("op", op),
			slog.Int("http_status", status),
			slog.Int("code", code),
			slog.Int64("duration_ms", time.Since(start).Milliseconds()),
			slog.Bool("ok", err == nil),
			slog.Bool("retryable", IsRetryable(err)))
		if c.observe != nil {
			outcome := OutcomeOK
			switch {
			case err == nil:
			case IsRetryable(err):
				outcome = OutcomeUnavailable
			default:
				outcome = OutcomeRefused
			}
			c.observe(op, outcome, time.Since(start))
		}
	}()

	body := make(map[string]string, len(fields)+2)
	for k, v := range fields {
		if v != "" {
			body[k] = v
		}
	}
	body["appKey"] = c.appKey
	body[SignField] = Sign(body, c.secret)
	payload, err := json.Marshal(body)
	if err != nil {
		return &Error{Op: op, Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(payload))
	if err != nil {
		return &Error{Op: op, Err: err} // a bad BaseURL: no retry will fix it
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Op: op, Retryable: true, Err: err}
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err == nil && len(raw) > maxAnswer {
		err = errors.New("answer too large")
	}
	if err != nil {
		return &Error{Op: op, Retryable: true, HTTPStatus: status, Err: fmt.Errorf("reading answer: %w", err)}
	}

	var env envelope
	envErr := json.Unmarshal(raw, &env)
	msg := envelopeMessage(env.Message)
	code, codeErr := envelopeCode(env.Code)
	if status != http.StatusOK {
		e := &Error{Op: op, HTTPStatus: status, Message: msg, Err: fmt.Errorf("HTTP %s", http.StatusText(status))}
		if envErr == nil && codeErr == nil {
			e.Code = code
		}
		e.Retryable = status >= 500 || status == http.StatusTooManyRequests
		return e
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return badAnswer(op, errors.New("empty answer"))
	}
	if envErr != nil {
		return badAnswer(op, fmt.Errorf("not a JSON envelope: %w", envErr))
	}
	if codeErr != nil {
		return badAnswer(op, codeErr)
	}
	if code != 200 {
		return &Error{Op: op, HTTPStatus: status, Code: code, Message: msg}
	}
	if out == nil {
		return nil
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return badAnswer(op, errors.New("no data"))
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return badAnswer(op, fmt.Errorf("data: %w", err))
	}
	return nil
}

// badAnswer is an HTTP 200 answer that is not a readable envelope. It counts as retryable, like
// an unreadable body: MOS (or something in front of it) misbehaved, and MOS has not refused the
// request. Only orderQuery and a prepay with the same outTradeNo are ever repeated by callers.
func badAnswer(op string, err error) *Error {
	return &Error{Op: op, Retryable: true, HTTPStatus: http.StatusOK, Message: "malformed MOS answer", Err: err}
}

// envelopeCode reads the envelope's code, a JSON number or a string of digits.
func envelopeCode(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("envelope without code")
	}
	s, _, err := fieldText(raw)
	if err != nil {
		return 0, fmt.Errorf("envelope code: %w", err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("envelope code %q: %w", s, err)
	}
	return n, nil
}

// envelopeMessage reads the envelope's message as text, bounded so that a hostile answer cannot
// flood logs or error strings.
func envelopeMessage(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	s, _, err := fieldText(raw)
	if err != nil {
		return ""
	}
	const max = 256
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
