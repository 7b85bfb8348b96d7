package merchantapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/inflowhq/inflow/pkg/apierr"
)

// DecodeJSON reads one JSON object into v, strictly. encoding/json alone is
// lenient in ways that let two clients, or a client and Inflow, read one
// body differently, so the body is checked first:
//
//   - it is valid UTF-8 (encoding/json would silently replace bad bytes);
//   - no object has a key twice (encoding/json keeps the last one);
//   - every key of an object decoded into a struct names one of its fields
//     exactly, case included (encoding/json matches case-insensitively and
//     ignores unknown keys, so a typo such as "chainID" was dropped);
//   - there is nothing after the object.
//
// Malformed JSON is INVALID_JSON; a body of the wrong shape is
// VALIDATION_ERROR. Both are 400 and name the offending key.
func DecodeJSON(r io.Reader, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	if err != nil {
		return apierr.New(apierr.InvalidJSON, "cannot read the request body: %v", err)
	}
	if len(body) > MaxBody {
		return apierr.New(apierr.PayloadTooLarge, "request body is larger than %d bytes", MaxBody)
	}
	return UnmarshalStrict(body, v)
}

// UnmarshalStrict is DecodeJSON over a body already read.
func UnmarshalStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return apierr.New(apierr.InvalidJSON, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if first != json.Delim('{') {
		return apierr.New(apierr.InvalidJSON, "request body must be a JSON object")
	}
	if err := walkObject(dec, reflect.TypeOf(v), ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.New(apierr.InvalidJSON, "request body has data after the JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return apierr.New(apierr.ValidationFailed, "field %q must be a %s", te.Field, te.Type)
		}
		return apierr.New(apierr.InvalidJSON, "request body is not valid JSON: %v", err)
	}
	return nil
}

func syntaxError(err error) error {
	return apierr.New(apierr.InvalidJSON, "request body is not valid JSON: %v", err)
}

var rawMessage = reflect.TypeOf(json.RawMessage(nil))

// deref strips pointers; nil means "any JSON".
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessage || (t != nil && t.Kind() == reflect.Interface) {
		return nil
	}
	return t
}

// walkValue checks the value whose first token is tok.
func walkValue(dec *json.Decoder, tok json.Token, t reflect.Type, at string) error {
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, t, at)
	case json.Delim('['):
		var elem reflect.Type
		if t = deref(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			next, err := dec.Token()
			if err != nil {
				return syntaxError(err)
			}
			if err := walkValue(dec, next, elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err)
		}
	}
	return nil
}

// walkObject checks an object whose '{' has been read.
func walkObject(dec *json.Decoder, t reflect.Type, at string) error {
	t = deref(t)
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = structFields(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, _ := kt.(string)
		name := key
		if at != "" {
			name = at + "." + key
		}
		if seen[key] {
			return apierr.New(apierr.InvalidJSON, "key %q appears twice", name)
		}
		seen[key] = true
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				for f := range fields {
					if strings.EqualFold(f, key) {
						return apierr.New(apierr.ValidationFailed, "unknown field %q (keys are case-sensitive: did you mean %q?)", name, f)
					}
				}
				return apierr.New(apierr.ValidationFailed, "unknown field %q", name)
			}
		}
		vt, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		if err := walkValue(dec, vt, ft, name); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntaxError(err)
	}
	return nil
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// structFields maps a struct's JSON keys to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	if v, ok := fieldCache.Load(t); ok {
		return v.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		out[name] = f.Type
	}
	fieldCache.Store(t, out)
	return out
}

// CheckContentType accepts a body declared as JSON (application/json, with
// at most a charset of utf-8), or not declared at all. A body declared as
// anything else (a form, text/plain) is refused with 415: it is not meant
// as JSON, and a browser can send such bodies across sites without asking.
func CheckContentType(header string, bodyLen int) error {
	if header == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || mt != "application/json" {
		return apierr.New(apierr.UnsupportedMediaType, "Content-Type must be application/json, not %q", header)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return apierr.New(apierr.UnsupportedMediaType, "Content-Type parameter %s=%s is not accepted (JSON is UTF-8)", k, v)
		}
	}
	return nil
}
