package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/services/intake/app"
)

// forwarded is a request from the test (127.0.0.1) as a proxy would send
// it on behalf of client.
func forwarded(client string, headers map[string]string) map[string]string {
	h := map[string]string{"X-Forwarded-For": client}
	for k, v := range headers {
		h[k] = v
	}
	return h
}

// TestTrustedProxies: behind a trusted proxy, failed logins count per
// forwarded client, so one client's guesses do not lock out the others; an
// X-Forwarded-For from a peer that is not trusted is ignored.
func TestTrustedProxies(t *testing.T) {
	badKey := key("ik_0000000000000000000000000000000000000000")

	t.Run("behind a trusted proxy", func(t *testing.T) {
		s := startSystem(t, t.TempDir(), func(c *app.Config) {
			c.BootstrapAPIKey = bootstrapKey
			c.TrustedProxies = "127.0.0.0/8"
		})
		// 25 clients fail once each: no one is blocked.
		for i := range 25 {
			if status, _ := s.call("GET", "/v1/imports", forwarded(fmt.Sprintf("198.51.100.%d", i+1), badKey), nil, ""); status != 401 {
				t.Fatalf("bad key from client %d: %d, want 401", i+1, status)
			}
		}
		// One client fails 21 times: it is blocked, and only it.
		status := 0
		for range 21 {
			status, _ = s.call("GET", "/v1/imports", forwarded("203.0.113.66", badKey), nil, "")
		}
		if status != 429 {
			t.Fatalf("21st bad request from one client: %d, want 429", status)
		}
		if status, out := s.call("GET", "/v1/imports", forwarded("203.0.113.66", key(bootstrapKey)), nil, ""); status != 429 {
			t.Errorf("the blocked client with a good key: %d %v, want 429 until the block ends", status, out)
		}
		if status, out := s.call("GET", "/v1/imports", forwarded("203.0.113.77", key(bootstrapKey)), nil, ""); status != 200 {
			t.Errorf("another client behind the same proxy: %d %v, want 200", status, out)
		}
		// A forged entry left of the proxy's own does not choose the address.
		if status, _ := s.call("GET", "/v1/imports", forwarded("203.0.113.77, 203.0.113.66", key(bootstrapKey)), nil, ""); status != 429 {
			t.Errorf("the blocked client prefixing a forged address: %d, want 429", status)
		}
	})

	t.Run("header from an untrusted peer", func(t *testing.T) {
		s := startWithAdmin(t)
		// A client that writes a new X-Forwarded-For on every guess is still
		// one client (the connection's address).
		status := 0
		for i := range 21 {
			status, _ = s.call("GET", "/v1/imports", forwarded(fmt.Sprintf("198.51.100.%d", i+1), badKey), nil, "")
		}
		if status != 429 {
			t.Fatalf("21st bad request with spoofed X-Forwarded-For: %d, want 429 (the header must be ignored)", status)
		}
		if status, _ := s.call("GET", "/v1/imports", forwarded("198.51.100.200", key(bootstrapKey)), nil, ""); status != 429 {
			t.Errorf("a spoofed X-Forwarded-For escaped the block: %d, want 429", status)
		}
	})
}

// createKeyAs posts POST /v1/keys with the given credentials.
func (s *system) createKeyAs(headers map[string]string, tenant string, caps ...string) (int, map[string]any) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "k", "tenant": tenant, "capabilities": caps})
	return s.call("POST", "/v1/keys", headers, bytes.NewReader(body), "application/json")
}

func keyTenants(out map[string]any) []string {
	var tenants []string
	list, _ := out["keys"].([]any)
	for _, k := range list {
		tenants = append(tenants, k.(map[string]any)["tenant"].(string))
	}
	slices.Sort(tenants)
	return slices.Compact(tenants)
}

// TestAdminScopingAndOperator: admin manages its own tenant only; the
// operator (the bootstrap key, and keys it gives operator) manages every
// tenant; no JWT is an operator.
func TestAdminScopingAndOperator(t *testing.T) {
	dir := t.TempDir()
	s := startSystem(t, dir, func(c *app.Config) {
		c.BootstrapAPIKey = bootstrapKey
		c.JWTHS256Secret = jwtSecret
	})
	acmeAdmin := s.createKey("acme", auth.CapAdmin)
	globexKey := s.createKey("globex", auth.CapImportsRead)
	defaultAdmin := s.createKey("default", auth.CapAdmin)
	adminJWT, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "ann", "tenant": "acme", "capabilities": []string{"admin"},
		"exp": time.Now().Add(time.Hour).Unix()})

	for name, creds := range map[string]map[string]string{"admin key": key(acmeAdmin), "admin jwt": bearer(adminJWT)} {
		if status, out := s.createKeyAs(creds, "", auth.CapImportsWrite); status != 201 || out["tenant"] != "acme" {
			t.Errorf("%s creates a key of its tenant: %d %v, want 201 for acme", name, status, out)
		}
		if status, out := s.createKeyAs(creds, "globex", auth.CapImportsWrite); status != 403 || !strings.Contains(fmt.Sprint(out["error"]), "operator") {
			t.Errorf("%s creates a key for another tenant: %d %v, want 403 naming operator", name, status, out)
		}
		if status, out := s.createKeyAs(creds, "acme", auth.CapOperator); status != 403 || !strings.Contains(fmt.Sprint(out["error"]), "only an operator") {
			t.Errorf("%s mints an operator key: %d %v, want 403", name, status, out)
		}
		if status, out := s.call("GET", "/v1/keys", creds, nil, ""); status != 200 || !slices.Equal(keyTenants(out), []string{"acme"}) {
			t.Errorf("%s lists keys: %d, tenants %v, want acme's only", name, status, keyTenants(out))
		}
		if status, _ := s.call("GET", "/v1/keys?tenant=globex", creds, nil, ""); status != 403 {
			t.Errorf("%s lists another tenant's keys: %d, want 403", name, status)
		}
		if status, _ := s.call("POST", "/v1/replay", creds, strings.NewReader(`{"since":"2026-01-01T00:00:00Z","tenant":"globex"}`), "application/json"); status != 403 {
			t.Errorf("%s replays another tenant's imports: %d, want 403", name, status)
		}
	}
	globexID := s.firstKeyID("globex")
	if status, _ := s.call("DELETE", "/v1/keys/"+globexID+"?tenant=globex", key(acmeAdmin), nil, ""); status != 403 {
		t.Errorf("admin revokes another tenant's key: %d, want 403", status)
	}
	if status, _ := s.call("GET", "/v1/imports", key(globexKey), nil, ""); status != 200 {
		t.Errorf("globex key after acme's attempt to revoke it: %d, want 200", status)
	}
	// An admin of tenant default is no operator: it cannot revoke the bootstrap key.
	_, keys := s.call("GET", "/v1/keys", key(defaultAdmin), nil, "")
	for _, k := range keys["keys"].([]any) {
		if k := k.(map[string]any); k["name"] == "bootstrap" {
			if status, _ := s.call("DELETE", "/v1/keys/"+k["id"].(string), key(defaultAdmin), nil, ""); status != 403 {
				t.Errorf("default's admin revokes the bootstrap key: %d, want 403", status)
			}
		}
	}

	// Event streams: another tenant's import and a wildcard are 404 before any stream.
	status, up := s.uploadAs(key(acmeAdmin), "name,email\nAnn,ann@x.io\n")
	if status != 202 {
		t.Fatalf("acme upload: %d %v", status, up)
	}
	acmeImport := up["id"].(string)
	if status, _ := s.call("GET", "/v1/imports/"+acmeImport+"?wait=10s", key(acmeAdmin), nil, ""); status != 200 {
		t.Fatalf("acme reads its import: %d", status)
	}
	for _, c := range []struct {
		creds map[string]string
		path  string
	}{
		{key(globexKey), "/v1/imports/" + acmeImport + "/events"},
		{key(acmeAdmin), "/v1/imports/*/events"},
		{key(acmeAdmin), "/v1/imports/imp_unknown/events"},
	} {
		if status, out := s.call("GET", c.path, c.creds, nil, ""); status != 404 || out["error"] != "import not found" {
			t.Errorf("GET %s: %d %v, want 404 import not found", c.path, status, out)
		}
	}

	// A JWT claiming operator is refused outright.
	opJWT, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "eve", "tenant": "default", "capabilities": []string{"operator"},
		"exp": time.Now().Add(time.Hour).Unix()})
	if status, out := s.createKeyAs(bearer(opJWT), "globex", auth.CapAdmin); status != 401 {
		t.Errorf("JWT with operator creates a key: %d %v, want 401", status, out)
	}

	// The operator lists every tenant and gives operator to a new key, which
	// then manages any tenant too.
	if status, out := s.call("GET", "/v1/keys", key(bootstrapKey), nil, ""); status != 200 || !slices.Equal(keyTenants(out), []string{"acme", "default", "globex"}) {
		t.Errorf("operator lists keys: %d, tenants %v", status, keyTenants(out))
	}
	status, out := s.createKeyAs(key(bootstrapKey), "ops", auth.CapOperator)
	if status != 201 {
		t.Fatalf("operator creates an operator key: %d %v", status, out)
	}
	second := out["key"].(string)
	if status, out := s.createKeyAs(key(second), "globex", auth.CapImportsWrite); status != 201 || out["tenant"] != "globex" {
		t.Errorf("second operator creates a globex key: %d %v", status, out)
	}

	// Upgrade: a bootstrap key stored by a version before operator existed
	// is the operator again after a restart on the same data dir.
	if _, err := s.mongo.Database("intake").Collection("api_keys").UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: auth.HashKey(bootstrapKey)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "capabilities", Value: []string{"admin", "imports:read", "imports:write", "schemas:write"}}}}}); err != nil {
		t.Fatal(err)
	}
	if status, _ := s.createKeyAs(key(bootstrapKey), "globex", auth.CapImportsRead); status != 403 {
		t.Fatalf("downgraded bootstrap key: %d, want 403 (the downgrade did not take)", status)
	}
	s.stop()
	s = startSystem(t, dir, func(c *app.Config) { c.BootstrapAPIKey = bootstrapKey })
	if status, out := s.createKeyAs(key(bootstrapKey), "globex", auth.CapImportsRead); status != 201 {
		t.Errorf("bootstrap key after the upgrade creates a globex key: %d %v, want 201", status, out)
	}
}

// TestJWTLifetimeIssuerAudience: through the real server, with
// --jwt-issuer and --jwt-audience set.
func TestJWTLifetimeIssuerAudience(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) {
		c.JWTHS256Secret = jwtSecret
		c.JWTIssuer = "https://idp.example.com"
		c.JWTAudience = "intake"
	})
	now := time.Now()
	token := func(mod func(map[string]any)) map[string]string {
		c := map[string]any{"sub": "ann", "tenant": "acme", "capabilities": []string{"imports:read"},
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "iss": "https://idp.example.com", "aud": []string{"intake"}}
		if mod != nil {
			mod(c)
		}
		tok, err := auth.SignHS256([]byte(jwtSecret), c)
		if err != nil {
			t.Fatal(err)
		}
		return bearer(tok)
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
		status  int
		msg     string
	}{
		{"right iss and aud", token(nil), 200, ""},
		{"exp in the year 33658", token(func(c map[string]any) { c["exp"] = time.Date(33658, 1, 1, 0, 0, 0, 0, time.UTC).Unix() }), 401, "lifetime too long"},
		{"exp 25h after iat", token(func(c map[string]any) { c["exp"] = now.Add(25 * time.Hour).Unix() }), 401, "lifetime too long"},
		{"no exp", token(func(c map[string]any) { delete(c, "exp") }), 401, "no exp claim"},
		{"wrong iss", token(func(c map[string]any) { c["iss"] = "https://other.example.com" }), 401, "iss"},
		{"no iss", token(func(c map[string]any) { delete(c, "iss") }), 401, "no iss claim"},
		{"wrong aud", token(func(c map[string]any) { c["aud"] = "billing" }), 401, "aud"},
		{"no aud", token(func(c map[string]any) { delete(c, "aud") }), 401, "no aud claim"},
	} {
		status, out := s.call("GET", "/v1/imports", c.headers, nil, "")
		if status != c.status || !strings.Contains(fmt.Sprint(out["error"]), c.msg) {
			t.Errorf("%s: %d %v, want %d with %q", c.name, status, out, c.status, c.msg)
		}
	}
}

// A malformed --trusted-proxies stops the start with a message naming it.
func TestTrustedProxiesValidated(t *testing.T) {
	err := app.Config{TrustedProxies: "10.0.0.0/8, 10.0.0.0/33"}.Defaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "trusted proxies") || !strings.Contains(err.Error(), "10.0.0.0/33") {
		t.Errorf("Validate = %v, want an error naming the bad CIDR", err)
	}
	if err := (app.Config{TrustedProxies: "10.0.0.0/8,192.168.1.7"}).Defaults().Validate(); err != nil {
		t.Errorf("Validate of good CIDRs: %v", err)
	}
}
