package app_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/auth"
)

// A tenant registers its own version of a schema; its imports use it at
// once, and other tenants keep the built-in one.
func TestTenantSchemaRegistration(t *testing.T) {
	s := startWithAdmin(t)
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

// PUT /v1/schemas refuses, with 400 and the reason, a schema whose rows
// could cost more than the bounds allow: the pattern of the report (1.2 KB
// compiling to about 200,000 instructions, which took 53 s on a 10 KB cell),
// a short pattern compiling too large, and nonsensical max_items.
func TestSchemaBoundsAtRegistration(t *testing.T) {
	s := startWithAdmin(t)
	acme := s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead, auth.CapSchemasWrite)
	doc := func(field string) string {
		return `{"name": "contacts", "keys": ["email"], "fields": [{"name": "email", "type": "email"}, ` + field + `]}`
	}
	for _, c := range []struct{ field, want string }{
		{`{"name": "code", "type": "string", "pattern": "` + strings.Repeat("(?:a?){1000}", 100) + `b"}`, "pattern is 1201 characters long; at most 1000 are allowed"},
		{`{"name": "code", "type": "string", "pattern": "` + strings.Repeat("(?:a?){1000}", 5) + `b"}`, "instructions; at most 10000 are allowed"},
		{`{"name": "code", "type": "string", "pattern": "(?:a?){1000}b"}`, "set a smaller max_length"},
		{`{"name": "tags", "type": "list", "max_items": -1}`, "may not be negative"},
		{`{"name": "tags", "type": "list", "max_items": 100000}`, "max_items 100000: at most 1000"},
		{`{"name": "notes", "type": "string", "max_length": 1000000}`, "may not be above 65536"},
	} {
		status, out := s.call("PUT", "/v1/schemas/contacts", key(acme), strings.NewReader(doc(c.field)), "application/json")
		if msg, _ := out["error"].(string); status != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%.60s: %d %v, want 400 saying %q", c.field, status, out, c.want)
		}
	}
	// Within the bounds: the same pattern on short values is accepted.
	ok := doc(`{"name": "code", "type": "string", "max_length": 200, "pattern": "^(?:a?){1000}b$"}`)
	if status, out := s.call("PUT", "/v1/schemas/contacts", key(acme), strings.NewReader(ok), "application/json"); status != 200 {
		t.Fatalf("a schema within the bounds: %d %v", status, out)
	}
}
