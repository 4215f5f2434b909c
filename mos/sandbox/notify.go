package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/mospay/mospay/mos"
)

// retrySchedule is the wait before each redelivery of an unacknowledged notification
// (docs/mos.md "Notifications": WeChat Pay v2's), multiplied by Config.RetryScale. A
// notification is tried at most len(retrySchedule)+1 times.
var retrySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// defaultReorderWindow is how long reordered notifications are held when no delay is set.
const defaultReorderWindow = 500 * time.Millisecond

// delivery is one notification on its way: its body is fixed when it is triggered, as a real
// provider's would be, so a late retry still says what was true then.
type delivery struct {
	outTradeNo string
	url        string
	body       []byte
}

// notifyLocked builds o's notification and starts its delivery, subject to the notification
// faults. status and overrides, when given, replace fields of the body; an override of null
// removes the field and an override of "sign" is sent instead of the real signature. s.mu is held.
func (s *Server) notifyLocked(o *order, status *string, overrides map[string]json.RawMessage) error {
	body, err := s.notificationBody(o, status, overrides)
	if err != nil {
		return err
	}
	o.notifications++
	if s.closed {
		return nil
	}
	d := delivery{outTradeNo: o.outTradeNo, url: o.notifyURL, body: body}
	f := s.faults
	if f.DropNotifications > 0 && rand.Float64() < f.DropNotifications {
		s.stats.NotificationsDropped++
		s.log.Info("sandbox dropped a notification", slog.String("out_trade_no", o.outTradeNo))
		return nil
	}
	copies := []delivery{d}
	if f.DuplicateNotifications > 0 && rand.Float64() < f.DuplicateNotifications {
		copies = append(copies, d)
		s.stats.NotificationsDuplicated++
	}
	delay := time.Duration(f.DelayNotificationsMs) * time.Millisecond
	if f.ReorderNotifications {
		s.held = append(s.held, copies...)
		window := delay
		if window == 0 {
			window = defaultReorderWindow
		}
		if s.holdTimer == nil {
			s.holdTimer = time.AfterFunc(window, s.flushHeld)
		} else {
			s.holdTimer.Reset(window)
		}
		return nil
	}
	for _, c := range copies {
		s.wg.Add(1)
		go s.deliver(c, delay, 0)
	}
	return nil
}

// notificationBody is the JSON of a notification (docs/mos.md "Notifications"): the
// orderQuery data fields, appKey, a fresh nonceStr and the sign over all of them.
func (s *Server) notificationBody(o *order, status *string, overrides map[string]json.RawMessage) ([]byte, error) {
	data := o.queryData()
	if status != nil {
		data["status"] = *status
	}
	data["appKey"] = s.cfg.AppKey
	data["nonceStr"] = newID()
	body := make(map[string]json.RawMessage, len(data)+len(overrides)+1)
	for k, v := range data {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body[k] = raw
	}
	for k, v := range overrides {
		if string(bytes.TrimSpace(v)) == "null" {
			delete(body, k)
			continue
		}
		body[k] = v
	}
	if _, ok := body[mos.SignField]; !ok {
		unsigned, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("notification fields: %w", err)
		}
		// Sign exactly what is sent, read back the way a receiver reads it.
		fields, err := mos.DecodeFields("application/json", unsigned)
		if err != nil {
			return nil, fmt.Errorf("notification fields: %w", err)
		}
		sign, _ := json.Marshal(mos.Sign(fields, s.cfg.AppSecret))
		body[mos.SignField] = sign
	}
	return json.Marshal(body)
}

// flushHeld sends the notifications held for reordering, newest first.
func (s *Server) flushHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holdTimer != nil {
		s.holdTimer.Stop()
		s.holdTimer = nil
	}
	if s.closed || len(s.held) == 0 {
		return
	}
	held := s.held
	s.held = nil
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := len(held) - 1; i >= 0; i-- {
			if s.ctx.Err() != nil {
				return
			}
			if s.attempt(held[i]) {
				continue
			}
			s.wg.Add(1) // this goroutine still counts, so Close cannot be past Wait
			go s.deliver(held[i], s.scaled(retrySchedule[0]), 1)
		}
	}()
}

// deliver waits, then tries d until it is acknowledged or the schedule from next on is spent.
func (s *Server) deliver(d delivery, wait time.Duration, next int) {
	defer s.wg.Done()
	for i := next; ; i++ {
		if !s.sleep(wait) {
			return
		}
		if s.attempt(d) {
			return
		}
		if i >= len(retrySchedule) {
			s.log.Warn("sandbox gave up a notification", slog.String("out_trade_no", d.outTradeNo), slog.Int("attempts", len(retrySchedule)+1))
			return
		}
		wait = s.scaled(retrySchedule[i])
	}
}

func (s *Server) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.RetryScale)
}

// sleep waits d unless the sandbox closes; it reports whether the sandbox is still open.
func (s *Server) sleep(d time.Duration) bool {
	if s.ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// maxAck bounds how much of a receiver's answer is read.
const maxAck = 64 << 10

// attempt POSTs d once; it reports whether the receiver acknowledged it with HTTP 200 and
// {"code":200,...} (docs/mos.md "Notifications").
func (s *Server) attempt(d delivery) bool {
	s.mu.Lock()
	s.stats.NotificationsSent++
	if o := s.orders[d.outTradeNo]; o != nil {
		o.notifyAttempts++
	}
	s.mu.Unlock()

	status, ack, err := s.post(d)
	if ack {
		s.mu.Lock()
		s.stats.NotificationsAcked++
		if o := s.orders[d.outTradeNo]; o != nil {
			o.notifyAcked++
		}
		s.mu.Unlock()
	}
	attrs := []slog.Attr{slog.String("out_trade_no", d.outTradeNo), slog.Int("http_status", status), slog.Bool("acked", ack)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(s.ctx, slog.LevelInfo, "sandbox notification", attrs...)
	return ack
}

func (s *Server) post(d delivery) (status int, ack bool, err error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAck))
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, false, err
	}
	return resp.StatusCode, isAck(b), nil
}

// isAck reports whether an answer body is MOS's envelope with code 200 (a number or "200").
func isAck(b []byte) bool {
	var env struct {
		Code json.RawMessage `json:"code"`
	}
	if json.Unmarshal(b, &env) != nil {
		return false
	}
	c := string(bytes.TrimSpace(env.Code))
	return c == "200" || c == `"200"`
}
