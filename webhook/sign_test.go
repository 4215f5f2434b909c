package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks reference implementations' own test vectors (their Go and Rust
// libraries): a receiver using any of them verifies what mospay signs.
var vectors = []struct {
	name, secret, id string
	ts               int64
	body, signature  string
}{
	{"go library", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		`{"test": 2432232314}`, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	{"rust library", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
		`{"email":"test@example.com","username":"test_user"}`, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
}

func mustSecret(t *testing.T, s string) Secret {
	t.Helper()
	sec, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignMatchesStandardWebhooksVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			sec := mustSecret(t, v.secret)
			got := Sign([]Secret{sec}, v.id, time.Unix(v.ts, 0), []byte(v.body))
			if got != v.signature {
				t.Fatalf("signature %s, want %s", got, v.signature)
			}
			at := time.Unix(v.ts, 0)
			if err := Verify([]Secret{sec}, headers(v.id, v.ts, got), []byte(v.body), at, DefaultTolerance); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

// TestVerifyRefuses: what a receiver must refuse, and what it must accept while secrets rotate.
func TestVerifyRefuses(t *testing.T) {
	v := vectors[0]
	oldSec, newSec := mustSecret(t, vectors[0].secret), mustSecret(t, vectors[1].secret)
	at := time.Unix(v.ts, 0)
	body := []byte(v.body)
	both := Sign([]Secret{newSec, oldSec}, v.id, at, body)
	if n := len(strings.Fields(both)); n != 2 {
		t.Fatalf("two secrets give %d signatures: %q", n, both)
	}
	tests := []struct {
		name    string
		secrets []Secret
		h       http.Header
		body    string
		now     time.Time
		want    error
	}{
		{"rotation: old secret", []Secret{oldSec}, headers(v.id, v.ts, both), v.body, at, nil},
		{"rotation: new secret", []Secret{newSec}, headers(v.id, v.ts, both), v.body, at, nil},
		{"4 min late", []Secret{oldSec}, headers(v.id, v.ts, v.signature), v.body, at.Add(4 * time.Minute), nil},
		{"6 min late: a replay", []Secret{oldSec}, headers(v.id, v.ts, v.signature), v.body, at.Add(6 * time.Minute), ErrTimestamp},
		{"6 min early", []Secret{oldSec}, headers(v.id, v.ts, v.signature), v.body, at.Add(-6 * time.Minute), ErrTimestamp},
		{"body changed", []Secret{oldSec}, headers(v.id, v.ts, v.signature), v.body + " ", at, ErrSignature},
		{"id changed", []Secret{oldSec}, headers("msg_other", v.ts, v.signature), v.body, at, ErrSignature},
		{"timestamp changed", []Secret{oldSec}, headers(v.id, v.ts+1, v.signature), v.body, at, ErrSignature},
		{"wrong secret", []Secret{newSec}, headers(v.id, v.ts, v.signature), v.body, at, ErrSignature},
		{"other version", []Secret{oldSec}, headers(v.id, v.ts, strings.Replace(v.signature, "v1,", "v2,", 1)), v.body, at, ErrSignature},
		{"no signature", []Secret{oldSec}, headers(v.id, v.ts, ""), v.body, at, ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.secrets, tt.h, []byte(tt.body), tt.now, DefaultTolerance)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	tests := []struct {
		in, err string
		n       int
	}{
		{vectors[0].secret, "", 1},
		{vectors[0].secret + ", " + vectors[1].secret, "", 2},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `starts with "whsec_"`, 0},
		{"whsec_###", "base64", 0},
		{"whsec_c2hvcnQ=", "24 to 64 bytes", 0},
		{vectors[0].secret + ",whsec_c2hvcnQ=", "secret 2", 0},
		{" , ", "no secret", 0},
	}
	for _, tt := range tests {
		got, err := ParseSecrets(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "c2hvcnQ") {
				t.Errorf("%q: the error repeats the secret: %v", tt.in, err)
			}
			continue
		}
		if err != nil || len(got) != tt.n {
			t.Errorf("%q: %d secrets, %v; want %d", tt.in, len(got), err, tt.n)
		}
	}
}

// TestReferenceLibraryAgrees: the Standard Webhooks reference library (Go) verifies what mospay
// signs, with each of two rotating secrets, and mospay's Verify accepts what the reference signs.
func TestReferenceLibraryAgrees(t *testing.T) {
	ours := []Secret{mustSecret(t, vectors[0].secret), mustSecret(t, vectors[1].secret)}
	body := []byte(`{"type":"order.paid","timestamp":"2026-11-30T07:00:00Z","data":{"order":{"outTradeNo":"o1"}}}`)
	now := time.Now()
	h := http.Header{}
	h.Set(HeaderID, "evt_0123")
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, Sign(ours, "evt_0123", now, body))
	for _, v := range vectors {
		ref, err := standardwebhooks.NewWebhook(v.secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.Verify(body, h); err != nil {
			t.Errorf("the reference library refuses our signature (secret of %s): %v", v.name, err)
		}
		sig, err := ref.Sign("evt_0123", now, body)
		if err != nil {
			t.Fatal(err)
		}
		rh := h.Clone()
		rh.Set(HeaderSignature, sig)
		if err := Verify(ours, rh, body, now, DefaultTolerance); err != nil {
			t.Errorf("Verify refuses the reference library's signature (secret of %s): %v", v.name, err)
		}
	}
	ref, _ := standardwebhooks.NewWebhook(vectors[0].secret)
	if err := ref.Verify(append(body, ' '), h); err == nil {
		t.Error("the reference library accepts a changed body: the test proves nothing")
	}
}
