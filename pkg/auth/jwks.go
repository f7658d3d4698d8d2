package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
)

// minRSABits refuses RSA keys too weak to trust (NIST: 2048 bits minimum).
const minRSABits = 2048

// jwk is the subset of RFC 7517/7518 members Intake reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// RSA
	N string `json:"n"`
	E string `json:"e"`
	// EC
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

type publicKey struct {
	kid string
	alg string // algRS256 or algES256: the one algorithm this key verifies
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// keySet holds the usable keys of a JWKS file.
type keySet struct {
	keys []publicKey
}

// keyError is a reason a token's key could not be chosen, safe to show.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// loadJWKSFile reads a JSON Web Key Set. Keys Intake cannot use (encryption
// keys, other key types or algorithms) are skipped, since identity providers
// publish them alongside signing keys; a set without any usable key, a
// malformed usable key or two keys with one kid is an error.
func loadJWKSFile(path string) (*keySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS file: %w", err)
	}
	ks, err := parseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	return ks, nil
}

func parseJWKS(data []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	ks := &keySet{}
	kids := map[string]bool{}
	for i, k := range doc.Keys {
		alg, ok := usable(k)
		if !ok {
			continue
		}
		pk, err := parseJWK(k, alg)
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if kids[k.Kid] {
			return nil, fmt.Errorf("key %d: kid %q appears twice", i, k.Kid)
		}
		kids[k.Kid] = true
		ks.keys = append(ks.keys, pk)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("no usable signing key (want RSA keys for RS256 or P-256 EC keys for ES256)")
	}
	return ks, nil
}

// usable says which algorithm k is for, if Intake can use it.
func usable(k jwk) (string, bool) {
	if k.Use != "" && k.Use != "sig" {
		return "", false
	}
	var alg string
	switch {
	case k.Kty == "RSA":
		alg = algRS256
	case k.Kty == "EC" && k.Crv == "P-256":
		alg = algES256
	default:
		return "", false
	}
	// A key meant for another algorithm (RS512, PS256...) must not verify
	// RS256 tokens: skip it rather than widen what it is trusted for.
	if k.Alg != "" && k.Alg != alg {
		return "", false
	}
	return alg, true
}

func parseJWK(k jwk, alg string) (publicKey, error) {
	switch alg {
	case algRS256:
		n, err := b64int(k.N)
		if err != nil {
			return publicKey{}, fmt.Errorf("modulus n: %w", err)
		}
		e, err := b64int(k.E)
		if err != nil {
			return publicKey{}, fmt.Errorf("exponent e: %w", err)
		}
		if n.BitLen() < minRSABits {
			return publicKey{}, fmt.Errorf("RSA key of %d bits, want at least %d", n.BitLen(), minRSABits)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return publicKey{}, errors.New("unusable RSA exponent")
		}
		return publicKey{kid: k.Kid, alg: alg, key: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case algES256:
		x, err := b64fixed(k.X, 32)
		if err != nil {
			return publicKey{}, fmt.Errorf("coordinate x: %w", err)
		}
		y, err := b64fixed(k.Y, 32)
		if err != nil {
			return publicKey{}, fmt.Errorf("coordinate y: %w", err)
		}
		// Parsing the uncompressed point also checks that it is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return publicKey{}, fmt.Errorf("EC key: %w", err)
		}
		return publicKey{kid: k.Kid, alg: alg, key: pub}, nil
	}
	return publicKey{}, fmt.Errorf("unsupported algorithm %s", alg)
}

func b64(s string) ([]byte, error) {
	// RFC 7518 says unpadded base64url; tolerate padding some tools add.
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	return b, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := b64(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("missing")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64fixed(s string, size int) ([]byte, error) {
	b, err := b64(s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}

func (ks *keySet) has(alg string) bool {
	for _, k := range ks.keys {
		if k.alg == alg {
			return true
		}
	}
	return false
}

// find returns the key for a token signed with alg: the key named by kid,
// which must be of the algorithm's type; without kid, the only key of that
// type (with several, a token must say which).
func (ks *keySet) find(alg, kid string) (any, error) {
	if ks == nil {
		return nil, &keyError{"jwt algorithm needs a JWKS file, none configured"}
	}
	if kid != "" {
		for _, k := range ks.keys {
			if k.kid == kid {
				if k.alg != alg {
					return nil, &keyError{fmt.Sprintf("jwt kid names a key for %s, token is signed with %s", k.alg, alg)}
				}
				return k.key, nil
			}
		}
		return nil, &keyError{"jwt kid names no known key"}
	}
	var found any
	n := 0
	for _, k := range ks.keys {
		if k.alg == alg {
			found = k.key
			n++
		}
	}
	switch n {
	case 0:
		return nil, &keyError{fmt.Sprintf("no key for %s", alg)}
	case 1:
		return found, nil
	default:
		return nil, &keyError{"jwt has no kid and several keys could have signed it"}
	}
}
