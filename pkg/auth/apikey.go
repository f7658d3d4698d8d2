package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
)

// APIKeyPrefix starts every generated API key, so that keys are recognisable
// (by people and by secret scanners) and can be told apart from JWTs.
const APIKeyPrefix = "ik_"

// Bounds of an acceptable API key. The minimum only matters for keys chosen
// by an operator (INTAKE_BOOTSTRAP_API_KEY): generated keys are 55 characters.
const (
	MinAPIKeyLen = 32
	MaxAPIKeyLen = 256
	// KeyIDLen is the length of a key's public ID (hex characters of its hash).
	KeyIDLen = 12
	// KeyPrefixLen is how much of the key itself is stored, to recognise it.
	KeyPrefixLen = 8
)

// Lower-case, without letters easily confused (i, l, o, u), so keys survive
// being read out or retyped; the same alphabet as import IDs.
var keyEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewAPIKey returns a fresh API key: "ik_" and 32 random bytes in base32
// (55 characters).
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return APIKeyPrefix + keyEncoding.EncodeToString(b[:]), nil
}

// HashKey returns the hex SHA-256 of an API key, which is all that is stored.
// A plain hash suffices (no salt, no slow KDF): keys are 256-bit random
// values, not passwords, so there is nothing to guess from the hash.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeyID returns the public ID of the key with hash hash: its first 12 hex
// characters. Showing it reveals 48 bits of a hash of a 256-bit secret, which
// does not help finding the key, and it is long enough to never collide in
// one deployment.
func KeyID(hash string) string {
	if len(hash) < KeyIDLen {
		return hash
	}
	return hash[:KeyIDLen]
}

// KeyPrefix returns the part of a key that is stored to recognise it.
func KeyPrefix(key string) string {
	if len(key) < KeyPrefixLen {
		return key
	}
	return key[:KeyPrefixLen]
}

// ValidateAPIKey checks that key could be an API key: 32 to 256 printable
// ASCII characters without spaces. It never includes the key in its error.
func ValidateAPIKey(key string) error {
	return checkKeyFormat(key)
}

func checkKeyFormat(key string) error {
	if len(key) < MinAPIKeyLen || len(key) > MaxAPIKeyLen {
		return fmt.Errorf("want %d to %d characters", MinAPIKeyLen, MaxAPIKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return fmt.Errorf("want printable ASCII characters without spaces")
		}
	}
	return nil
}

// IsKeyHash reports whether s has the form of HashKey's result.
func IsKeyHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

// IsKeyID reports whether s has the form of KeyID's result.
func IsKeyID(s string) bool {
	if len(s) != KeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
