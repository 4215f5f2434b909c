package order

// The limits of what a request may carry, stated here once and referenced wherever they are
// enforced or shown: the HTTP layer (package api) enforces the body's size and depth before
// anything decodes it; the service enforces the fields' bounds for every caller. docs/security.md
// "Request bodies" and docs/merchant.md list them for the reader.
const (
	// DefaultMaxBody is the largest request body in bytes (MOSPAY_MAX_BODY's default); a larger
	// one is 413 before it is read.
	DefaultMaxBody = 1 << 20
	// MaxDepth is how deeply a request body may nest objects and arrays, the body's own object
	// being level 1. Nothing mospay reads is nested more than one level; the rest of the margin
	// costs nothing, while a body of a million '[' must cost no more than one of a million spaces.
	MaxDepth = 8

	// MaxNote is the longest resolution note, in characters.
	MaxNote = 500

	// Bounds of a merchant's reference and metadata.
	MaxReferenceLen     = 64  // characters of a reference
	MaxMetadataKeys     = 20  // keys of one order's metadata
	MaxMetadataKeyLen   = 40  // characters of a key
	MaxMetadataValueLen = 500 // characters of a value

	// MaxLoginCode bounds the login code forwarded to MOS; MOS's codes are far shorter.
	MaxLoginCode = 1024

	// Bounds of an order's lines.
	MaxQuantity  = 99 // of one product in one order
	MaxItemLines = 20 // distinct products in one order

	// maxDescRunes bounds the description sent to MOS (MOS documents no limit; WeChat Pay's is
	// 128).
	maxDescRunes = 128
	// maxProductName bounds a product's name (it may become an order's description).
	maxProductName = 100
)
