package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
)

// decodeBody reads an optional JSON control body into v, refusing unknown fields; an empty body
// leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// handleLoginCode plays mos.login: POST /sandbox/login-codes {"openid"} -> {"code","openid"}.
// Without an openid, a new user is made up.
func (s *Server) handleLoginCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OpenID string `json:"openid"`
	}
	if err := decodeBody(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if in.OpenID == "" {
		in.OpenID = "o" + newID()
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": s.NewLoginCode(in.OpenID), "openid": in.OpenID})
}

func (s *Server) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Order(r.PathValue("outTradeNo"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "order not found")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// handleTransition moves an order to status from one of the allowed ones, playing the user or
// MOS; notify sends the notification that MOS would.
func (s *Server) handleTransition(to string, notify bool, from ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.withOrder(w, r, func(o *order) *controlError {
			if !slices.Contains(from, o.status) {
				return &controlError{http.StatusConflict, "conflict", "order is " + o.status + "; " + to + " needs one of " + strings.Join(from, ", ")}
			}
			o.status = to
			s.keepLocked(o)
			if notify {
				if err := s.notifyLocked(o, nil, nil); err != nil {
					return &controlError{http.StatusInternalServerError, "internal", err.Error()}
				}
			}
			return nil
		})
	}
}

// controlError is a refusal of the control API.
type controlError struct {
	status        int
	code, message string
}

// withOrder runs fn on the order named in the path under the lock, then answers its view or
// fn's error once the lock is released.
func (s *Server) withOrder(w http.ResponseWriter, r *http.Request, fn func(o *order) *controlError) {
	view, cerr := func() (OrderView, *controlError) {
		s.mu.Lock()
		defer s.mu.Unlock()
		o, ok := s.orders[r.PathValue("outTradeNo")]
		if !ok {
			return OrderView{}, &controlError{http.StatusNotFound, "not_found", "order not found"}
		}
		if err := fn(o); err != nil {
			return OrderView{}, err
		}
		return o.view(), nil
	}()
	if cerr != nil {
		writeError(w, cerr.status, cerr.code, cerr.message)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// handlePatchOrder forces what orderQuery reports: any raw status, any amount text; "notify"
// also sends a notification with those fields.
func (s *Server) handlePatchOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Status      *string `json:"status"`
		TotalAmount *string `json:"totalAmount"`
		Notify      bool    `json:"notify"`
	}
	if err := decodeBody(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.withOrder(w, r, func(o *order) *controlError {
		if in.Status != nil {
			o.status = *in.Status
		}
		if in.TotalAmount != nil {
			o.reportedAmount = *in.TotalAmount
		}
		s.keepLocked(o)
		if in.Notify {
			if err := s.notifyLocked(o, nil, nil); err != nil {
				return &controlError{http.StatusInternalServerError, "internal", err.Error()}
			}
		}
		return nil
	})
}

// handleNotify sends one notification now without changing the order: "status" and "fields"
// override what it says (a field set to null is left out; "sign" replaces the real signature).
func (s *Server) handleNotify(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Fields map[string]json.RawMessage `json:"fields"`
		Status *string                    `json:"status"`
	}
	if err := decodeBody(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.withOrder(w, r, func(o *order) *controlError {
		if err := s.notifyLocked(o, in.Status, in.Fields); err != nil {
			return &controlError{http.StatusBadRequest, "invalid_request", err.Error()}
		}
		return nil
	})
}

func (s *Server) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := decodeBody(r, &f); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) handleDeleteFaults(w http.ResponseWriter, _ *http.Request) {
	_ = s.SetFaults(Faults{})
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}
