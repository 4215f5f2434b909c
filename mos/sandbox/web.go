package sandbox

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mospay/mospay/mos"
)

// The browser side of the sandbox: mos-sandbox.js, a stand-in for MOS's front-end SDK
// (window.mos) that a mini-app loads in a desktop browser instead of running inside the MOS app;
// the payment sheet's endpoints it calls; and a demo mini-app written against it and mospay's
// /mp API. docs/frontend.md says which parts follow MOS's documentation and which are the
// sandbox's own choices.
//
//	GET  /sandbox/mos.js                   the stand-in (a classic script; cacheable)
//	GET  /sandbox/mos.css                  its user switcher and payment sheet
//	GET  /sandbox/config                   {appKey, merchantName}: what the stand-in checks and shows
//	GET  /sandbox/prepays/{prepayId}       the order mos.pay was handed, for the sheet
//	POST /sandbox/prepays/{prepayId}/pay   the user pays in the sheet   {"loseNotification": bool}
//	POST /sandbox/prepays/{prepayId}/fail  the payment fails in the sheet {"loseNotification": bool}
//	GET  /sandbox/demo                     the demo mini-app, and its files under /sandbox/demo/
//
// /sandbox answers browsers of its own origin and of Config.Origins (MOSPAY_CORS_ORIGINS: a
// developer's own dev server, http://localhost:5173 say, loads mos.js and calls it from there);
// any other site's page can neither read an answer nor change anything (withBrowserHeaders).

// webFiles are the pages, scripts and styles, embedded so that the binary serves them with no
// build step.
//
//go:embed web
var webFiles embed.FS

// The cache lifetimes: the stand-in and the demo's files may be kept a few minutes, then
// revalidated by their ETag; the demo's page itself is always revalidated, since it carries the
// configuration of the running mospay.
const (
	assetCacheControl = "public, max-age=300"
	pageCacheControl  = "no-cache"
)

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// loadAsset reads web/name and works out its type and ETag.
func loadAsset(name string) asset {
	b, err := fs.ReadFile(webFiles, "web/"+name)
	if err != nil {
		panic("sandbox: embedded file missing: " + err.Error()) // a build without web/ is broken
	}
	types := map[string]string{
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".svg":  "image/svg+xml",
		".html": "text/html; charset=utf-8",
	}
	sum := sha256.Sum256(b)
	return asset{body: b, contentType: types[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serve answers the asset, or 304 to a request that already holds this version.
func (a asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", assetCacheControl)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// webRoutes adds the browser side's routes to mux (see the list at the top of this file).
func (s *Server) webRoutes(mux *http.ServeMux) {
	for route, name := range map[string]string{
		"GET /sandbox/mos.js":           "mos-sandbox.js",
		"GET /sandbox/mos.css":          "mos-sandbox.css",
		"GET /sandbox/demo/demo.js":     "demo.js",
		"GET /sandbox/demo/demo.css":    "demo.css",
		"GET /sandbox/demo/favicon.svg": "favicon.svg",
	} {
		mux.HandleFunc(route, loadAsset(name).serve)
	}
	demo := template.Must(template.ParseFS(webFiles, "web/demo.html"))
	mux.HandleFunc("GET /sandbox/demo", s.handleDemo(demo))
	mux.HandleFunc("GET /sandbox/config", s.handleConfig)
	mux.HandleFunc("GET /sandbox/prepays/{prepayId}", s.handleGetPrepay)
	mux.HandleFunc("POST /sandbox/prepays/{prepayId}/pay", s.handleSheet(statusSuccess, statusPending, statusFailed))
	mux.HandleFunc("POST /sandbox/prepays/{prepayId}/fail", s.handleSheet(statusFailed, statusPending))
}

// withBrowserHeaders gives every sandbox answer the headers every mospay answer carries
// (nosniff, no Referer), and lets the sandbox's own origin and Config.Origins call /sandbox from
// a browser (CORS; a preflight is answered here, before routing). A request from any other
// origin gets no CORS header, so its page cannot read the answer; one that could change
// something (any method but GET and HEAD: a form's or a "simple" POST needs no preflight) is
// refused with 403 before it reaches a handler, since without this any web page a developer
// visits could mint login codes, pay orders or inject faults in their local sandbox. A request
// without an Origin (curl, tests, mospay itself) is no browser's and is served.
func (s *Server) withBrowserHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		origin, fromBrowser := r.Header["Origin"]
		if !strings.HasPrefix(r.URL.Path, "/sandbox/") || !fromBrowser {
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Origin")
		if len(origin) != 1 || !s.allowedOrigin(origin[0]) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				writeError(w, http.StatusForbidden, "forbidden",
					"this origin may not call the sandbox: it answers its own and MOSPAY_CORS_ORIGINS")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin[0])
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			// Chrome asks before a public page calls a loopback address: granted to the
			// configured origins only.
			if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
				h.Set("Access-Control-Allow-Private-Network", "true")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedOrigin reports whether a browser page of origin may call /sandbox (Config.Origins).
func (s *Server) allowedOrigin(origin string) bool {
	for _, o := range s.cfg.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// apiURL is mospay's base URL as the sandbox knows it: Config.NotifyURL minus mos.NotifyPath;
// "" if that is not mospay's notify URL.
func (s *Server) apiURL() string {
	base, ok := strings.CutSuffix(s.cfg.NotifyURL, mos.NotifyPath)
	if !ok || origin(base) == "" {
		return ""
	}
	return base
}

// origin is the scheme://host of an http(s) URL, fit for a CSP source list, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(u.Host, " ;,'\"\t\r\n") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// pageCSP is the demo page's Content-Security-Policy: scripts, styles and images from the
// sandbox only, no inline code of any kind, and connections to the sandbox and to mospay's API
// (which the demo calls cross-origin, as a mini-app does); never framed.
func (s *Server) pageCSP() string {
	connect := "'self'"
	if o := origin(s.apiURL()); o != "" {
		connect += " " + o
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " + connect +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// handleDemo serves the demo mini-app. The page carries mospay's API URL and the appKey in
// <meta> tags: a real mini-app has both in its own configuration, while a sandbox's appKey is
// generated at start.
func (s *Server) handleDemo(page *template.Template) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := page.Execute(&buf, map[string]string{"APIURL": s.apiURL(), "AppKey": s.cfg.AppKey}); err != nil {
			s.log.Error("sandbox demo page", slog.String("err", err.Error()))
			writeError(w, http.StatusInternalServerError, "internal", "demo page: "+err.Error())
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", pageCacheControl)
		h.Set("Content-Security-Policy", s.pageCSP())
		_, _ = w.Write(buf.Bytes())
	}
}

// browserConfig is what mos-sandbox.js needs to know about this sandbox: the appKey it accepts
// in mos.login and mos.pay, and the merchant name its payment sheet shows.
type browserConfig struct {
	AppKey       string `json:"appKey"`
	MerchantName string `json:"merchantName"`
}

func (s *Server) handleConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, browserConfig{AppKey: s.cfg.AppKey, MerchantName: s.cfg.AppName})
}

// sheetView is an order as the payment sheet shows it: what mos.pay was handed, looked up by its
// prepayId as MOS's own sheet would.
type sheetView struct {
	PrepayID     string `json:"prepayId"`
	OutTradeNo   string `json:"outTradeNo"`
	MerchantName string `json:"merchantName"`
	TotalAmount  string `json:"totalAmount"`
	Currency     string `json:"currency"`
	Desc         string `json:"desc"`
	Status       string `json:"status"`
}

func (s *Server) sheetView(v OrderView) sheetView {
	return sheetView{PrepayID: v.PrepayID, OutTradeNo: v.OutTradeNo, MerchantName: s.cfg.AppName,
		TotalAmount: v.TotalAmount, Currency: v.Currency, Desc: v.Desc, Status: v.Status}
}

// orderByPrepayLocked finds the order prepayId belongs to; s.mu is held. A linear search: the
// sheet is clicked by a person, and even a load run's orders are searched in milliseconds.
func (s *Server) orderByPrepayLocked(prepayID string) *order {
	for _, o := range s.orders {
		if o.prepayID == prepayID {
			return o
		}
	}
	return nil
}

func (s *Server) handleGetPrepay(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o := s.orderByPrepayLocked(r.PathValue("prepayId"))
	var v OrderView
	if o != nil {
		v = o.view()
	}
	s.mu.Unlock()
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found", "no order has this prepayId")
		return
	}
	writeJSON(w, http.StatusOK, s.sheetView(v))
}

// handleSheet plays the user's choice in the payment sheet: the order moves to status `to` from
// one of `from`, and MOS's notification goes to mospay, as POST /sandbox/orders/{o}/pay|fail
// does. With "loseNotification" the notification is lost instead (counted as dropped), so that
// only orderQuery, through mospay's /query, can tell what happened.
func (s *Server) handleSheet(to string, from ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			LoseNotification bool `json:"loseNotification"`
		}
		if err := decodeBody(r, &in); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		v, cerr := func() (OrderView, *controlError) {
			s.mu.Lock()
			defer s.mu.Unlock()
			o := s.orderByPrepayLocked(r.PathValue("prepayId"))
			if o == nil {
				return OrderView{}, &controlError{http.StatusNotFound, "not_found", "no order has this prepayId"}
			}
			if !slices.Contains(from, o.status) {
				return OrderView{}, &controlError{http.StatusConflict, "conflict", "order is " + o.status + "; " + to + " needs one of " + strings.Join(from, ", ")}
			}
			o.status = to
			s.keepLocked(o)
			if in.LoseNotification {
				o.notifications++
				s.stats.NotificationsDropped++
				s.log.Info("sandbox lost a notification, as the payment sheet asked", slog.String("out_trade_no", o.outTradeNo))
			} else if err := s.notifyLocked(o, nil, nil); err != nil {
				return OrderView{}, &controlError{http.StatusInternalServerError, "internal", err.Error()}
			}
			return o.view(), nil
		}()
		if cerr != nil {
			writeError(w, cerr.status, cerr.code, cerr.message)
			return
		}
		writeJSON(w, http.StatusOK, s.sheetView(v))
	}
}
