package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Client sends the tests' requests. Every exchange with mospay's API (a URL under api) is held
// against the OpenAPI document (see contract.check); a mismatch fails the test. Safe for
// concurrent use.
type Client struct {
	t    testing.TB
	http *http.Client
	api  string // mospay's base URL; "" checks nothing
}

// NewClient returns a client for the mospay at api whose every request times out after WaitFor.
func NewClient(t testing.TB, api string) *Client {
	return &Client{t: t, http: &http.Client{Timeout: WaitFor}, api: api}
}

// Response is one HTTP answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode reads the answer's JSON into v, failing the test if it is not JSON.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer is not JSON (%v): HTTP %d %s", err, r.Status, r.Body)
	}
}

// APIError is mospay's error format.
type APIError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WantError asserts the answer is status with mospay's error body of code, and nothing else.
func (r Response) WantError(t testing.TB, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("HTTP %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	var e APIError
	r.Decode(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error body %s, want code %q and a message", r.Body, code)
	}
	var raw map[string]json.RawMessage
	r.Decode(t, &raw)
	if len(raw) != 1 {
		t.Fatalf("error body %s has keys besides \"error\"", r.Body)
	}
}

// Do sends one request; body is sent as is when it is a string or []byte, else as JSON.
// Safe to call from several goroutines: failures are returned, never t.Fatal.
func (c *Client) Do(method, url string, body any, hdr map[string]string) (Response, error) {
	return c.DoContext(context.Background(), method, url, body, hdr)
}

// DoContext is Do, given up when ctx ends (a load that stops while its requests are open).
func (c *Client) DoContext(ctx context.Context, method, url string, body any, hdr map[string]string) (Response, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		raw = j
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return Response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	res := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if c.api != "" && strings.HasPrefix(url, c.api+"/") {
		ct, err := loadContract()
		if err == nil {
			err = ct.check(req, raw, res)
		}
		if err != nil {
			c.t.Errorf("OpenAPI: %v", err)
		}
	}
	return res, nil
}

// Must is Do that fails the test on a transport error; only from the test's goroutine.
func (c *Client) Must(t testing.TB, method, url string, body any, hdr map[string]string) Response {
	t.Helper()
	r, err := c.Do(method, url, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// Bearer is an Authorization header for token.
func Bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// MOSAnswer is the envelope /mos/notify answers with.
type MOSAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// WantMOSAnswer asserts /mos/notify answered status in MOS's envelope with the same code.
func WantMOSAnswer(t testing.TB, r Response, status int) {
	t.Helper()
	var a MOSAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil || r.Status != status || a.Code != status || a.Message == "" {
		t.Fatalf("/mos/notify answered HTTP %d %s, want %d {\"code\":%d,\"message\":...}", r.Status, r.Body, status, status)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(r.Body, &raw)
	if len(raw) != 2 {
		t.Fatalf("/mos/notify answer %s: want exactly code and message", r.Body)
	}
}
