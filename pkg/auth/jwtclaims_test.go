package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTLifetimeIssuerAudience: a token must expire within the maximum
// lifetime, and carry the configured iss and aud; a JWT never makes an
// operator.
func TestJWTLifetimeIssuerAudience(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	plain, err := New(Config{HS256Secret: []byte(testSecret), FailuresPerMinute: -1, Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := New(Config{HS256Secret: []byte(testSecret), FailuresPerMinute: -1, Now: clk.Now,
		Issuer: "https://idp.example.com", Audience: "intake", MaxLifetime: 2 * time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]*httptest.Server{"plain": testServer(t, plain), "scoped": testServer(t, scoped)}

	claims := func(mod func(c map[string]any)) string {
		c := map[string]any{"sub": "ann", "tenant": "acme", "capabilities": []string{CapImportsRead},
			"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(),
			"iss": "https://idp.example.com", "aud": "intake"}
		if mod != nil {
			mod(c)
		}
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", c)
	}
	year33658 := time.Date(33658, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, tc := range []struct {
		name, server, token string
		status              int
		msg                 string
	}{
		{"good", "plain", claims(nil), 200, ""},
		{"good scoped", "scoped", claims(nil), 200, ""},
		{"exp in the year 33658", "plain", claims(func(c map[string]any) { c["exp"] = year33658 }), 401, "lifetime too long"},
		{"exp 25h after iat", "plain", claims(func(c map[string]any) { c["exp"] = now.Add(25 * time.Hour).Unix() }), 401, "more than 24h0m0s after iat"},
		{"exp 25h from now, no iat", "plain", claims(func(c map[string]any) { delete(c, "iat"); c["exp"] = now.Add(25 * time.Hour).Unix() }), 401, "after now"},
		{"exp 23h from now, no iat", "plain", claims(func(c map[string]any) { delete(c, "iat"); c["exp"] = now.Add(23 * time.Hour).Unix() }), 200, ""},
		{"old iat, long exp", "plain", claims(func(c map[string]any) {
			c["iat"] = now.Add(-30 * time.Hour).Unix()
			c["exp"] = now.Add(time.Hour).Unix()
		}), 401, "lifetime too long"},
		{"no exp", "plain", claims(func(c map[string]any) { delete(c, "exp") }), 401, "no exp claim"},
		{"lifetime over the configured 2h", "scoped", claims(func(c map[string]any) { c["exp"] = now.Add(3 * time.Hour).Unix() }), 401, "more than 2h0m0s"},
		{"wrong iss", "scoped", claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), 401, "iss claim"},
		{"no iss", "scoped", claims(func(c map[string]any) { delete(c, "iss") }), 401, "no iss claim"},
		{"wrong aud", "scoped", claims(func(c map[string]any) { c["aud"] = []string{"billing", "crm"} }), 401, "aud claim"},
		{"aud among several", "scoped", claims(func(c map[string]any) { c["aud"] = []string{"billing", "intake"} }), 200, ""},
		{"no aud", "scoped", claims(func(c map[string]any) { delete(c, "aud") }), 401, "no aud claim"},
		{"iss and aud not checked unless configured", "plain", claims(func(c map[string]any) { c["iss"], c["aud"] = "x", "y" }), 200, ""},
		{"operator claim", "plain", claims(func(c map[string]any) { c["capabilities"] = []string{CapOperator} }), 401, "may not grant the operator capability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, servers[tc.server], "/read", map[string]string{"Authorization": "Bearer " + tc.token})
			if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
				t.Errorf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.msg)
			}
		})
	}
	if _, err := New(Config{HS256Secret: []byte(testSecret), MaxLifetime: -time.Hour}, nil); err == nil {
		t.Error("a negative max lifetime was accepted")
	}
}
