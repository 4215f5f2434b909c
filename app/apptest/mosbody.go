package apptest

import (
	"encoding/json"
	"maps"

	"github.com/mospay/mospay/mos"
)

// SignedJSON is a body as MOS sends or receives one: fields, with appKey unless they name one,
// signed with secret unless they already hold a sign (a test forging one passes its own), as a
// JSON object of strings. fields is not changed.
func SignedJSON(fields map[string]string, appKey, secret string) []byte {
	body := maps.Clone(fields)
	if body == nil {
		body = map[string]string{}
	}
	if _, ok := body["appKey"]; !ok {
		body["appKey"] = appKey
	}
	if _, ok := body[mos.SignField]; !ok {
		body[mos.SignField] = mos.Sign(body, secret)
	}
	b, err := json.Marshal(body)
	if err != nil { // a map of strings always marshals
		panic(err)
	}
	return b
}
