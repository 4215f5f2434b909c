// Package docs holds mospay's own documentation that the binary carries: the OpenAPI 3.1
// description of its HTTP API (openapi.yaml), served as JSON at GET /openapi.json. The other
// files of this folder are pages for people, one per reader, linked from the README.
package docs

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v4"
)

// openAPIYAML is the document as written: YAML, for people to read and edit.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIJSON returns the OpenAPI document as JSON, the form clients and validators fetch. The
// conversion is exact: YAML and JSON share the data model the document uses.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("docs: openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("docs: openapi.yaml as JSON: %w", err)
	}
	return b, nil
}
