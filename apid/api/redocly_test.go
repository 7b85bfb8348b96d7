package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/inflowhq/inflow/pkg/testenv"
)

// RedoclyVersion is the @redocly/cli the document is linted with (the
// newest that runs on Debian's Node.js 20).
const RedoclyVersion = "2.77.0"

// redoclyConfig is the recommended rules, with an example that does not
// fit its schema an error rather than a warning. The document names no
// license, so that rule is off.
const redoclyConfig = `extends:
  - recommended
rules:
  no-invalid-media-type-examples: error
  info-license: off
`

// TestRedoclyLint lints /openapi.json, as apid serves it, with the real
// @redocly/cli: no errors and no warnings.
func TestRedoclyLint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs @redocly/cli through npx")
	}
	npx, err := exec.LookPath("npx")
	if err != nil {
		testenv.Missing(t, "npx", "apt-get install npm (Node.js); the test runs npx @redocly/cli@"+RedoclyVersion)
	}
	e := newEdge(t, nil)
	doc := e.raw("GET", "/openapi.json", nil, "")
	if doc.status != 200 {
		t.Fatalf("/openapi.json: %d", doc.status)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), doc.body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "redocly.yaml"), []byte(redoclyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npx, "--yes", "@redocly/cli@"+RedoclyVersion, "lint", "--config", "redocly.yaml", "--format", "json", "openapi.json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_UPDATE_NOTIFIER=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var report struct {
		Totals   struct{ Errors, Warnings int }
		Problems []struct {
			RuleID, Severity, Message string
			Location                  []struct{ Pointer string }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("@redocly/cli lint: %v (%v)\n%s\n%s", err, runErr, stdout.String(), stderr.String())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	t.Logf("@redocly/cli %s: %d errors, %d warnings", RedoclyVersion, report.Totals.Errors, report.Totals.Warnings)
	if report.Totals.Errors+report.Totals.Warnings > 0 || runErr != nil {
		t.Fatalf("@redocly/cli lint: %d errors, %d warnings (%v)", report.Totals.Errors, report.Totals.Warnings, runErr)
	}
}
