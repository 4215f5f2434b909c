package store

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/mospay/mospay/order"
)

// keyset is one list paged by keyset pagination: each page continues after the key of the last
// row of the one before, so that rows inserted meanwhile neither repeat nor shift a page. Its
// cursor is that key, prefixed by the list's kind, so that a cursor of one list is refused by
// another; opaque to clients (base64url).
type keyset struct {
	kind   string // the cursor's prefix
	column string // the key: unique, and the order of the list
	desc   bool   // newest first
}

// The lists, by their keys: ids (integers), or the events' UUIDv7 ids (time-ordered text).
var (
	ordersKeys = keyset{kind: "o", column: "id", desc: true}
	auditKeys  = keyset{kind: "a", column: "id", desc: true}
	reviewKeys = keyset{kind: "r", column: "id"}
	eventsKeys = keyset{kind: "e", column: "id", desc: true}
)

var errCursor = order.Errorf(order.EINVALID, "cursor: not one this server gave out")

// pageOf reads from q (a query on the list's table, its filters applied) the page of at most limit
// rows after cursor ("" for the first), and the cursor of the next page ("" on the last). key is
// a row's key: an int64 id or a text one.
func pageOf[R any, K int64 | string](q *gorm.DB, k keyset, cursor string, limit int, key func(*R) K) ([]R, string, error) {
	cmp, dir := " > ?", ""
	if k.desc {
		cmp, dir = " < ?", " DESC"
	}
	if cursor != "" {
		after, err := decodeCursor[K](k.kind, cursor)
		if err != nil {
			return nil, "", err
		}
		q = q.Where(k.column+cmp, after)
	}
	var rows []R
	if err := q.Order(k.column + dir).Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", FormatError(err)
	}
	var next string
	if len(rows) > limit {
		rows = rows[:limit]
		next = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s:%v", k.kind, key(&rows[len(rows)-1])))
	}
	return rows, next, nil
}

// decodeCursor is the key a cursor of kind holds: a positive integer, or non-empty text.
func decodeCursor[K int64 | string](kind, c string) (K, error) {
	var zero K
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return zero, errCursor
	}
	key, ok := strings.CutPrefix(string(b), kind+":")
	if !ok || key == "" {
		return zero, errCursor
	}
	switch p := any(&zero).(type) {
	case *string:
		*p = key
	case *int64:
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || id <= 0 {
			return zero, errCursor
		}
		*p = id
	}
	return zero, nil
}
