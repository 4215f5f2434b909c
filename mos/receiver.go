package mos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/mospay/mospay/order"
)

// NotifyPath is where mospay receives MOS's notifications, under its public URL: notifyUrl is
// the public URL + NotifyPath. The API mounts the Receiver here and the sandbox finds mospay's
// API by it, so that the path is written once.
const NotifyPath = "/mos/notify"

// Notifier is the order service's handling of a verified notification.
type Notifier interface {
	Notify(ctx context.Context, n order.Notification) (outcome string, err error)
}

// Receiver answers MOS's POSTs to notifyUrl (mounted at NotifyPath). It verifies the signature
// over the raw body before anything else (ParseNotification), hands the verified fields to the order service, and answers in MOS's envelope:
// 200 {"code":200,"message":"SUCCESS"} only once the effect is committed; 400 malformed; 401 bad
// signature or appKey; 404 unknown order; 413 too large; 503 when MOS or the database is
// unavailable, so that MOS delivers again later.
type Receiver struct {
	AppKey  string
	Secret  string
	Service Notifier
	Log     *slog.Logger
	MaxBody int64
	// Count, if set, is told each notification's outcome (for metrics): the service's outcome,
	// or bad_signature, malformed, too_large, invalid, unknown_order, unavailable, failed.
	Count func(outcome string)
}

func (rc *Receiver) count(outcome string) {
	if rc.Count != nil {
		rc.Count(outcome)
	}
}

// Answer is MOS's envelope, the only shape NotifyPath ever answers with.
type Answer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ServeHTTP handles one notification.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := rc.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	requestID := w.Header().Get("X-Request-Id")
	if r.Method != http.MethodPost {
		answer(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	limit := rc.MaxBody
	if limit <= 0 {
		limit = 1 << 20
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			rc.count("too_large")
			answer(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		rc.count("malformed")
		answer(w, http.StatusBadRequest, "unreadable body")
		return
	}
	n, err := ParseNotification(r.Header.Get("Content-Type"), body, rc.AppKey, rc.Secret)
	if errors.Is(err, ErrBadSignature) {
		log.Warn("notification refused: bad signature", "request_id", requestID, "remote_ip", r.RemoteAddr)
		rc.count("bad_signature")
		answer(w, http.StatusUnauthorized, "invalid signature")
		return
	}
	if err != nil {
		log.Warn("notification refused: malformed", "request_id", requestID, "err", err)
		rc.count("malformed")
		answer(w, http.StatusBadRequest, "malformed notification")
		return
	}
	n.RequestID = requestID
	outcome, err := rc.Service.Notify(r.Context(), n)
	switch order.ErrorCode(err) {
	case "":
		rc.count(outcome)
		log.Info("notification handled", "request_id", requestID, "out_trade_no", n.OutTradeNo, "outcome", outcome)
		answer(w, http.StatusOK, "SUCCESS")
	case order.EINVALID:
		rc.count("invalid")
		answer(w, http.StatusBadRequest, order.ErrorMessage(err))
	case order.ENOTFOUND:
		rc.count("unknown_order")
		log.Warn("notification for an unknown order", "request_id", requestID, "out_trade_no", n.OutTradeNo)
		answer(w, http.StatusNotFound, "unknown order")
	case order.EUNAVAILABLE:
		rc.count("unavailable")
		log.Warn("notification deferred", "request_id", requestID, "out_trade_no", n.OutTradeNo, "err", err)
		answer(w, http.StatusServiceUnavailable, "temporarily unavailable, retry later")
	default:
		rc.count("failed")
		log.Error("notification failed", "request_id", requestID, "out_trade_no", n.OutTradeNo, "err", err)
		answer(w, http.StatusInternalServerError, "internal error")
	}
}

func answer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Answer{Code: status, Message: msg})
}
