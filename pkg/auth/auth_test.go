package auth

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// TestAuthMatrix runs every kind of credential, good and bad, through the
// middleware over real HTTP.
func TestAuthMatrix(t *testing.T) {
	clk := newClock()
	sk := signingKeys(t)
	jwks := writeJWKS(t, rsaJWK("rsa1", &sk.rsa.PublicKey), ecJWK(t, "ec1", &sk.ec.PublicKey))
	keys := &fakeKeys{}
	readKey := keys.add(t, "acme", []string{CapImportsRead}, false)
	adminKey := keys.add(t, "acme", []string{CapAdmin}, false)
	revokedKey := keys.add(t, "acme", []string{CapAdmin}, true)
	unknownKey, _ := NewAPIKey()

	// FailuresPerMinute is off here: the matrix fails on purpose many times.
	full, err := New(Config{HS256Secret: []byte(testSecret), JWKSFile: jwks, FailuresPerMinute: -1, Now: clk.Now}, keys)
	if err != nil {
		t.Fatal(err)
	}
	rsaOnly, err := New(Config{JWKSFile: writeJWKS(t, rsaJWK("rsa1", &sk.rsa.PublicKey)), FailuresPerMinute: -1, Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hsOnly, err := New(Config{HS256Secret: []byte(testSecret), FailuresPerMinute: -1, Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	down, err := New(Config{FailuresPerMinute: -1, Now: clk.Now}, &fakeKeys{err: errors.New("connection refused by mongo at 10.0.0.7")})
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{}
	for name, a := range map[string]*Authenticator{"full": full, "rsaOnly": rsaOnly, "hsOnly": hsOnly, "down": down} {
		servers[name] = testServer(t, a).URL
	}

	now := clk.Now()
	claims := func(mod func(c map[string]any)) map[string]any {
		c := map[string]any{
			"sub": "ann", "tenant": "acme", "capabilities": []string{CapImportsRead},
			"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hs := func(mod func(c map[string]any)) string {
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims(mod))
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	apiKey := func(k string) map[string]string { return map[string]string{"X-API-Key": k} }

	// The classic confusion attack: HMAC over the token with the RSA public
	// key (as a verifier would find it) used as the secret.
	pubDER, err := x509.MarshalPKIXPublicKey(&sk.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confused := sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", claims(nil))

	cases := []struct {
		name    string
		server  string
		path    string
		headers map[string]string
		status  int
		want    string // in the body
	}{
		{"missing credentials", "full", "/read", nil, 401, "no credentials"},
		{"basic scheme", "full", "/read", map[string]string{"Authorization": "Basic YTpi"}, 401, "unsupported Authorization scheme"},
		{"bearer without token", "full", "/read", map[string]string{"Authorization": "Bearer"}, 401, "empty bearer token"},
		{"bearer with blank token", "full", "/read", map[string]string{"Authorization": "Bearer   "}, 401, "empty bearer token"},
		{"malformed jwt", "full", "/read", bearer("abc.def"), 401, "malformed jwt"},
		{"jwt with bad base64", "full", "/read", bearer("a!.b!.c!"), 401, "malformed jwt"},
		{"short api key", "full", "/read", apiKey("ik_short"), 401, "malformed api key"},
		{"api key with space", "full", "/read", apiKey("ik_" + strings.Repeat("a", 20) + " " + strings.Repeat("b", 20)), 401, "malformed api key"},
		{"unknown api key", "full", "/read", apiKey(unknownKey), 401, "unknown api key"},
		{"revoked api key", "full", "/read", apiKey(revokedKey), 401, "revoked"},
		{"api key", "full", "/read", apiKey(readKey), 200, "ok"},
		{"api key as bearer", "full", "/read", bearer(readKey), 200, "ok"},
		{"api key lacks capability", "full", "/write", apiKey(readKey), 403, "missing capability imports:write"},
		{"admin key implies write", "full", "/write", apiKey(adminKey), 200, "ok"},
		{"admin key implies read", "full", "/read", apiKey(adminKey), 200, "ok"},
		{"api keys not enabled", "hsOnly", "/read", apiKey(readKey), 401, "api keys are not enabled"},
		{"key store down", "down", "/read", apiKey(readKey), 503, "authentication unavailable"},

		{"hs256", "full", "/read", bearer(hs(nil)), 200, "ok"},
		{"hs256 lacks capability", "full", "/write", bearer(hs(nil)), 403, "missing capability"},
		{"hs256 admin implies all", "full", "/write", bearer(hs(func(c map[string]any) { c["capabilities"] = []string{"admin"} })), 200, "ok"},
		{"hs256 custom capability", "full", "/admin", bearer(hs(func(c map[string]any) { c["capabilities"] = []string{"phonebook.ad_phonebook"} })), 403, "missing capability admin"},
		{"expired", "full", "/read", bearer(hs(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), 401, "jwt expired"},
		{"expired within skew", "full", "/read", bearer(hs(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })), 200, "ok"},
		{"not yet valid", "full", "/read", bearer(hs(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), 401, "not valid yet"},
		{"nbf within skew", "full", "/read", bearer(hs(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() })), 200, "ok"},
		{"issued in the future", "full", "/read", bearer(hs(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })), 401, "issued in the future"},
		{"no exp", "full", "/read", bearer(hs(func(c map[string]any) { delete(c, "exp") })), 401, "no exp claim"},
		{"exp of wrong type", "full", "/read", bearer(hs(func(c map[string]any) { c["exp"] = "tomorrow" })), 401, "wrong type"},
		{"wrong hs256 secret", "full", "/read", bearer(sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "", claims(nil))), 401, "signature invalid"},
		{"tampered payload", "full", "/read", bearer(tamper(t, hs(nil))), 401, "signature invalid"},
		{"alg none", "full", "/read", bearer(noneToken(claims(nil))), 401, "none, which is not accepted"},
		{"alg HS512", "full", "/read", bearer(sign(t, jwt.SigningMethodHS512, []byte(testSecret), "", claims(nil))), 401, "HS512, which is not accepted"},
		{"unknown alg", "full", "/read", bearer(withHeader(t, hs(nil), `{"alg":"XX999"}`)), 401, "algorithm not supported"},
		{"missing tenant", "full", "/read", bearer(hs(func(c map[string]any) { delete(c, "tenant") })), 401, "no tenant claim"},
		{"tenant unsafe for subjects", "full", "/read", bearer(hs(func(c map[string]any) { c["tenant"] = "a.>" })), 401, "not a valid tenant"},
		{"missing sub", "full", "/read", bearer(hs(func(c map[string]any) { delete(c, "sub") })), 401, "no sub claim"},
		{"capabilities not an array", "full", "/read", bearer(hs(func(c map[string]any) { c["capabilities"] = "admin" })), 401, "capabilities claim"},
		{"no capabilities", "full", "/read", bearer(hs(func(c map[string]any) { delete(c, "capabilities") })), 403, "missing capability"},

		{"rs256", "full", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsa, "rsa1", claims(nil))), 200, "ok"},
		{"es256", "full", "/read", bearer(sign(t, jwt.SigningMethodES256, sk.ec, "ec1", claims(nil))), 200, "ok"},
		{"rs256 without kid, one rsa key", "full", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsa, "", claims(nil))), 200, "ok"},
		{"rs256 unknown kid", "full", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsa, "nope", claims(nil))), 401, "kid names no known key"},
		{"rs256 kid of ec key", "full", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsa, "ec1", claims(nil))), 401, "names a key for ES256"},
		{"rs256 by another key", "full", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsaOther, "rsa1", claims(nil))), 401, "signature invalid"},
		{"rs256 expired", "full", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsa, "rsa1", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))), 401, "jwt expired"},
		{"hs256 against rsa-only", "rsaOnly", "/read", bearer(hs(nil)), 401, "HS256, which is not accepted"},
		{"hs256 signed with rsa public key", "rsaOnly", "/read", bearer(confused), 401, "HS256, which is not accepted"},
		{"hs256 signed with rsa public key, hs configured", "full", "/read", bearer(confused), 401, "signature invalid"},
		{"es256 against rsa-only", "rsaOnly", "/read", bearer(sign(t, jwt.SigningMethodES256, sk.ec, "ec1", claims(nil))), 401, "ES256, which is not accepted"},
		{"rs256 against hs-only", "hsOnly", "/read", bearer(sign(t, jwt.SigningMethodRS256, sk.rsa, "rsa1", claims(nil))), 401, "RS256, which is not accepted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := doURL(t, servers[tc.server]+tc.path, tc.headers)
			if r.status != tc.status || !strings.Contains(r.body, tc.want) {
				t.Fatalf("got %d %q, want %d containing %q", r.status, r.body, tc.status, tc.want)
			}
			// Nothing secret comes back: not the credential, not the HS256
			// secret, not the cause of a 503.
			for _, v := range tc.headers {
				_, cred, _ := strings.Cut(v, " ")
				for _, s := range []string{v, cred} {
					if len(s) >= 16 && strings.Contains(r.body, s) {
						t.Errorf("body echoes the credential: %q", r.body)
					}
				}
			}
			for _, s := range []string{testSecret, "10.0.0.7"} {
				if strings.Contains(r.body, s) {
					t.Errorf("body leaks %q: %q", s, r.body)
				}
			}
		})
	}
}

func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	c, _ := json.Marshal(map[string]any{"sub": "eve", "tenant": "acme", "capabilities": []string{"admin"}, "exp": time.Now().Add(time.Hour).Unix()})
	return parts[0] + "." + b64u(c) + "." + parts[2]
}

func withHeader(t *testing.T, tok, header string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	return b64u([]byte(header)) + "." + parts[1] + "." + parts[2]
}

func doURL(t *testing.T, url string, headers map[string]string) result {
	t.Helper()
	return get(t, http.DefaultClient, url, headers)
}

// TestPrincipal checks what the handler sees for each method.
func TestPrincipal(t *testing.T) {
	clk := newClock()
	keys := &fakeKeys{}
	plain := keys.add(t, "acme", []string{CapImportsWrite}, false)
	a, err := New(Config{HS256Secret: []byte(testSecret), Now: clk.Now}, keys)
	if err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, a)
	tok, err := SignHS256([]byte(testSecret), map[string]any{
		"sub": "ann", "tenant": "beta", "capabilities": []string{"imports:read", "phonebook.ad_phonebook"},
		"exp": clk.Now().Add(time.Minute).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    Principal
	}{
		{"api key", map[string]string{"X-API-Key": plain}, Principal{Tenant: "acme", Subject: "api_key:" + KeyID(HashKey(plain)),
			Capabilities: []string{CapImportsWrite}, Method: MethodAPIKey, KeyID: KeyID(HashKey(plain))}},
		{"jwt", map[string]string{"Authorization": "Bearer " + tok}, Principal{Tenant: "beta", Subject: "ann",
			Capabilities: []string{"imports:read", "phonebook.ad_phonebook"}, Method: MethodJWT}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, srv, "/whoami", tc.headers)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got Principal
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Tenant != tc.want.Tenant || got.Subject != tc.want.Subject || got.Method != tc.want.Method ||
				got.KeyID != tc.want.KeyID || strings.Join(got.Capabilities, ",") != strings.Join(tc.want.Capabilities, ",") {
				t.Fatalf("principal %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHas(t *testing.T) {
	for _, tc := range []struct {
		caps []string
		c    string
		want bool
	}{
		{nil, CapImportsRead, false},
		{[]string{CapImportsRead}, CapImportsRead, true},
		{[]string{CapImportsRead}, CapImportsWrite, false},
		{[]string{CapAdmin}, CapImportsWrite, true},
		{[]string{CapAdmin}, CapSchemasWrite, true},
		{[]string{CapAdmin}, "phonebook.ad_phonebook", true},
		{[]string{"phonebook.ad_phonebook"}, CapAdmin, false},
		// Admin is every capability of its tenant, but not operator.
		{[]string{CapAdmin}, CapOperator, false},
		{[]string{CapOperator}, CapAdmin, true},
		{[]string{CapOperator}, CapImportsWrite, true},
		{[]string{CapOperator}, CapOperator, true},
	} {
		if got := (Principal{Capabilities: tc.caps}).Has(tc.c); got != tc.want {
			t.Errorf("%v.Has(%s) = %v", tc.caps, tc.c, got)
		}
	}
}

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		keys KeyStore
		want bool
	}{
		{"nothing", Config{}, nil, false},
		{"keys", Config{}, &fakeKeys{}, true},
		{"hs256", Config{HS256Secret: []byte(testSecret)}, nil, true},
	} {
		a, err := New(tc.cfg, tc.keys)
		if err != nil {
			t.Fatal(err)
		}
		if a.Enabled() != tc.want {
			t.Errorf("%s: Enabled() = %v", tc.name, !tc.want)
		}
	}
}

func TestRequireWithoutMiddleware(t *testing.T) {
	h := Require(CapImportsRead, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler ran without a principal")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 401 {
		t.Fatalf("status %d, want 401", w.Code)
	}
}

func TestSignHS256ShortSecret(t *testing.T) {
	if _, err := SignHS256([]byte("short"), map[string]any{"exp": 1}); err == nil {
		t.Fatal("want error for a short secret")
	}
}

func TestAPIKeyFormat(t *testing.T) {
	k, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k, "ik_") || len(k) != 55 || ValidateAPIKey(k) != nil {
		t.Fatalf("key %q: want ik_ and 52 base32 characters", k)
	}
	k2, _ := NewAPIKey()
	if k == k2 {
		t.Fatal("two keys alike")
	}
	h := HashKey(k)
	if !IsKeyHash(h) || !IsKeyID(KeyID(h)) || KeyID(h) != h[:12] || KeyPrefix(k) != k[:8] {
		t.Fatalf("hash %q id %q prefix %q", h, KeyID(h), KeyPrefix(k))
	}
	if IsKeyHash(strings.ToUpper(h)) || IsKeyID("xyz") {
		t.Fatal("accepted a malformed hash or id")
	}
}
