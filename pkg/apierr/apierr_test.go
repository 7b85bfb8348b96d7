package apierr

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestCatalogue: every code this package declares is in the catalogue with
// an error status and a title, so an uncatalogued code fails here instead
// of turning into INTERNAL_ERROR at run time.
func TestCatalogue(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "apierr.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				lit := vs.Values[i].(*ast.BasicLit)
				c, _ := strconv.Unquote(lit.Value)
				declared++
				e, ok := catalogue[Code(c)]
				if !ok {
					t.Errorf("%s (%s) is declared but not in the catalogue", name.Name, c)
					continue
				}
				if e.status < 400 || e.status > 599 || e.title == "" {
					t.Errorf("%s: status %d, title %q", c, e.status, e.title)
				}
			}
		}
	}
	if declared != len(catalogue) {
		t.Errorf("%d codes declared, %d catalogued", declared, len(catalogue))
	}
}

// TestStatuses: the codes merchants handle by status, as in the PayIn
// Deposits API.
func TestStatuses(t *testing.T) {
	for code, status := range map[Code]int{
		DuplicateDepositReference: 409, NoAvailableAddresses: 503, DepositReferenceNotFound: 404, DepositNotFound: 404,
		Unauthorized: 401, RateLimited: 429, InvalidJSON: 400, ValidationFailed: 400, InvalidDepositReference: 400,
		AddressUnavailable: 409, LimitExceeded: 409, UnsupportedMediaType: 415, MethodNotAllowed: 405, NotFound: 404,
		IdempotencyKeyReused: 422, PayloadTooLarge: 413, Unavailable: 503, Internal: 500,
	} {
		e := New(code, "x")
		if e.Code != code || e.StatusCode != status {
			t.Errorf("New(%s) = %s %d, want %d", code, e.Code, e.StatusCode, status)
		}
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, New(DuplicateDepositReference, "Deposit reference '%s' already exists", "a"))
	var body struct {
		Error, Message, Code string
		StatusCode           int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 409 || body.Code != "DUPLICATE_DEPOSIT_REFERENCE" ||
		body.StatusCode != 409 || body.Error == "" || body.Message != "Deposit reference 'a' already exists" {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	Write(rec, errPlain("disk on fire at /var/lib/x"))
	if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Message != "internal error" {
		t.Errorf("an error outside the catalogue shows %d %s", rec.Code, rec.Body)
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }
