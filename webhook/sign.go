package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Order events are signed as Standard Webhooks (https://www.standardwebhooks.com) sign them, so
// that a receiver can verify them with any of the standard's libraries: three headers,
//
//	webhook-id:        the event id, the same on every attempt (the receiver's dedupe key)
//	webhook-timestamp: the attempt's time, in seconds since the epoch
//	webhook-signature: "v1," and the base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body),
//	                   once per secret, separated by spaces
//
// where key is the secret's base64 part decoded. Several secrets sign at once while the receiver
// moves from an old secret to a new one.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"

	secretPrefix = "whsec_"
	// DefaultTolerance is how far a timestamp may be from the receiver's clock, either way.
	DefaultTolerance = 5 * time.Minute
)

// Secret is an order-event signing secret: "whsec_" and the base64 of 24 to 64 random bytes.
type Secret struct{ key []byte }

// ParseSecret parses one secret. The error never repeats the secret.
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return Secret{}, errors.New(`a secret starts with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Secret{}, errors.New(`a secret is "whsec_" and standard base64`)
	}
	if len(key) < 24 || len(key) > 64 {
		return Secret{}, fmt.Errorf("a secret holds 24 to 64 bytes, this one %d", len(key))
	}
	return Secret{key: key}, nil
}

// ParseSecrets parses a comma-separated list of secrets; every one signs each attempt.
func ParseSecrets(list string) ([]Secret, error) {
	var out []Secret
	for i, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		sec, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		out = append(out, sec)
	}
	if len(out) == 0 {
		return nil, errors.New("no secret given")
	}
	return out, nil
}

// sign is one v1 signature.
func (s Secret) sign(id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign is the webhook-signature header for body sent as event id at ts: one "v1,<base64>" per
// secret, separated by spaces.
func Sign(secrets []Secret, id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(s.sign(id, ts.Unix(), body))
	}
	return strings.Join(sigs, " ")
}

// Verification errors.
var (
	ErrMissingHeaders = errors.New("webhook: a webhook-id, webhook-timestamp or webhook-signature header is missing")
	ErrTimestamp      = errors.New("webhook: the timestamp is not within the tolerance of now")
	ErrSignature      = errors.New("webhook: no signature matches")
)

// Verify checks a received order event as a receiver would: the timestamp within tolerance of now
// (either way: an old one may be a replay), and one of the v1 signatures made with one of secrets,
// compared in constant time. mospay's own tests verify what it sends with it; a receiver in Go may
// copy it, or use any Standard Webhooks library.
func Verify(secrets []Secret, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	for _, s := range secrets {
		want := s.sign(id, ts, body)
		for _, sig := range strings.Fields(sigs) {
			b64, ok := strings.CutPrefix(sig, "v1,")
			if !ok {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
