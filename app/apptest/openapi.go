package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/mospay/mospay/docs"
)

// The OpenAPI document, loaded once per test binary.
var (
	specOnce sync.Once
	spec     *contract
	specErr  error
)

// contract checks requests and answers against mospay's OpenAPI document (kin-openapi, which
// validates OpenAPI 3.1 with JSON Schema 2020-12).
type contract struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

func loadContract() (*contract, error) {
	specOnce.Do(func() {
		raw, err := docs.OpenAPIJSON()
		if err != nil {
			specErr = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		if err != nil {
			specErr = fmt.Errorf("openapi: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = fmt.Errorf("openapi: the document is not valid: %w", err)
			return
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			specErr = fmt.Errorf("openapi: %w", err)
			return
		}
		spec = &contract{doc: doc, router: r, opts: &openapi3filter.Options{
			MultiError:            true,
			IncludeResponseStatus: true, // an answer with a status the document does not list fails
			// A bearer scheme is satisfied by an Authorization: Bearer header; whether the token is
			// good is the server's to say (401), not the document's.
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				h := in.RequestValidationInput.Request.Header.Get("Authorization")
				if scheme, _, ok := strings.Cut(h, " "); !ok || !strings.EqualFold(scheme, "Bearer") {
					return fmt.Errorf("%s: no bearer token", in.SecuritySchemeName)
				}
				return nil
			},
		}}
	})
	return spec, specErr
}

// check holds one exchange against the document:
//   - a request the document accepts may get any answer the document lists for it, and the
//     answer's body must match that answer's schema;
//   - a request the document refuses (a test sending bad input on purpose) must be refused by
//     the server with a 4xx, whose body must match the document too;
//   - a request to a path or method the document does not have must get a 404 or 405 in the
//     error format.
//
// It returns what is wrong, or nil.
func (c *contract) check(req *http.Request, reqBody []byte, res Response) error {
	ctx := context.Background()
	if req.Method == http.MethodOptions || strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		return nil // CORS preflights and the finance pages are not API operations
	}
	route, params, err := c.router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s is not in the OpenAPI document, but was answered %d", req.Method, req.URL.Path, res.Status)
		}
		return c.errorBody(req.URL.Path, res)
	}
	if err != nil {
		return err
	}
	req = req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.opts}
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (res.Status < 400 || res.Status >= 500) {
		return fmt.Errorf("%s %s: the document refuses the request (%s), but the server answered %d",
			req.Method, req.URL.Path, flatten(reqErr), res.Status)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Options: c.opts}
	out.SetBodyBytes(res.Body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("%s %s answered %d %s: not as the document says: %s", req.Method, req.URL.Path, res.Status,
			clip(res.Body), flatten(err))
	}
	return nil
}

// errorBody checks an answer to a path or method the document lacks: the 405 a path's own
// operations declare (/mos/notify answers in MOS's envelope), else the Error schema.
func (c *contract) errorBody(path string, res Response) error {
	var v any
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return fmt.Errorf("answer %d %s is not JSON", res.Status, clip(res.Body))
	}
	schema := c.doc.Components.Schemas["Error"].Value
	if item := c.doc.Paths.Value(path); item != nil {
		for _, op := range item.Operations() {
			if r := op.Responses.Status(res.Status); r != nil && r.Value.Content.Get("application/json") != nil {
				schema = r.Value.Content.Get("application/json").Schema.Value
			}
		}
	}
	if err := schema.VisitJSON(v); err != nil {
		return fmt.Errorf("answer %d %s is not the error format: %s", res.Status, clip(res.Body), flatten(err))
	}
	return nil
}

// flatten turns kin-openapi's errors, which embed whole schemas, into short "pointer: reason"
// lines.
func flatten(err error) string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		var me openapi3.MultiError
		if errors.As(e, &me) {
			for _, x := range me {
				walk(x)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			out = append(out, "/"+strings.Join(se.JSONPointer(), "/")+": "+se.Reason)
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	return strings.Join(out, "; ")
}

// clip keeps a body short in a message.
func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// CheckSchema fails the test unless body is valid JSON matching the OpenAPI document's schema
// of that name (components.schemas): for what mospay sends rather than answers, such as an order
// event's payload.
func CheckSchema(t testing.TB, name string, body []byte) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := c.doc.Components.Schemas[name]
	if !ok || ref.Value == nil {
		t.Fatalf("openapi: no schema %q", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", name, err, clip(body))
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Fatalf("%s: not as the document says: %s: %s", name, flatten(err), clip(body))
	}
}
