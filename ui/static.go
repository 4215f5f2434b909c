package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/order"
)

// staticFile is one embedded file under web/static, ready to serve.
type staticFile struct {
	body        []byte
	contentType string
	etag        string
}

// financeStatic are the static files by name, read once.
var financeStatic = loadFinanceStatic()

// financeCSSURL is the style sheet's URL, versioned by its content so that a new build's style
// sheet is fetched at once although browsers may cache the file for a day.
var financeCSSURL = "/finance/static/finance.css?v=" + strings.Trim(financeStatic["finance.css"].etag, `"`)

func loadFinanceStatic() map[string]staticFile {
	types := map[string]string{".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	out := map[string]staticFile{}
	entries, err := fs.ReadDir(webFS, "web/static")
	if err != nil {
		panic("ui: embedded web/static missing: " + err.Error()) // a broken build
	}
	for _, e := range entries {
		b, err := fs.ReadFile(webFS, "web/static/"+e.Name())
		if err != nil {
			panic("ui: " + err.Error())
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = staticFile{body: b, contentType: types[path.Ext(e.Name())], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// serveFinanceStatic serves web/static/{name} without a session: the style sheet and the icon
// hold nothing private, and the sign-in page needs them. They may be cached for a day and then
// revalidated by their ETag.
func serveFinanceStatic(c echo.Context) error {
	f, ok := financeStatic[c.Param("name")]
	if !ok {
		return order.Errorf(order.ENOTFOUND, "no such file")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.contentType)
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("ETag", f.etag)
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(f.body))
	return nil
}
