package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/services/intake/app"
)

// TestRESTClient drives pkg/client's REST client, the one the CLI, the
// fault harness and the bench use, against the whole system: every call it
// offers, with API key and bearer auth, and the server's errors as
// *client.HTTPError with status and message.
func TestRESTClient(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) {
		c.BootstrapAPIKey = bootstrapKey
		c.JWTHS256Secret = jwtSecret
	})
	ctx := context.Background()
	admin := client.NewREST(s.base+"/", client.WithAPIKey(bootstrapKey))
	if err := admin.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}

	created, err := admin.CreateKey(ctx, client.KeyRequest{Name: "rest", Tenant: "acme",
		Capabilities: []string{auth.CapImportsWrite, auth.CapImportsRead, auth.CapSchemasWrite}})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	if !strings.HasPrefix(created.Secret, "ik_") || created.Tenant != "acme" || created.ID == "" ||
		created.Name != "rest" || created.Prefix != created.Secret[:8] || len(created.Capabilities) != 3 || created.CreatedAt.IsZero() {
		t.Fatalf("created key %+v", created)
	}
	acme := client.NewREST(s.base, client.WithAPIKey(created.Secret))

	// Upload with options (dry run: nothing written), then the real one.
	file := "name,email\nAnn,ann@x.io\nBob,bob@\nAnn L.,ANN@x.io\n"
	dry, err := acme.Upload(ctx, "c.csv", strings.NewReader(file), client.UploadOptions{Mode: "insert", DryRun: true})
	if err != nil || dry.Rows != 3 {
		t.Fatalf("dry-run upload: %+v %v", dry, err)
	}
	ds := waitREST(t, acme, dry.ID)
	if !ds.DryRun || ds.Mode != "insert" || ds.Created != 1 || ds.Failed != 1 || ds.Skipped != 1 {
		t.Fatalf("dry-run summary %+v", ds)
	}
	up, err := acme.Upload(ctx, "c.csv", strings.NewReader(file), client.UploadOptions{Schema: "contacts"})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	sum := waitREST(t, acme, up.ID)
	if sum.ID != up.ID || sum.Tenant != "acme" || sum.Status != client.StatusCompleted || sum.Total != 3 ||
		sum.Created != 1 || sum.Failed != 1 || sum.Skipped != 1 || len(sum.Errors) != 1 || sum.Errors[0].Row != 3 || sum.Errors[0].Field != "email" {
		t.Fatalf("summary %+v", sum)
	}

	failed, err := acme.Problems(ctx, up.ID, client.ResultFailed)
	if err != nil || len(failed) != 1 || failed[0].Row != 3 || failed[0].Field != "email" {
		t.Fatalf("failed rows %+v %v", failed, err)
	}
	skipped, err := acme.Problems(ctx, up.ID, client.ResultSkipped)
	if err != nil || len(skipped) != 1 || skipped[0].Row != 4 || !strings.Contains(skipped[0].Message, "duplicate of row 2") {
		t.Fatalf("skipped rows %+v %v", skipped, err)
	}

	list, err := acme.Imports(ctx, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("imports %+v %v", list, err)
	}
	for _, s := range list {
		if s.Tenant != "acme" || (s.ID != up.ID && s.ID != dry.ID) {
			t.Fatalf("import list has %+v", s)
		}
	}

	// Replay of one import, then of a window.
	rp, err := acme.Replay(ctx, up.ID, client.ReplayOptions{DryRun: true})
	if err != nil || rp.ReplayOf != up.ID || rp.ID == up.ID || rp.Rows != 3 {
		t.Fatalf("replay %+v %v", rp, err)
	}
	if rs := waitREST(t, acme, rp.ID); !rs.DryRun || rs.Status != client.StatusCompleted || rs.Skipped != 2 || rs.Failed != 1 {
		t.Fatalf("replay summary %+v", rs)
	}
	window, err := acme.ReplayAll(ctx, client.ReplayWindow{Since: time.Now().Add(-time.Hour), DryRun: true})
	if err != nil || len(window) != 1 || window[0].ReplayOf != up.ID || window[0].Status != client.StatusCompleted {
		t.Fatalf("replay window %+v %v", window, err) // the real upload: neither the dry run nor the replay is replayed
	}
	for _, r := range window {
		waitREST(t, acme, r.ID)
	}

	// A JWT reads acme's import as bearer.
	tok, _ := auth.SignHS256([]byte(jwtSecret), map[string]any{"sub": "u", "tenant": "acme", "capabilities": []string{"imports:read"}, "exp": time.Now().Add(time.Hour).Unix()})
	if got, err := client.NewREST(s.base, client.WithBearerToken(tok)).Summary(ctx, up.ID, 0); err != nil || got.Created != 1 {
		t.Fatalf("summary with a bearer token: %+v %v", got, err)
	}

	// Errors carry the status and the server's message.
	for name, c := range map[string]struct {
		call    func() error
		status  int
		message string
	}{
		"unknown import": {func() error { _, err := acme.Summary(ctx, "imp_nope", 0); return err }, 404, "import not found"},
		"other tenant": {func() error {
			_, err := client.NewREST(s.base, client.WithAPIKey(s.createKey("globex", auth.CapImportsRead))).Summary(ctx, up.ID, 0)
			return err
		}, 404, "import not found"},
		"unknown schema": {func() error {
			_, err := acme.Upload(ctx, "c.csv", strings.NewReader(file), client.UploadOptions{Schema: "nope"})
			return err
		}, 400, "unknown schema"},
		"no key":          {func() error { _, err := client.NewREST(s.base).Imports(ctx, 0); return err }, 401, ""},
		"finished cancel": {func() error { return acme.Cancel(ctx, up.ID) }, 409, "already finished"},
		"bad schema":      {func() error { return acme.PutSchema(ctx, "contacts", []byte(`{"name": "other"}`)) }, 400, "differs from the path"},
		"tenant's keys":   {func() error { _, err := acme.Keys(ctx, ""); return err }, 403, ""},
	} {
		err := c.call()
		var he *client.HTTPError
		if !errors.As(err, &he) || he.Status != c.status || he.Message == "" || !strings.Contains(he.Message, c.message) ||
			!strings.Contains(err.Error(), he.Message) {
			t.Errorf("%s: %v, want HTTP %d with %q", name, err, c.status, c.message)
		}
	}

	// Keys: listed, revoked, and a revoked key is refused.
	keys, err := admin.Keys(ctx, "acme")
	if err != nil || len(keys) != 1 || keys[0].ID != created.ID || keys[0].Tenant != "acme" {
		t.Fatalf("acme's keys %+v %v", keys, err)
	}
	if err := admin.RevokeKey(ctx, "acme", created.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	keys, _ = admin.Keys(ctx, "acme")
	for _, k := range keys {
		if k.ID == created.ID && k.RevokedAt == nil {
			t.Fatalf("revoked key listed active: %+v", k)
		}
	}
	var he *client.HTTPError
	if _, err := acme.Imports(ctx, 0); !errors.As(err, &he) || he.Status != 401 {
		t.Fatalf("a revoked key: %v, want 401", err)
	}
}

// waitREST reads an import's summary with ?wait= until it has finished.
func waitREST(t *testing.T, c *client.REST, id string) *client.Summary {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := c.Summary(context.Background(), id, 5*time.Second)
		if err != nil {
			t.Fatalf("summary of %s: %v", id, err)
		}
		if s.Done() {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still processing: %+v", id, s)
		}
	}
}
