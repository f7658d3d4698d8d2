package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/services/intake/app"
)

// PUT /v1/schemas refuses, with 400 and the reason, a schema whose rows
// could cost more than the bounds allow: the pattern of the report (1.2 KB
// compiling to about 200,000 instructions, which took 53 s on a 10 KB cell),
// a short pattern compiling too large, and nonsensical max_items.
func TestSchemaBoundsAtRegistration(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.BootstrapAPIKey = bootstrapKey })
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

// The row of the report (one persons row with 100,000 usernames took 46 s
// of CPU) fails on its own, with row, field and message, as does a row
// within the cell limit with more usernames than max_items; the other rows
// of the import are imported.
func TestPersonsRowWithTooManyHandles(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	names := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("user%d", i)
		}
		return strings.Join(parts, ",")
	}
	csv := "slashid:emails,slashid:usernames\n" +
		"ann@example.com,ann\n" +
		`,"` + names(100000) + "\"\n" +
		`,"` + names(101) + "\"\n" +
		`bob@example.com,"bob,bobby"` + "\n"
	t.Logf("%d bytes", len(csv))
	status, out := s.upload([]byte(csv), map[string]string{"schema": "persons"})
	if status != 202 {
		t.Fatalf("upload: %d %v", status, out)
	}
	v := s.waitDone(out["id"].(string), time.Minute)
	if v.Status != "completed" || v.Total != 4 || v.Created != 2 || v.Failed != 2 {
		t.Fatalf("summary: %+v", v)
	}
	want := map[int]string{
		3: "usernames: the value is 988889 bytes long; a cell may hold at most 65536",
		4: "has 101 items, at most 100 allowed",
	}
	if len(v.Errors) != 2 {
		t.Fatalf("errors: %+v", v.Errors)
	}
	for _, e := range v.Errors {
		if e.Field != "usernames" || !strings.Contains(e.Message, want[e.Row]) {
			t.Errorf("row %d: %+v, want usernames: %q", e.Row, e, want[e.Row])
		}
	}
	for _, h := range []string{"emails:ann@example.com", "emails:bob@example.com"} {
		if !s.hasRecord("persons", h) {
			t.Errorf("no person %s", h)
		}
	}
}
