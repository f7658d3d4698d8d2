package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// A schema stored before the bounds on patterns existed, and over them now,
// refuses imports with the reason and what to do (an invalid option: 400 at
// the edges, a permanent error in the stages), instead of "cannot read the
// schemas" for ever.
func TestStoredSchemaOverTodaysBounds(t *testing.T) {
	_, mc := ferrettest.Start(t, "")
	st := store.New(mc, "intake", nil)
	ctx := context.Background()
	old := `{"name": "legacy", "keys": ["email"], "fields": [{"name": "email", "type": "email", "required": true},
		{"name": "code", "type": "string", "pattern": "` + strings.Repeat("(?:a?){1000}", 100) + `b"}]}`
	if _, err := schema.Parse([]byte(old)); err == nil {
		t.Fatal("the legacy schema passes today's checks; the test needs one that does not")
	}
	if err := st.PutSchema(ctx, "acme", "legacy", old); err != nil { // as an older version stored it
		t.Fatal(err)
	}
	c := New(schema.NewRegistry(), st)
	opts := envelope.Options{Schema: "legacy"}
	_, err := c.CheckOptions(ctx, "acme", &opts)
	var inv *InvalidOptionsError
	if !errors.As(err, &inv) || !Permanent(err) || !strings.Contains(err.Error(), "register it again with PUT /v1/schemas/legacy") {
		t.Fatalf("CheckOptions: %v, want an invalid option saying to register the schema again", err)
	}
	if _, _, err := c.Get(ctx, "acme", "legacy"); !Permanent(err) {
		t.Fatalf("Get: %v, want a permanent error", err)
	}
}
