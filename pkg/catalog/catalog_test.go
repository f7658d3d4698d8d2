package catalog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/store/storetest"
)

// A schema stored before the bounds on patterns existed, and over them now,
// refuses imports with the reason and what to do (an invalid option: 400 at
// the edges, a permanent error in the stages), instead of "cannot read the
// schemas" for ever.
func TestStoredSchemaOverTodaysBounds(t *testing.T) {
	st := storetest.Wire(t)
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

// Registering a schema indexes its key fields in the tenant's records
// collection, before any import of it.
func TestPutIndexesKeyFields(t *testing.T) {
	st := storetest.Wire(t)
	ctx := context.Background()
	c := New(schema.NewRegistry(), st)
	if _, err := c.Put(ctx, "acme", []byte(`{"name": "members", "keys": ["member_no", "email"], "fields": [
		{"name": "member_no", "type": "string"}, {"name": "email", "type": "email"}]}`)); err != nil {
		t.Fatal(err)
	}
	names, err := store.IndexNames(ctx, st.Records.Collection(store.RecordsCollection("acme", "members")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{store.RecordIndexName("member_no"), store.RecordIndexName("email")} {
		if !slices.Contains(names, want) {
			t.Errorf("indexes %v lack %s", names, want)
		}
	}
}
