package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/intake/app"
)

const (
	bootstrapKey = "test-bootstrap-key-0123456789-abcdefghij"
	jwtSecret    = "test-jwt-secret-0123456789-0123456789-abcdef"
)

// startWithAdmin starts a system whose bootstrap admin key is bootstrapKey.
func startWithAdmin(t testing.TB) *system {
	t.Helper()
	return startSystem(t, t.TempDir(), func(c *app.Config) { c.BootstrapAPIKey = bootstrapKey })
}

// request makes a request with the given headers; the caller closes the answer.
func (s *system) request(method, path string, headers map[string]string, body io.Reader, contentType string) *http.Response {
	s.t.Helper()
	return s.sys.Request(s.t, method, path, headers, body, contentType)
}

// call makes a request with the given headers and decodes a JSON answer.
func (s *system) call(method, path string, headers map[string]string, body io.Reader, contentType string) (int, map[string]any) {
	s.t.Helper()
	resp := s.request(method, path, headers, body, contentType)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (s *system) uploadAs(headers map[string]string, csv string) (int, map[string]any) {
	body, ctype := testenv.UploadForm("f.csv", []byte(csv), nil)
	return s.call("POST", "/v1/imports", headers, body, ctype)
}

// firstKeyID is the ID of the first key the bootstrap key lists for tenant.
func (s *system) firstKeyID(tenant string) string {
	s.t.Helper()
	_, keys := s.call("GET", "/v1/keys?tenant="+tenant, key(bootstrapKey), nil, "")
	return keys["keys"].([]any)[0].(map[string]any)["id"].(string)
}

func key(k string) map[string]string    { return map[string]string{"X-API-Key": k} }
func bearer(t string) map[string]string { return map[string]string{"Authorization": "Bearer " + t} }

func (s *system) createKey(tenant string, caps ...string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": tenant + "-key", "tenant": tenant, "capabilities": caps})
	status, out := s.call("POST", "/v1/keys", key(bootstrapKey), bytes.NewReader(body), "application/json")
	if status != 201 {
		s.t.Fatalf("create key: %d %v", status, out)
	}
	return out["key"].(string)
}

func TestAuthAndTenantIsolation(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) {
		c.BootstrapAPIKey = bootstrapKey
		c.JWTHS256Secret = jwtSecret
	})
	acme := s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead)
	globex := s.createKey("globex", auth.CapImportsWrite, auth.CapImportsRead)
	readOnly := s.createKey("acme", auth.CapImportsRead)
	file := "name,email\nAnn,ann@x.io\n"

	t.Run("matrix", func(t *testing.T) {
		expired, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "u1", "tenant": "acme", "capabilities": []string{"imports:write"}, "exp": time.Now().Add(-time.Hour).Unix()})
		wrongSig, _ := auth.SignHS256([]byte(strings.Repeat("x", 40)), map[string]any{"sub": "u1", "tenant": "acme", "capabilities": []string{"imports:write"}, "exp": time.Now().Add(time.Hour).Unix()})
		noCap, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "u1", "tenant": "acme", "capabilities": []string{"imports:read"}, "exp": time.Now().Add(time.Hour).Unix()})
		for name, c := range map[string]struct {
			headers map[string]string
			status  int
		}{
			"missing":            {nil, 401},
			"wrong key":          {key("ik_notakey"), 401},
			"expired jwt":        {bearer(expired), 401},
			"wrong signature":    {bearer(wrongSig), 401},
			"missing capability": {bearer(noCap), 403},
			"read-only key":      {key(readOnly), 403},
		} {
			if status, out := s.uploadAs(c.headers, file); status != c.status || out["error"] == nil {
				t.Errorf("%s: %d %v, want %d with an error message", name, status, out, c.status)
			}
		}
		if status, _ := s.call("GET", "/v1/keys", key(acme), nil, ""); status != 403 {
			t.Errorf("a tenant key listed keys: %d", status)
		}
	})

	// acme imports; globex can neither see nor touch it.
	status, out := s.uploadAs(key(acme), file)
	if status != 202 {
		t.Fatalf("acme upload: %d %v", status, out)
	}
	id := out["id"].(string)
	if status, v := s.call("GET", "/v1/imports/"+id+"?wait=10s", key(acme), nil, ""); status != 200 || v["status"] != "completed" || v["tenant"] != "acme" {
		t.Fatalf("acme reads its import: %d %v", status, v)
	}
	for _, path := range []string{"/v1/imports/" + id, "/v1/imports/" + id + "/errors", "/v1/imports/" + id + "/errors?limit=10", "/v1/imports/" + id + "/events"} {
		if status, _ := s.call("GET", path, key(globex), nil, ""); status != 404 {
			t.Errorf("globex GET %s: %d, want 404", path, status)
		}
	}
	for _, path := range []string{"/v1/imports/" + id + "/replay", "/v1/imports/" + id + "/cancel"} {
		if status, _ := s.call("POST", path, key(globex), nil, ""); status != 404 {
			t.Errorf("globex POST %s: %d, want 404", path, status)
		}
	}
	if _, list := s.call("GET", "/v1/imports", key(globex), nil, ""); len(list["imports"].([]any)) != 0 {
		t.Errorf("globex lists acme's imports: %v", list)
	}
	// The same key in globex's import creates globex's own record.
	status, out = s.uploadAs(key(globex), "name,email\nOther Ann,ann@x.io\n")
	if status != 202 {
		t.Fatalf("globex upload: %d %v", status, out)
	}
	if _, v := s.call("GET", "/v1/imports/"+out["id"].(string)+"?wait=10s", key(globex), nil, ""); v["created"] != 1.0 {
		t.Fatalf("globex import = %v", v)
	}
	if got := s.records("acme", "contacts")["email:ann@x.io"]["name"]; got != "Ann" {
		t.Fatalf("acme's record was overwritten: %v", got)
	}
	// A JWT for acme reads acme's import.
	tok, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "u2", "tenant": "acme", "capabilities": []string{"imports:read"}, "exp": time.Now().Add(time.Hour).Unix()})
	if status, _ := s.call("GET", "/v1/imports/"+id, bearer(tok), nil, ""); status != 200 {
		t.Fatalf("acme JWT: %d", status)
	}

	// Revoking a key stops it at once.
	kid := s.firstKeyID("globex")
	if status, _ := s.call("DELETE", "/v1/keys/"+kid+"?tenant=globex", key(bootstrapKey), nil, ""); status != 204 {
		t.Fatalf("revoke: %d", status)
	}
	if status, _ := s.call("GET", "/v1/imports", key(globex), nil, ""); status != 401 {
		t.Fatalf("revoked key: %d, want 401", status)
	}
}

func TestOpenModeOnlyOnLoopback(t *testing.T) {
	err := app.Run(context.Background(), app.Config{DataDir: t.TempDir(), HTTPAddr: "0.0.0.0:0", EmbeddedNATSAddr: "127.0.0.1:0", EmbeddedMongoAddr: "127.0.0.1:0"},
		zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err == nil || !strings.Contains(err.Error(), "INTAKE_BOOTSTRAP_API_KEY") {
		t.Fatalf("want a refusal that says how to configure a credential, got %v", err)
	}
}
