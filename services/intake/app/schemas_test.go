package app_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/services/intake/app"
)

// A tenant registers its own version of a schema; its imports use it at
// once, and other tenants keep the built-in one.
func TestTenantSchemaRegistration(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.BootstrapAPIKey = bootstrapKey })
	acme := s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead, auth.CapSchemasWrite)
	globex := s.createKey("globex", auth.CapImportsWrite, auth.CapImportsRead)
	file := "Name,E-mail,Firma\nAnn,ann@x.io,\nBob,bob@x.io,Beta\n"

	run := func(k string) map[string]any {
		status, out := s.uploadAs(key(k), file)
		if status != 202 {
			t.Fatalf("upload: %d %v", status, out)
		}
		_, v := s.call("GET", "/v1/imports/"+out["id"].(string)+"?wait=10s", key(k), nil, "")
		return v
	}
	// Built-in contacts: "Firma" is unknown and ignored; both rows are created.
	if v := run(acme); v["created"] != 2.0 {
		t.Fatalf("before registration: %v", v)
	}

	custom := `{"name": "contacts", "fields": [
		{"name": "name", "type": "string"},
		{"name": "email", "type": "email"},
		{"name": "company", "type": "string", "required": true, "aliases": ["Firma"]}],
		"keys": ["email"]}`
	if status, out := s.call("PUT", "/v1/schemas/contacts", key(globex), strings.NewReader(custom), "application/json"); status != 403 {
		t.Fatalf("registering without schemas:write: %d %v", status, out)
	}
	if status, out := s.call("PUT", "/v1/schemas/contacts", key(acme), strings.NewReader(`{"name": "contacts", "fields": []}`), "application/json"); status != 400 || !strings.Contains(out["error"].(string), "no fields") {
		t.Fatalf("an invalid schema: %d %v", status, out)
	}
	if status, out := s.call("PUT", "/v1/schemas/contacts", key(acme), bytes.NewReader([]byte(custom)), "application/json"); status != 200 {
		t.Fatalf("register: %d %v", status, out)
	}
	v := run(acme)
	if v["failed"] != 1.0 || v["updated"] != 1.0 {
		t.Fatalf("after registration acme = %v, want Ann failed (company required) and Bob updated (Firma now maps to company)", v)
	}
	if errs := v["errors"].([]any); !strings.Contains(errs[0].(map[string]any)["message"].(string), "company") {
		t.Fatalf("errors = %v", errs)
	}
	if got := s.records("acme", "contacts")["email:bob@x.io"]["company"]; got != "Beta" {
		t.Fatalf("Firma was not mapped to company before, so Bob had none; now: %v", got)
	}
	// globex still has the built-in schema.
	if v := run(globex); v["created"] != 2.0 {
		t.Fatalf("globex = %v", v)
	}
}
