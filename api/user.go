package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"strings"
)

// UserHash returns the keyed hash stored in place of a user's email: an
// HMAC-SHA-256, keyed with HashKey, of the tenant and the normalised address,
// so the same person has the same hash within a tenant and unrelated hashes
// across tenants. An empty email has no hash.
func (s *Server) UserHash(tenant, email string) string {
	if email == "" {
		return ""
	}
	mac := hmac.New(sha256.New, s.HashKey)
	mac.Write([]byte(tenant))
	mac.Write([]byte{0})
	mac.Write([]byte(normalizeEmail(email)))
	return hex.EncodeToString(mac.Sum(nil))
}

// normalizeEmail reduces an address to its bare, lower-case form:
// "Alice <A@X.org>" and " a@x.org " both become "a@x.org". Text that does not
// parse as an address (the API validates it beforehand) is only trimmed and
// lower-cased.
func normalizeEmail(email string) string {
	if a, err := mail.ParseAddress(email); err == nil {
		email = a.Address
	}
	return strings.ToLower(strings.TrimSpace(email))
}
