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
func NewImport() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return "imp_" + enc.EncodeToString(b[:])
}
