// Package ids validates and creates the identifiers that travel in subjects:
// tenant and import IDs must be safe as NATS subject tokens and as parts of
// MongoDB collection names.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"regexp"
)

var safe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidTenant reports whether t can be used as a tenant ID.
func ValidTenant(t string) error {
	if !safe.MatchString(t) {
		return fmt.Errorf("invalid tenant %q: want 1-64 characters of A-Z a-z 0-9 _ -", t)
	}
	return nil
}

// ValidImport reports whether id can be used as an import ID.
func ValidImport(id string) error {
	if !safe.MatchString(id) {
		return fmt.Errorf("invalid import id %q: want 1-64 characters of A-Z a-z 0-9 _ -", id)
	}
	return nil
}

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewImport returns a fresh random import ID such as "imp_5q2k...".
func NewImport() string { return "imp_" + NewSecret() }

// NewSecret returns a fresh random token (120 bits, subject-safe) that an
// import's publisher puts into its rows' message IDs (subjects.RowsPrefix).
func NewSecret() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return enc.EncodeToString(b[:])
}

// Scoped is the key of an import's state wherever it is held outside the
// tenant's own collections (claim logs, in-memory tables, caches):
// <tenant>.<import>. Import IDs are unique only within a tenant as far as
// anything another tenant can publish is concerned, so state is never
// keyed by the import ID alone.
func Scoped(tenant, importID string) string { return tenant + "." + importID }
