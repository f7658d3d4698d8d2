package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/intake/intake/pkg/testenv"
)

// fakeKeys is an in-memory KeyStore.
type fakeKeys struct {
	mu   sync.Mutex
	keys map[string]Key // by hash
	err  error
}

func (f *fakeKeys) LookupKey(_ context.Context, hash string) (Key, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Key{}, false, f.err
	}
	k, ok := f.keys[hash]
	return k, ok, nil
}

// add stores a new key and returns its plaintext.
func (f *fakeKeys) add(t *testing.T, tenant string, caps []string, revoked bool) string {
	t.Helper()
	plain, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	h := HashKey(plain)
	k := Key{ID: KeyID(h), Prefix: KeyPrefix(plain), Name: "test", Tenant: tenant, Capabilities: caps, CreatedAt: time.Now()}
	if revoked {
		now := time.Now()
		k.RevokedAt = &now
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]Key{}
	}
	f.keys[h] = k
	return plain
}

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKeys are JWT signing keys. RSA generation is the costly step of
// these tests, so few tests make them.
type testKeys struct {
	rsa      *rsa.PrivateKey
	rsaOther *rsa.PrivateKey // not in the JWKS
	ec       *ecdsa.PrivateKey
}

func signingKeys(t *testing.T) testKeys {
	t.Helper()
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64u(pub.N.Bytes()), "e": b64u(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	b, err := pub.Bytes() // uncompressed: 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64u(b[1:33]), "y": b64u(b[33:65])}
}

// writeJWKS writes a key set to a temporary file and returns its path.
func writeJWKS(t *testing.T, keys ...map[string]any) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return testenv.WriteFile(t, "jwks.json", data)
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noneToken is a token with "alg": "none" and no signature.
func noneToken(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return b64u(h) + "." + b64u(c) + "."
}

// testServer serves, behind a.Middleware: /whoami (any principal, answers
// it as JSON), /read, /write and /admin (requiring those capabilities).
// The client address is taken from X-Test-IP, as chi's RealIP would from
// X-Forwarded-For behind a proxy.
func testServer(t *testing.T, a *Authenticator) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no principal", 500)
			return
		}
		_ = json.NewEncoder(w).Encode(p)
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.Handle("/read", Require(CapImportsRead, nil)(ok))
	mux.Handle("/write", Require(CapImportsWrite, nil)(ok))
	mux.Handle("/admin", Require(CapAdmin, nil)(ok))
	setIP := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ip := r.Header.Get("X-Test-IP"); ip != "" {
				r.RemoteAddr = net.JoinHostPort(ip, "1234")
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(setIP(a.Middleware(nil)(mux)))
	t.Cleanup(srv.Close)
	return srv
}

type result struct {
	status     int
	body       string
	retryAfter string
}

func do(t *testing.T, srv *httptest.Server, path string, headers map[string]string) result {
	t.Helper()
	return get(t, srv.Client(), srv.URL+path, headers)
}

// get sends a GET with headers through hc and reads the whole answer.
func get(t *testing.T, hc *http.Client, url string, headers map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, body: string(body), retryAfter: resp.Header.Get("Retry-After")}
}
