package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// The merchant API: the merchant's own backend, not the phone, sets the price. It learns which
// user a mini-app token stands for, creates the order for that user at its price under its own
// reference, and hands the prepayId back to its front end, which only pays.

// MerchantStore keeps what the merchant API adds to orders. Errors are coded as Store's.
type MerchantStore interface {
	// CreateMerchantOrder inserts o (status CREATED, with its merchant and reference) with its
	// first transition and a, the audit row of the merchant that made it, in one transaction, and
	// fills o.ID. ECONFLICT when the merchant's reference (or the outTradeNo) is taken.
	CreateMerchantOrder(ctx context.Context, o *Order, t Transition, a AdminAction) error
	// OrderByReference returns the merchant's order with that reference. ENOTFOUND.
	OrderByReference(ctx context.Context, merchant, reference string) (*Order, error)
}

// referenceRe is a reference: visible ASCII, no spaces, as order ids are.
var referenceRe = regexp.MustCompile(fmt.Sprintf(`^[\x21-\x7e]{1,%d}$`, MaxReferenceLen))

// metadataKeyRe is a metadata key.
var metadataKeyRe = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9_.:-]{1,%d}$`, MaxMetadataKeyLen))

// ActionCreate is a merchant's backend creating an order through the merchant API (the actor is
// the merchant key's name); ActionProduct is finance adding or changing a product.
const (
	ActionCreate  = "create"
	ActionProduct = "product"
)

// MerchantCreateRequest is a merchant backend's order for one of the mini-app's users.
type MerchantCreateRequest struct {
	Merchant    string // the merchant key's name
	UserID      string // mospay's user, as POST /merchant/users/verify told the merchant
	TotalAmount string
	Currency    string
	Desc        string
	Reference   string
	Metadata    map[string]string
	RequestID   string
}

// ParseReference checks a merchant's reference.
func ParseReference(ref string) error {
	if !referenceRe.MatchString(ref) {
		return Errorf(EINVALID, "reference: 1 to %d visible ASCII characters, no spaces", MaxReferenceLen)
	}
	return nil
}

// ParseMetadata checks a merchant's metadata: at most MaxMetadataKeys keys of A-Z a-z 0-9 _ . : -
// up to MaxMetadataKeyLen characters, each value valid UTF-8 without control characters, up to
// MaxMetadataValueLen characters.
func ParseMetadata(m map[string]string) error {
	if len(m) > MaxMetadataKeys {
		return Errorf(EINVALID, "metadata: at most %d keys", MaxMetadataKeys)
	}
	for k, v := range m {
		if !metadataKeyRe.MatchString(k) {
			return Errorf(EINVALID, "metadata: keys are 1 to %d characters of A-Z a-z 0-9 _ . : -", MaxMetadataKeyLen)
		}
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxMetadataValueLen {
			return Errorf(EINVALID, "metadata.%s: at most %d characters of valid UTF-8", k, MaxMetadataValueLen)
		}
		for _, c := range v {
			if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
				return Errorf(EINVALID, "metadata.%s: control and format characters are not allowed", k)
			}
		}
	}
	return nil
}

// merchantHash is what a merchant's create asked for: a repeat of its reference with the same
// hash is the same request.
func merchantHash(r MerchantCreateRequest, amount string) string {
	meta, _ := json.Marshal(r.Metadata) // a map of strings always marshals, keys sorted
	h := sha256.Sum256(fmt.Appendf(nil, "merchant|%s|%s|%s|%s|%s|%s", r.UserID, r.Currency, amount, r.Desc, r.Reference, meta))
	return hex.EncodeToString(h[:])
}

// CreateForMerchant creates an order for a user at the merchant's price, and its prepay; created
// is false when the merchant's reference already made it with the same request (the same order
// answers; another request under the reference is ECONFLICT). The merchant's reference is
// unique in the database, so that concurrent repeats on any instance make one order and one
// prepay. The creation is recorded in the audit trail under the merchant's name. A userId that
// is no user is EUNPROCESSABLE.
func (s *Service) CreateForMerchant(ctx context.Context, r MerchantCreateRequest) (o *Order, created bool, err error) {
	if r.Merchant == "" {
		return nil, false, Errorf(EUNAUTHORIZED, "a merchant key is required")
	}
	amount, desc, err := s.parseCreate(CreateRequest{TotalAmount: r.TotalAmount, Currency: r.Currency, Desc: r.Desc})
	if err != nil {
		return nil, false, err
	}
	if err := ParseReference(r.Reference); err != nil {
		return nil, false, err
	}
	if err := ParseMetadata(r.Metadata); err != nil {
		return nil, false, err
	}
	if r.UserID == "" {
		return nil, false, Errorf(EINVALID, "userId: the user the order is for")
	}
	if len(r.Metadata) == 0 {
		r.Metadata = nil // no metadata and {} are the same request
	}
	hash := merchantHash(r, amount.String())
	existing := func() (*Order, error) { return s.store.OrderByReference(ctx, r.Merchant, r.Reference) }
	if prev, err := existing(); err == nil {
		// Answered before the user is looked up: a repeat needs nothing but the reference.
		o, err := s.resume(ctx, prev, hash, r.RequestID)
		return o, false, err
	} else if ErrorCode(err) != ENOTFOUND {
		return nil, false, err
	}
	u, err := s.store.User(ctx, r.UserID)
	if ErrorCode(err) == ENOTFOUND {
		return nil, false, Errorf(EUNPROCESSABLE, "userId: no such user (POST /merchant/users/verify names the user of a token)")
	}
	if err != nil {
		return nil, false, err
	}
	o = s.newOrder(u.ID, u.OpenID, amount, desc, hash)
	o.Merchant, o.Reference, o.Metadata = r.Merchant, r.Reference, r.Metadata
	insert := func(t Transition) error {
		return s.store.CreateMerchantOrder(ctx, o, t, AdminAction{Actor: r.Merchant, Action: ActionCreate, OutTradeNo: o.OutTradeNo,
			UserID: u.ID, Detail: fmt.Sprintf("reference %s: %s %s", r.Reference, amount, amount.Currency), RequestID: r.RequestID, At: o.CreatedAt})
	}
	return s.open(ctx, o, r.RequestID, existing, insert)
}

// MerchantOrder returns the merchant's order; another merchant's, or a mini-app's, is ENOTFOUND.
func (s *Service) MerchantOrder(ctx context.Context, merchant, outTradeNo string) (*Order, error) {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	if merchant == "" || o.Merchant != merchant {
		return nil, Errorf(ENOTFOUND, "no such order")
	}
	return o, nil
}
