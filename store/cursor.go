package store

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/mospay/mospay/order"
)

// Keyset cursors: the key of the last row of a page, prefixed by the list it came from, so that
// a cursor of one list is refused by another; opaque to clients (base64url).
const (
	cursorOrders = "o"
	cursorAudit  = "a"
	cursorReview = "r"
	cursorEvents = "e"
)

var errCursor = order.Errorf(order.EINVALID, "cursor: not one this server gave out")

func encodeTextCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

func decodeTextCursor(kind, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", errCursor
	}
	key, ok := strings.CutPrefix(string(b), kind+":")
	if !ok || key == "" {
		return "", errCursor
	}
	return key, nil
}

func encodeCursor(kind string, id int64) string {
	return encodeTextCursor(kind, strconv.FormatInt(id, 10))
}

func decodeCursor(kind, c string) (int64, error) {
	key, err := decodeTextCursor(kind, c)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil || id <= 0 {
		return 0, errCursor
	}
	return id, nil
}
