package definitions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	schemakind "github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is the name a schema is compiled under; it is never fetched.
const schemaURL = "urn:troupe:schema"

// schemaProblem is an invalid schema, with the path of the offending value
// inside it.
type schemaProblem struct {
	path []string
	msg  string
}

func (p *schemaProblem) Error() string { return p.msg }

// compileSchema compiles a JSON Schema (draft 2020-12 unless it names
// another). External references are refused: definitions are untrusted.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err == nil {
		return sch, nil
	}
	var invalid *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &invalid) && errors.As(invalid.Err, &verr) {
		if leaves := leafErrors(verr); len(leaves) > 0 {
			return nil, &schemaProblem{path: leaves[0].InstanceLocation, msg: "invalid JSON Schema: " + describeLeaf(leaves[0], "")}
		}
	}
	return nil, &schemaProblem{msg: "invalid JSON Schema: " + strings.TrimPrefix(err.Error(), "jsonschema: ")}
}

// noLoader refuses to load any schema from outside the definition.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: schemas may not reference other documents", url)
}

// validateAgainst validates a JSON document against a schema; what names
// the document in messages ("input", "output").
func validateAgainst(sch *jsonschema.Schema, raw json.RawMessage, what string) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("null")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s is not valid JSON: %w", what, err)
	}
	err = sch.Validate(doc)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	leaves := leafErrors(verr)
	msgs := make([]string, 0, len(leaves))
	for _, leaf := range leaves {
		if m := describeLeaf(leaf, what); !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	slices.Sort(msgs) // the library's order of causes varies
	if len(msgs) > 5 {
		msgs = append(msgs[:5], fmt.Sprintf("and %d more", len(msgs)-5))
	}
	return fmt.Errorf("%s does not match its schema: %s", what, strings.Join(msgs, "; "))
}

// leafErrors returns the innermost errors: the rules that actually failed.
func leafErrors(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leafErrors(c)...)
	}
	return out
}

// describeLeaf says which field failed which rule, as in
// "input.text: minLength: got 0, want 1".
func describeLeaf(e *jsonschema.ValidationError, root string) string {
	at := fieldPath(root, e.InstanceLocation)
	msg := e.ErrorKind.LocalizedString(message.NewPrinter(language.English))
	if kw := e.ErrorKind.KeywordPath(); len(kw) > 0 && !strings.HasPrefix(msg, kw[0]) {
		msg = kw[0] + ": " + msg
	}
	if _, ok := e.ErrorKind.(*schemakind.FalseSchema); ok {
		msg = "not allowed"
	}
	if at == "" {
		return msg
	}
	return at + ": " + msg
}

// fieldPath writes a JSON location as "input.messages[0].role".
func fieldPath(root string, location []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, tok := range location {
		switch {
		case isIndex(tok):
			b.WriteString("[" + tok + "]")
		case b.Len() == 0:
			b.WriteString(tok)
		default:
			b.WriteString("." + tok)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
