package app

import (
	"fmt"
	"testing"
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
		s := startSystem(t, t.TempDir(), func(c *Config) {
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
		s := startSystem(t, t.TempDir(), func(c *Config) { c.BootstrapAPIKey = bootstrapKey })
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
