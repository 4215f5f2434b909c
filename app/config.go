package app

import (
	"net"
	"slices"
	"time"

	"github.com/mospay/mospay/api"
	"github.com/mospay/mospay/money"
	"github.com/mospay/mospay/mos"
	"github.com/mospay/mospay/order"
	"github.com/mospay/mospay/scheduler"
	"github.com/mospay/mospay/webhook"
)

// Config is mospay's whole configuration, read and validated once by cmd/mospay (from the
// environment and flags) and passed down explicitly; nothing below reads the environment. The
// docs/operations.md "Configuration" lists each variable.
type Config struct {
	HTTPAddr       string // the API's listen address; port 0 picks a free one
	DatabaseURL    string // "sqlite:PATH" or "postgres://..."
	PublicURL      string // the base URL MOS reaches us at; "" = http:// + the API's address
	MOSBaseURL     string // "" with Sandbox: the embedded sandbox
	MOSAppKey      string
	MOSAppSecret   string
	MOSMchID       string
	JWTSecret      string
	JWTTTL         time.Duration
	AdminTokens    []api.AdminToken
	CORSOrigins    []string
	TrustedProxies []*net.IPNet
	OrderTTL       time.Duration
	ReconcileEvery string
	ReconcileConc  int
	ReconcileFirst time.Duration
	PrepayGiveUp   time.Duration // a CREATED order MOS has no record of this long after creation is FAILED
	RefundWindow   time.Duration // how long a PAID order is still checked for a refund
	ReconcileRate  float64
	SandboxAddr    string // the embedded sandbox's listen address (with Sandbox); port 0 picks one
	MOSTimeout     time.Duration
	MaxBody        int64
	ReportTZ       *time.Location
	MaxAmount      map[money.Currency]int64
	DebugAddr      string  // pprof's listener, loopback only; "" = off
	OpsAddr        string  // a listener for /metrics, /healthz, /readyz; "" = /metrics on HTTPAddr
	UserRate       float64 // /mp requests per second per user; 0 = no limit
	UserBurst      int

	// WebhookURLs receive every order event, signed with every one of WebhookSecrets, retried
	// after each of WebhookRetry's delays; EventRetention is how long delivered events' attempts
	// are kept.
	WebhookURLs    []string
	WebhookSecrets []webhook.Secret
	WebhookRetry   []time.Duration
	EventRetention time.Duration

	// ClientAmounts lets a mini-app choose an order's amount (MOSPAY_CLIENT_AMOUNTS; serve
	// --sandbox turns it on); MerchantKeys are the merchant API's keys (MOSPAY_MERCHANT_KEYS).
	ClientAmounts bool
	MerchantKeys  []api.MerchantKey
	// MerchantRate and MerchantBurst limit each merchant key's requests (0: the API's defaults);
	// tests lower them.
	MerchantRate  float64
	MerchantBurst int

	// Sandbox is `serve --sandbox`: MOS is the embedded sandbox.
	Sandbox bool
	// SandboxRetryScale multiplies the embedded sandbox's notification retry schedule (1, the
	// real one, when zero); tests shorten it.
	SandboxRetryScale float64
	// SandboxStateFile keeps the sandbox's orders across restarts ("" = in memory only).
	SandboxStateFile string
}

// DefaultConfig is mospay's configuration before the environment and flags change it: every
// default stated once, most of them by the package that uses the value. The configuration table
// of cmd/mospay shows and parses these, and app/apptest starts from them.
func DefaultConfig() Config {
	sch := order.DefaultSchedule()
	return Config{
		HTTPAddr:       "127.0.0.1:8080",
		DatabaseURL:    "sqlite:data/mospay.db",
		SandboxAddr:    "127.0.0.1:8081",
		JWTTTL:         api.DefaultTokenTTL,
		OrderTTL:       order.DefaultOrderTTL,
		MaxAmount:      order.DefaultMaxAmount(),
		ReconcileEvery: scheduler.DefaultEvery,
		ReconcileConc:  scheduler.DefaultConcurrency,
		ReconcileRate:  scheduler.DefaultRate,
		ReconcileFirst: sch.First,
		PrepayGiveUp:   sch.GiveUp,
		RefundWindow:   sch.RefundWindow,
		MOSTimeout:     mos.DefaultTimeout,
		MaxBody:        order.DefaultMaxBody,
		ReportTZ:       time.UTC,
		UserRate:       float64(api.DefaultUserRate),
		UserBurst:      api.DefaultUserBurst,
		WebhookRetry:   slices.Clone(webhook.DefaultRetry),
		EventRetention: webhook.DefaultRetention,
	}
}

// notifyURL is the notifyUrl sent with every prepay: the public URL, or the API's own address
// when none is configured, + mos.NotifyPath. It is built here alone.
func notifyURL(publicURL, apiAddr string) string {
	if publicURL == "" {
		publicURL = "http://" + apiAddr
	}
	return publicURL + mos.NotifyPath
}
