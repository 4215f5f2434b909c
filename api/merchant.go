package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mospay/mospay/order"
	"golang.org/x/time/rate"
)

// The merchant API (/merchant): the merchant's own backend, server to server, with a merchant
// key. It sets the price; the mini-app only pays. See docs/merchant.md.

// MerchantKey is one merchant backend's bearer key; Name is what the orders it makes and the
// audit trail record. The key itself is never logged.
type MerchantKey struct {
	Name string
	Key  string
}

// MinMerchantKey is the shortest merchant key start-up accepts.
const MinMerchantKey = 32

// Each merchant key's requests per second and burst when Config leaves them zero: a backend
// creates orders as its users check out, far below this; a leaked key cannot flood MOS.
const (
	DefaultMerchantRate  rate.Limit = 50
	DefaultMerchantBurst int        = 100
)

// MerchantOrders is the order service as the merchant API uses it (order.Service implements it).
type MerchantOrders interface {
	CreateForMerchant(ctx context.Context, r order.MerchantCreateRequest) (*order.Order, bool, error)
	MerchantOrder(ctx context.Context, merchant, outTradeNo string) (*order.Order, error)
	List(ctx context.Context, f order.ListFilter) (order.Page, error)
}

// requireMerchant lets through a request bearing one of the configured merchant keys, compared
// in constant time against all of them, and records the key's name for merchantOf. Anything else
// (a mini-app token, an admin token, no key) is 401; with no key configured every request is.
// Failed attempts count towards the address's limit of failed authentications, as admin's do.
func (s *Server) requireMerchant(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		tok, _ := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		name := secretName(tok, s.cfg.MerchantKeys, func(k MerchantKey) (string, string) { return k.Name, k.Key })
		if name == "" {
			return s.refuseBearer(c, "merchant_auth", "mospay-merchant",
				"too many failed authentications from this address; wait", "a merchant key is required")
		}
		c.Set("merchant", name)
		return next(c)
	}
}

func merchantOf(c echo.Context) string {
	name, _ := c.Get("merchant").(string)
	return name
}

// merchantLimit limits each merchant key's requests (Config.MerchantRate, MerchantBurst); it
// sits behind requireMerchant, keyed by the key's name, per instance.
func (s *Server) merchantLimit() echo.MiddlewareFunc {
	r, burst := s.cfg.MerchantRate, s.cfg.MerchantBurst
	if r <= 0 {
		r = DefaultMerchantRate
	}
	if burst <= 0 {
		burst = DefaultMerchantBurst
	}
	return s.keyedLimit(r, burst, merchantOf,
		"merchant", time.Duration(float64(time.Second)/float64(r)), "too many requests for this merchant key; slow down")
}

// verifyBody is POST /merchant/users/verify.
type verifyBody struct {
	Token string `json:"token"`
}

// VerifiedUserJSON is who a mini-app token stands for, as the merchant's backend learns it.
type VerifiedUserJSON struct {
	UserID       string `json:"userId"`
	OpenID       string `json:"openid"`
	LanguageType string `json:"languageType"`
}

// merchantVerify is POST /merchant/users/verify: the merchant's backend checks the mini-app token
// its front end sent it, as requireUser would, and learns the user. A bad, expired or revoked
// token is 401.
func (s *Server) merchantVerify(c echo.Context) error {
	var b verifyBody
	if err := bindStrict(c, &b); err != nil {
		return err
	}
	if b.Token == "" {
		return order.Errorf(order.EINVALID, "token: the mini-app token to verify")
	}
	u, _, err := s.verifyToken(c.Request().Context(), b.Token)
	if err != nil {
		return err
	}
	lang := u.Language
	if lang == "" {
		lang = languageOf("")
	}
	return c.JSON(http.StatusOK, VerifiedUserJSON{UserID: u.ID, OpenID: u.OpenID, LanguageType: lang})
}

// merchantCreateBody is POST /merchant/orders. A metadata value must be a string: a number,
// object or array is 400, and so is null (encoding/json would read it as "").
type merchantCreateBody struct {
	UserID      string             `json:"userId"`
	TotalAmount string             `json:"totalAmount"`
	Currency    string             `json:"currency"`
	Desc        string             `json:"desc"`
	Reference   string             `json:"reference"`
	Metadata    map[string]*string `json:"metadata"`
}

// decodeMerchantCreate reads a merchant's create body strictly (bindStrict's rules), with its
// reference and metadata checked against their bounds, into the service's request.
func decodeMerchantCreate(body []byte) (order.MerchantCreateRequest, error) {
	var b merchantCreateBody
	if err := decodeStrict(body, &b); err != nil {
		return order.MerchantCreateRequest{}, err
	}
	r := order.MerchantCreateRequest{UserID: b.UserID, TotalAmount: b.TotalAmount, Currency: b.Currency, Desc: b.Desc,
		Reference: b.Reference}
	if err := order.ParseReference(b.Reference); err != nil {
		return r, err
	}
	if b.Metadata != nil {
		r.Metadata = make(map[string]string, len(b.Metadata))
		for k, v := range b.Metadata {
			if v == nil {
				return r, order.Errorf(order.EINVALID, "metadata values must be strings")
			}
			r.Metadata[k] = *v
		}
	}
	return r, order.ParseMetadata(r.Metadata)
}

// merchantCreate is POST /merchant/orders: 201 with a new order, 200 with the order an earlier
// request with the same reference and body made; the same reference with another body is 409.
func (s *Server) merchantCreate(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the body limit
			return err
		}
		return order.Wrap(order.EINVALID, err, "body could not be read")
	}
	r, err := decodeMerchantCreate(body)
	if err != nil {
		return err
	}
	r.Merchant, r.RequestID = merchantOf(c), requestID(c)
	o, created, err := s.deps.Merchant.CreateForMerchant(c.Request().Context(), r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, merchantView(o))
}

// merchantGet is GET /merchant/orders/{outTradeNo}: one of this merchant's orders.
func (s *Server) merchantGet(c echo.Context) error {
	o, err := s.deps.Merchant.MerchantOrder(c.Request().Context(), merchantOf(c), c.Param("outTradeNo"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, merchantView(o))
}

// merchantList is GET /merchant/orders?reference=&status=&limit=&cursor=: this merchant's
// orders, newest first.
func (s *Server) merchantList(c echo.Context) error {
	f, err := listFilter(c)
	if err != nil {
		return err
	}
	if ref := c.QueryParam("reference"); ref != "" {
		if err := order.ParseReference(ref); err != nil {
			return err
		}
		f.Reference = ref
	}
	f.Merchant = merchantOf(c)
	p, err := s.deps.Merchant.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := PageJSON{Orders: make([]OrderJSON, 0, len(p.Orders)), NextCursor: p.NextCursor}
	for _, o := range p.Orders {
		out.Orders = append(out.Orders, merchantView(o))
	}
	return c.JSON(http.StatusOK, out)
}

// merchantView is an order as its merchant sees it: the mini-app's view and the user it is for
// (the openid went to the merchant through /merchant/users/verify, not through orders).
func merchantView(o *order.Order) OrderJSON {
	v := orderView(o, false)
	v.UserID = o.UserID
	return v
}
