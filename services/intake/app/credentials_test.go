package app_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/services/intake/app"
)

// bannerOf is the banner a started system prints.
func bannerOf(s *system) string {
	var b bytes.Buffer
	app.Banner(&b, s.info)
	return b.String()
}

// refusesBogus checks that a made-up key and a made-up token are refused on
// the native API and on a compatibility endpoint, whatever the mode.
func refusesBogus(t *testing.T, s *system, mode string) {
	t.Helper()
	generated, _ := auth.NewAPIKey()
	for name, h := range map[string]map[string]string{
		"bogus key": key("bogus"), "unknown key": key(generated), "bogus token": bearer("a.b.c"),
	} {
		if status, out := s.call("GET", "/v1/imports", h, nil, ""); status != http.StatusUnauthorized {
			t.Errorf("%s: %s on GET /v1/imports answered %d %v, want 401", mode, name, status, out)
		}
		resp := s.request("POST", "/customers/import", h, strings.NewReader(""), "multipart/form-data; boundary=x")
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %s on POST /customers/import answered %d, want 401", mode, name, resp.StatusCode)
		}
	}
}

// TestOpenServerCreatesNoKeys: with no credential configured the server is
// open on loopback to requests without credentials, refuses every
// credential with a message saying how to set an admin key, refuses to
// create keys (403, same advice), and is the same after a restart: never a
// key that is accepted without being checked, never a lock-out.
func TestOpenServerCreatesNoKeys(t *testing.T) {
	dir := t.TempDir()
	s := startSystem(t, dir, nil)
	ctx := context.Background()
	if b := bannerOf(s); !strings.Contains(b, "open: no credential configured") || !strings.Contains(b, "INTAKE_BOOTSTRAP_API_KEY") {
		t.Fatalf("the banner does not tell the open mode and how to leave it:\n%s", b)
	}
	if status, out := s.call("GET", "/v1/imports", nil, nil, ""); status != http.StatusOK {
		t.Fatalf("open server without credentials: %d %v", status, out)
	}
	status, out := s.call("GET", "/v1/imports", key("bogus"), nil, "")
	if msg, _ := out["error"].(string); status != http.StatusUnauthorized || !strings.Contains(msg, "INTAKE_BOOTSTRAP_API_KEY") {
		t.Fatalf("bogus key on an open server: %d %v, want 401 saying how to set an admin key", status, out)
	}
	refusesBogus(t, s, "open")

	// As `intake keys create --tenant acme` does it.
	_, err := client.NewREST(s.base+"/").CreateKey(ctx, client.KeyRequest{Name: "ci", Tenant: "acme"})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden || !strings.Contains(he.Message, "INTAKE_BOOTSTRAP_API_KEY") {
		t.Fatalf("keys create on an open server: %v, want 403 saying how to set an admin key", err)
	}
	if keys, err := client.NewREST(s.base+"/").Keys(ctx, ""); err != nil || len(keys) != 0 {
		t.Fatalf("keys after the refused create: %v %v, want none", keys, err)
	}

	s.stop()
	s = startSystem(t, dir, nil)
	if status, out := s.call("GET", "/v1/imports", nil, nil, ""); status != http.StatusOK {
		t.Fatalf("open server after a restart: %d %v, want 200 (not locked out)", status, out)
	}
	refusesBogus(t, s, "open after restart")
}

// TestKeysSurviveRestart: keys created with the bootstrap key keep working
// after a restart without INTAKE_BOOTSTRAP_API_KEY (the bootstrap key too:
// its hash is stored), each for its own tenant, and unknown credentials are
// refused before and after, with JWTs on as well. The banner names the
// FerretDB socket with a mongosh line, the NATS context file and the mode.
func TestKeysSurviveRestart(t *testing.T) {
	// A short directory: a Unix socket path has at most 103 bytes.
	dir, err := os.MkdirTemp("", "ik")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	embeddedOnSocket := func(c *app.Config) { c.EmbeddedMongoAddr, c.EmbeddedNATSAddr = "", "127.0.0.1:0" }
	s := startSystem(t, dir, func(c *app.Config) { embeddedOnSocket(c); c.BootstrapAPIKey = bootstrapKey })
	b := bannerOf(s)
	for _, want := range []string{"http://" + s.info.HTTPAddr + "/", "Unix socket " + dir + "/mongodb.sock",
		`mongosh "mongodb://` + strings.ReplaceAll(dir, "/", "%2F") + `%2Fmongodb.sock/intake"`,
		dir + "/nats-context.json", "API keys", "--api-key KEY --schema contacts FILE"} {
		if !strings.Contains(b, want) {
			t.Errorf("the banner does not name %q:\n%s", want, b)
		}
	}
	acme := s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead)
	refusesBogus(t, s, "api keys")

	s.stop()
	s = startSystem(t, dir, func(c *app.Config) { embeddedOnSocket(c); c.JWTHS256Secret = jwtSecret })
	if !strings.Contains(bannerOf(s), "API keys (X-API-Key) and JWT bearer tokens") {
		t.Errorf("the banner does not name the mode:\n%s", bannerOf(s))
	}
	if status, out := s.call("GET", "/v1/keys?tenant=acme", key(bootstrapKey), nil, ""); status != http.StatusOK {
		t.Fatalf("the bootstrap key after a restart without it configured: %d %v", status, out)
	}
	status, out := s.uploadAs(key(acme), "name,email\nAnn,ann@example.com\n")
	if status != http.StatusAccepted {
		t.Fatalf("upload with acme's key after a restart: %d %v", status, out)
	}
	// acme's key acts for acme, not for default.
	if status, v := s.call("GET", "/v1/imports/"+out["id"].(string), key(acme), nil, ""); status != http.StatusOK || v["tenant"] != "acme" {
		t.Fatalf("acme's import after a restart: %d %v, want tenant acme", status, v)
	}
	refusesBogus(t, s, "api keys and jwt after restart")
}
