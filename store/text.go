package store

import (
	"encoding/json"
	"strings"
)

// Text written by tools and models may hold what Postgres refuses: NUL bytes (in text, and
// \u0000 in jsonb), invalid UTF-8, lone UTF-16 surrogates in JSON escapes, or JSON that does
// not parse. The writes of such text (tool calls, messages, LLM calls, event payloads) clean
// it here, so that recording what happened never fails on its content.

// replacement stands for what could not be stored.
const replacement = "\uFFFD"

// cleanText returns s with invalid UTF-8 and NUL bytes replaced by U+FFFD.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, replacement), "\x00", replacement)
}

// cleanJSON returns raw as JSON that jsonb accepts: invalid UTF-8 and the escapes \u0000 and
// lone surrogates become U+FFFD (and so do raw NUL bytes, which JSON does not allow); text
// that is not JSON becomes a JSON string of it. Empty
// stays empty (SQL NULL).
func cleanJSON(raw []byte) []byte {
	if len(raw) == 0 {
		return nil
	}
	text := cleanText(string(raw))
	clean := cleanEscapes([]byte(text))
	if !json.Valid(clean) {
		quoted, _ := json.Marshal(text) // a string always marshals
		return quoted
	}
	return clean
}

// cleanEscapes replaces the \u escapes of JSON text that jsonb refuses (\u0000 and surrogates
// not in a high-low pair) with \ufffd. Other bytes are kept as they are.
func cleanEscapes(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			out = append(out, raw[i])
			continue
		}
		if raw[i+1] != 'u' {
			out = append(out, raw[i], raw[i+1]) // \\, \", \n, ...: the escaped byte is not a \
			i++
			continue
		}
		r, ok := hexRune(raw[i+2:])
		if !ok {
			out = append(out, raw[i], raw[i+1])
			i++
			continue
		}
		switch {
		case r == 0:
			out = append(out, `\ufffd`...)
		case r >= 0xD800 && r <= 0xDBFF:
			// A high surrogate is kept with the low one that follows it, else replaced.
			if len(raw) >= i+12 && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if low, ok := hexRune(raw[i+8:]); ok && low >= 0xDC00 && low <= 0xDFFF {
					out = append(out, raw[i:i+12]...)
					i += 11
					continue
				}
			}
			out = append(out, `\ufffd`...)
		case r >= 0xDC00 && r <= 0xDFFF:
			out = append(out, `\ufffd`...)
		default:
			out = append(out, raw[i:i+6]...)
		}
		i += 5
	}
	return out
}

// hexRune decodes the 4 hex digits that start b.
func hexRune(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
