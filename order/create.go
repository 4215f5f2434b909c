package order

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mospay/mospay/money"
)

// CreateRequest is a mini-app user's request to pay: either Items from the product list, or
// TotalAmount where client-chosen amounts are allowed (Config.ClientAmounts).
type CreateRequest struct {
	UserID         string // mospay's user (the token's subject)
	OpenID         string // the same user at MOS, who pays
	TotalAmount    string
	Items          []ItemRequest
	Currency       string
	Desc           string
	IdempotencyKey string
	RequestID      string
}

var idempotencyKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.:\-]{1,64}$`)

// parseCreate validates a create request before anything is stored or sent to MOS. A malformed
// field is EINVALID (400); a well-formed amount that cannot be taken is EUNPROCESSABLE (422).
func (s *Service) parseCreate(r CreateRequest) (money.Amount, string, error) {
	cur, err := money.ParseCurrency(r.Currency)
	if err != nil {
		return money.Amount{}, "", Wrap(EINVALID, err, "currency: %s", err.Error())
	}
	minor, err := money.Parse(r.TotalAmount, cur, s.cfg.MaxAmount[cur])
	switch {
	case errors.Is(err, money.ErrSyntax):
		return money.Amount{}, "", Wrap(EINVALID, err, "totalAmount: %s", err.Error())
	case err != nil:
		return money.Amount{}, "", Wrap(EUNPROCESSABLE, err, "totalAmount: %s", err.Error())
	}
	desc, err := parseDesc("desc", r.Desc)
	if err != nil {
		return money.Amount{}, "", err
	}
	if r.IdempotencyKey != "" && !idempotencyKeyRe.MatchString(r.IdempotencyKey) {
		return money.Amount{}, "", Errorf(EINVALID, "Idempotency-Key: 1 to 64 characters of A-Z a-z 0-9 _ . : -")
	}
	return money.Amount{Minor: minor, Currency: cur}, desc, nil
}

// parseDesc checks text that reaches MOS's signing string (an order's description, a product's
// name); field names it in messages.
func parseDesc(field, desc string) (string, error) {
	if !utf8.ValidString(desc) || utf8.RuneCountInString(desc) > maxDescRunes {
		return "", Errorf(EINVALID, "%s: at most %d characters of valid UTF-8", field, maxDescRunes)
	}
	for _, c := range desc {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return "", Errorf(EINVALID, "%s: control and format characters are not allowed", field)
		}
	}
	if strings.TrimSpace(desc) != desc {
		return "", Errorf(EINVALID, "%s: no leading or trailing white space (MOS trims it before signing)", field)
	}
	if strings.ContainsAny(desc, "&=") {
		// MOS's signing string joins key=value with '&' unescaped: a description holding them
		// could be re-split into other fields of a signature that still verifies.
		return "", Errorf(EINVALID, "%s: '&' and '=' are not allowed (MOS's signature joins fields with them, unescaped)", field)
	}
	return desc, nil
}

func requestHash(a money.Amount, desc string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%s", a.Currency, a.Minor, desc))
	return hex.EncodeToString(h[:])
}

// NewOutTradeNo makes an order number: a UUIDv7 in 32 hex digits, so it sorts by creation time,
// fits MOS's 32-character limit, and cannot be guessed (74 random bits).
func NewOutTradeNo() string {
	return strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// NewNonce makes a nonceStr: 32 random hex digits, within the 32 characters of [0-9A-Za-z]
// mospay keeps MOS identifiers to. It is the one nonce maker: every MOS call that needs a
// nonceStr gets it from the order or from here.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Create stores a new order, asks MOS for its prepayId, and returns the order; created is false
// when an earlier request with the same Idempotency-Key already made it. The amount is the
// product list's total of r.Items, or r.TotalAmount where client-chosen amounts are allowed
// (otherwise EAMOUNTREFUSED, before anything is stored or sent). On a MOS timeout the order
// stays CREATED and the error is EUNAVAILABLE (a retry with the same key resumes it); on a
// refusal the order is FAILED and the error EUNPROCESSABLE carries MOS's message.
func (s *Service) Create(ctx context.Context, r CreateRequest) (o *Order, created bool, err error) {
	var amount money.Amount
	var desc, hash string
	var items []Item
	switch {
	case r.Items != nil && r.TotalAmount != "":
		return nil, false, Errorf(EINVALID, "give items or totalAmount, not both")
	case r.Items != nil:
		hash = itemsHash(r.Currency, r.Desc, r.Items)
		if r.IdempotencyKey != "" && r.OpenID != "" {
			// A repeat is answered with the order first made, even if a product has since been
			// changed or taken off sale.
			if prev, err := s.store.OrderByIdempotencyKey(ctx, r.OpenID, r.IdempotencyKey); err == nil {
				o, err := s.resume(ctx, prev, hash, r.RequestID)
				return o, false, err
			}
		}
		if amount, desc, items, err = s.priceItems(ctx, r); err != nil {
			return nil, false, err
		}
	case !s.cfg.ClientAmounts:
		if r.TotalAmount == "" {
			return nil, false, Errorf(EINVALID, "items: the products to buy, from the product list")
		}
		return nil, false, Errorf(EAMOUNTREFUSED, "this mospay takes no amount from a mini-app: order items from the product list, or have the merchant's backend create the order")
	default:
		if amount, desc, err = s.parseCreate(r); err != nil {
			return nil, false, err
		}
		hash = requestHash(amount, desc)
	}
	if r.UserID == "" || r.OpenID == "" {
		return nil, false, Errorf(EINVALID, "an order needs its user")
	}
	var existing func() (*Order, error)
	if r.IdempotencyKey != "" {
		existing = func() (*Order, error) { return s.store.OrderByIdempotencyKey(ctx, r.OpenID, r.IdempotencyKey) }
	}
	o = s.newOrder(r.UserID, r.OpenID, amount, desc, hash)
	o.IdempotencyKey, o.Items = r.IdempotencyKey, items
	return s.open(ctx, o, r.RequestID, existing, func(t Transition) error { return s.store.CreateOrder(ctx, o, t) })
}

// newOrder is a new order of the user's, CREATED, with its lease taken for the prepay that
// follows and its first check scheduled.
func (s *Service) newOrder(userID, openID string, amount money.Amount, desc, hash string) *Order {
	now := s.clock.Now()
	leaseUntil := now.Add(s.cfg.PrepayLease)
	o := &Order{
		OutTradeNo: NewOutTradeNo(), NonceStr: NewNonce(), AppKey: s.cfg.AppKey, UserID: userID, OpenID: openID,
		Amount: amount, Desc: desc, Status: StatusCreated, Version: 1, Sandbox: s.cfg.Sandbox, RequestHash: hash,
		ExpireAt: now.Add(s.cfg.OrderTTL), CreatedAt: now, UpdatedAt: now,
		LeaseOwner: s.cfg.Instance, LeaseUntil: &leaseUntil,
	}
	if next, ok := s.cfg.Schedule.Next(o, 0, now, s.rnd); ok {
		o.NextCheckAt = &next
	}
	return o
}

// open creates o and its prepay, unless an earlier request made the same order: existing (nil
// when the request names none) finds it, before the insert and again when insert reports the
// unique key taken (another request won the race; the database, not memory, decides), and the
// answer is then that order, resumed. insert stores o with its first transition.
func (s *Service) open(ctx context.Context, o *Order, requestID string, existing func() (*Order, error),
	insert func(Transition) error) (*Order, bool, error) {
	if existing != nil {
		prev, err := existing()
		if err == nil {
			o, err := s.resume(ctx, prev, o.RequestHash, requestID)
			return o, false, err
		}
		if ErrorCode(err) != ENOTFOUND {
			return nil, false, err
		}
	}
	err := insert(Transition{To: StatusCreated, Source: SourceAPI, Reason: "order created", RequestID: requestID,
		Version: 1, At: o.CreatedAt})
	if ErrorCode(err) == ECONFLICT && existing != nil {
		prev, err := existing()
		if err != nil {
			return nil, false, err
		}
		o, err := s.resume(ctx, prev, o.RequestHash, requestID)
		return o, false, err
	}
	if err != nil {
		return nil, false, err
	}
	o, err = s.prepay(ctx, o, requestID, false)
	return o, true, err
}

// resume answers a repeated idempotent create: the same order, with its prepay retried if an
// earlier attempt left it CREATED. Another body under the same key is a conflict.
func (s *Service) resume(ctx context.Context, o *Order, hash, requestID string) (*Order, error) {
	if o.RequestHash != hash {
		if o.Reference != "" {
			return nil, Errorf(ECONFLICT, "this reference was used for a different order request")
		}
		return nil, Errorf(ECONFLICT, "this Idempotency-Key was used for a different order request")
	}
	for o.Status == StatusCreated {
		now := s.clock.Now()
		if o.LeaseUntil != nil && o.LeaseUntil.After(now) {
			// Another request is talking to MOS about this order: wait for its answer rather than
			// calling prepay twice.
			wait := min(o.LeaseUntil.Sub(now), 50*time.Millisecond)
			select {
			case <-ctx.Done():
				return nil, Wrap(EUNAVAILABLE, ctx.Err(), "the earlier request for this order is still waiting for MOS")
			case <-time.After(wait):
			}
			var err error
			if o, err = s.store.Order(ctx, o.OutTradeNo); err != nil {
				return nil, err
			}
			continue
		}
		until := now.Add(s.cfg.PrepayLease)
		ok, err := s.store.AcquireLease(ctx, o.ID, s.cfg.Instance, until)
		if err != nil {
			return nil, err
		}
		if !ok {
			if o, err = s.store.Order(ctx, o.OutTradeNo); err != nil {
				return nil, err
			}
			continue
		}
		o.LeaseOwner, o.LeaseUntil = s.cfg.Instance, &until
		return s.prepay(ctx, o, requestID, true)
	}
	return o, nil
}

// prepay calls MOS for an order we hold the lease of, outside any database transaction, and
// records the outcome. Once started it runs to its end even if the client goes away: a prepay
// MOS accepted must be recorded (the MOS client bounds the call with its own timeout).
//
// A retry (an earlier attempt's outcome was unknown) may be refused because the first one did
// reach MOS: MOS refuses a second prepay of an outTradeNo that differs in any field, such as a
// notifyUrl another instance sent. So a refused retry is checked with orderQuery before the order
// moves: if MOS has the order, mospay follows MOS; only if MOS has no record of it does the
// refusal stand.
func (s *Service) prepay(ctx context.Context, o *Order, requestID string, retry bool) (*Order, error) {
	ctx = context.WithoutCancel(ctx)
	prepayID, err := s.mos.Prepay(ctx, PrepayRequest{
		OutTradeNo: o.OutTradeNo, NonceStr: o.NonceStr, Desc: o.Desc, Amount: o.Amount,
		NotifyURL: s.cfg.NotifyURL, OpenID: o.OpenID, ExpireAt: o.ExpireAt,
	})
	var e Observation
	var q *QueryRecord
	switch ErrorCode(err) {
	case "":
		e = Observation{Kind: ObservedPrepaid, Source: SourceAPI, PrepayID: prepayID, Reason: "prepay accepted by MOS", RequestID: requestID}
	case EUNPROCESSABLE:
		e = Observation{Kind: ObservedRejected, Source: SourceAPI, Reason: "prepay refused by MOS: " + ErrorMessage(err), RequestID: requestID}
		if retry {
			r, rq, qerr := s.query(ctx, o, SourceAPI)
			q = rq
			switch ErrorCode(qerr) {
			case "":
				// MOS has the order from an earlier attempt: its answer, not the refusal, decides.
				reason := fmt.Sprintf("prepay retry refused by MOS (%s), but MOS has the order: MOS's status applied", ErrorMessage(err))
				saved, _, aerr := s.apply(ctx, o, prepaid(remoteObservation(r, SourceAPI, requestID, reason), q))
				return saved, aerr
			case ENOTFOUND:
				e.Reason += "; MOS has no record of the order"
			default:
				return s.prepayUnknown(ctx, o, requestID, q, qerr)
			}
		}
	default:
		return s.prepayUnknown(ctx, o, requestID, nil, err)
	}
	saved, _, aerr := s.apply(ctx, o, prepaid(e, q))
	if aerr != nil {
		return nil, aerr
	}
	if e.Kind == ObservedRejected {
		return saved, Wrap(EUNPROCESSABLE, err, "MOS refused the order: %s", ErrorMessage(err))
	}
	return saved, nil
}

// prepayUnknown records a prepay whose outcome is unknown (MOS did not answer, or a refused retry
// could not be checked): MOS may have the order. It stays CREATED and the lease is let go, so a
// retry or the reconciler can find out: the reconciler asks MOS about it with orderQuery (never
// sending the prepay again) after Schedule.Retry, as it does after a check that got no answer.
func (s *Service) prepayUnknown(ctx context.Context, o *Order, requestID string, q *QueryRecord, err error) (*Order, error) {
	s.log.WarnContext(ctx, "prepay outcome unknown", "out_trade_no", o.OutTradeNo, "request_id", requestID, "err", err)
	if saved, _, serr := s.apply(ctx, o, prepayUnknown(q)); serr == nil {
		o = saved
		if s.cfg.Recheck != nil && saved.NextCheckAt != nil {
			s.cfg.Recheck(*saved.NextCheckAt)
		}
	}
	return o, Wrap(EUNAVAILABLE, err, "MOS did not answer the prepay request; the order is kept, retry with the same Idempotency-Key")
}
