package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewRejectsBadConfig(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := ecJWK(t, "bad", &ec.PublicKey)
	offCurve["y"] = offCurve["x"]
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unreadable := write("unreadable.json", `{"keys":[]}`)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(unreadable); err == nil { // running as root: chmod does not stop reading
		f.Close()
		unreadable = filepath.Join(dir, "a-directory")
		if err := os.Mkdir(unreadable, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing file", Config{JWKSFile: filepath.Join(dir, "nope.json")}, "read JWKS file"},
		{"unreadable file", Config{JWKSFile: unreadable}, "read JWKS file"},
		{"not json", Config{JWKSFile: write("garbage.json", "not json")}, "not a JSON Web Key Set"},
		{"no usable key", Config{JWKSFile: writeJWKS(t,
			map[string]any{"kty": "oct", "k": "c2VjcmV0"},
			map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
			map[string]any{"kty": "EC", "crv": "P-384", "x": "AAAA", "y": "AAAA"},
			func() map[string]any { k := ecJWK(t, "enc", &ec.PublicKey); k["use"] = "enc"; return k }(),
			func() map[string]any { k := ecJWK(t, "es512", &ec.PublicKey); k["alg"] = "ES512"; return k }(),
		)}, "no usable signing key"},
		{"weak rsa key", Config{JWKSFile: writeJWKS(t, rsaJWK("weak", &weak.PublicKey))}, "want at least 2048"},
		{"point off the curve", Config{JWKSFile: writeJWKS(t, offCurve)}, "EC key"},
		{"bad base64", Config{JWKSFile: writeJWKS(t, map[string]any{"kty": "EC", "crv": "P-256", "kid": "x", "x": "!!", "y": "!!"})}, "not base64url"},
		{"duplicate kid", Config{JWKSFile: writeJWKS(t, ecJWK(t, "k", &ec.PublicKey), ecJWK(t, "k", &ec.PublicKey))}, `kid "k" appears twice`},
		{"short secret", Config{HS256Secret: []byte("hunter2-is-short")}, "too short"},
		{"skew too large", Config{Skew: time.Hour}, "out of range"},
		{"negative skew", Config{Skew: -time.Second}, "out of range"},
		{"negative block", Config{BlockFor: -time.Second}, "negative block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

// TestJWKSSkipsForeignKeys: keys for other uses or algorithms are skipped,
// not trusted, and a token naming one is refused.
func TestJWKSSkipsForeignKeys(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreign := ecJWK(t, "foreign", &other.PublicKey)
	foreign["use"] = "enc"
	padded := ecJWK(t, "ec1", &ec.PublicKey)
	padded["x"] = padded["x"].(string) + "=" // tolerated
	clk := newClock()
	a, err := New(Config{JWKSFile: writeJWKS(t, padded, foreign), Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, a)
	c := map[string]any{"sub": "s", "tenant": "t", "capabilities": []string{"admin"}, "exp": clk.Now().Add(time.Hour).Unix()}
	if r := do(t, srv, "/admin", map[string]string{"Authorization": "Bearer " + sign(t, jwt.SigningMethodES256, ec, "ec1", c)}); r.status != 200 {
		t.Fatalf("ec1: %d %s", r.status, r.body)
	}
	if r := do(t, srv, "/admin", map[string]string{"Authorization": "Bearer " + sign(t, jwt.SigningMethodES256, other, "foreign", c)}); r.status != 401 || !strings.Contains(r.body, "no known key") {
		t.Fatalf("foreign: %d %s", r.status, r.body)
	}
}

func TestJWKSNeedsKidWithSeveralKeys(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clk := newClock()
	a, err := New(Config{JWKSFile: writeJWKS(t, ecJWK(t, "a", &k1.PublicKey), ecJWK(t, "b", &k2.PublicKey)), Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, a)
	c := map[string]any{"sub": "s", "tenant": "t", "exp": clk.Now().Add(time.Hour).Unix()}
	for _, tc := range []struct {
		kid    string
		key    *ecdsa.PrivateKey
		status int
	}{{"a", k1, 200}, {"b", k2, 200}, {"a", k2, 401}, {"", k1, 401}} {
		r := do(t, srv, "/whoami", map[string]string{"Authorization": "Bearer " + sign(t, jwt.SigningMethodES256, tc.key, tc.kid, c)})
		if r.status != tc.status {
			t.Errorf("kid %q: %d %s, want %d", tc.kid, r.status, r.body, tc.status)
		}
	}
}

func TestSkewConfigurable(t *testing.T) {
	clk := newClock()
	a, err := New(Config{HS256Secret: []byte(testSecret), Skew: 5 * time.Second, Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, a)
	for _, tc := range []struct {
		exp    time.Duration
		status int
	}{{-30 * time.Second, 401}, {-4 * time.Second, 200}, {time.Second, 200}} {
		tok, err := SignHS256([]byte(testSecret), map[string]any{"sub": "s", "tenant": "t", "exp": clk.Now().Add(tc.exp).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		if r := do(t, srv, "/whoami", map[string]string{"Authorization": "Bearer " + tok}); r.status != tc.status {
			t.Errorf("exp %s: %d %s, want %d", tc.exp, r.status, r.body, tc.status)
		}
	}
}
