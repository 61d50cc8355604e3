package tool

import (
	"encoding/json"
	"fmt"
	"strings"
)

// secrets resolves the ${VAR} references of a call's definition with the
// worker's environment, and remembers the values it gave so they can be
// redacted from whatever the call answers.
type secrets struct {
	getenv func(string) string
	values []string
}

// minRedacted is the length under which a resolved value is not redacted:
// shorter ones would mangle ordinary text.
const minRedacted = 8

// redacted replaces a secret value in what a tool answered.
const redacted = "[redacted]"

// resolve replaces each ${VAR} of s by the variable's value; where names
// the string for the error when a variable is missing.
func (s *secrets) resolve(text, where string) (string, error) {
	var b strings.Builder
	for {
		start := strings.Index(text, "${")
		if start < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		end := strings.IndexByte(text[start:], '}')
		if end < 0 {
			return "", permanent(fmt.Sprintf("%s: ${ is never closed by }", where))
		}
		name := text[start+2 : start+end]
		v := s.getenv(name)
		if v == "" {
			return "", permanent(fmt.Sprintf("%s: environment variable %s is not set on this worker", where, name))
		}
		if len(v) >= minRedacted {
			s.values = append(s.values, v)
		}
		b.WriteString(text[:start])
		b.WriteString(v)
		text = text[start+end+1:]
	}
}

// redact removes the resolved values from a text.
func (s *secrets) redact(text string) string {
	for _, v := range s.values {
		text = strings.ReplaceAll(text, v, redacted)
	}
	return text
}

// redactJSON removes the resolved values from a JSON text, in plain and in
// JSON-escaped form; nil if what is left is no longer JSON.
func (s *secrets) redactJSON(data json.RawMessage) json.RawMessage {
	if len(data) == 0 {
		return data
	}
	out := string(data)
	for _, v := range s.values {
		out = strings.ReplaceAll(out, v, redacted)
		if quoted, err := json.Marshal(v); err == nil {
			out = strings.ReplaceAll(out, string(quoted[1:len(quoted)-1]), redacted)
		}
	}
	if !json.Valid([]byte(out)) {
		return nil
	}
	return json.RawMessage(out)
}
