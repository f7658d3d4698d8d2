package store

import (
	"context"
	"testing"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/reconcile"
)

// The path a real MongoDB takes (no embedded reader): reading no keys, some
// keys, and missing keys. Reading none once sent $in: null, which the
// database refuses (found by the fault harness).
func TestGetRecordsWithoutEmbeddedReader(t *testing.T) {
	_, client := ferrettest.Start(t, "")
	s := New(client, "intake", nil) // as on MongoDB: NoIndexer, find $in
	ctx := context.Background()
	if got, err := s.GetRecords(ctx, "t", "contacts", nil); err != nil || len(got) != 0 {
		t.Fatalf("no keys: %v %v", got, err)
	}
	_, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{{ID: "email:a@x.io", Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "i", Row: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRecords(ctx, "t", "contacts", []string{"email:a@x.io", "email:missing@x.io"})
	if err != nil || len(got) != 1 || got["email:a@x.io"].Fields["name"] != "A" || got["email:a@x.io"].Created != (reconcile.Stamp{Import: "i", Row: 2}) {
		t.Fatalf("read = %+v %v", got["email:a@x.io"], err)
	}
}
