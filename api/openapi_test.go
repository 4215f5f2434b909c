package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/mospay/mospay/docs"
)

// htmlPage reports whether a route is one the OpenAPI document leaves out on purpose: the finance
// pages (web pages for people, and their CSV download behind the session).
func htmlPage(path string) bool { return path == "/finance" || strings.HasPrefix(path, "/finance/") }

// TestOpenAPIMatchesRoutes: every route the server has is in the OpenAPI document, and every
// operation the document names is a route the server has. The document is valid OpenAPI 3.1.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := docs.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}

	s := New(Config{MaxBody: 1024}, Deps{Notify: http.NotFoundHandler()})
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	served := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Method == echo.RouteNotFound || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		route := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		if r.Path == "/mos/notify" {
			// Every method reaches the receiver, so that a wrong one is answered in MOS's
			// envelope; the document describes the one MOS uses.
			route = "POST /mos/notify"
		}
		if !htmlPage(r.Path) {
			served[route] = true
		}
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var missing, stale []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			stale = append(stale, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("routes missing from docs/openapi.yaml: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("docs/openapi.yaml names routes the server does not have: %v", stale)
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes found: the walk is broken", len(served))
	}
}

// TestOpenAPIServed: GET /openapi.json answers the document as JSON.
func TestOpenAPIServed(t *testing.T) {
	s := New(Config{MaxBody: 1024}, Deps{})
	rec := do(t, s.Handler(), http.MethodGet, "/openapi.json", "", nil)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Paths["/mp/orders"] == nil {
		t.Fatalf("GET /openapi.json: %v, openapi %q, %d paths", err, doc.OpenAPI, len(doc.Paths))
	}
}
