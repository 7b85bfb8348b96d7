package merchantapi

import (
	"encoding/json"
	"testing"

	"github.com/inflowhq/inflow/pkg/assets"
)

// TestBodyExamples: every example body is valid JSON that its route's own
// validation accepts, and names a route that takes a body.
func TestBodyExamples(t *testing.T) {
	table := assets.Default()
	for name, ex := range BodyExamples {
		rt := RouteByName(name)
		if rt == nil || rt.Body == "" {
			t.Errorf("example for %q, which is not a route with a body", name)
			continue
		}
		if !json.Valid([]byte(ex)) {
			t.Errorf("%s: the example is not JSON", name)
			continue
		}
		if rt.Validate == nil {
			continue
		}
		in := &Input{Body: []byte(ex), Assets: table, Path: func(string) string { return "" }}
		if err := rt.Validate(in); err != nil {
			t.Errorf("%s: its own validation refuses the example: %v", name, err)
		}
	}
}
