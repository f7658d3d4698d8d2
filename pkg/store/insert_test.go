package store

import (
	"context"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/reconcile"
)

// A document the database refuses, in a batch whose other documents exist
// (a retried chunk), fails the insert with that document's own error, not
// the batch exception's text, which lists only its first errors: duplicate
// keys (found by the fault harness's poison chunk).
func TestInsertNamesTheRefusedDocument(t *testing.T) {
	_, client := ferrettest.Start(t, "")
	s := New(client, "intake", nil)
	ctx := context.Background()
	var recs []NewRecord
	for i := range 40 {
		recs = append(recs, NewRecord{ID: "email:" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@x.io", Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "i", Row: i + 2}})
	}
	if _, err := s.InsertRecords(ctx, "t", "contacts", recs); err != nil {
		t.Fatal(err)
	}
	// FerretDB v1 cannot store nested arrays; validation lets them through.
	poisoned := NewRecord{ID: "email:poison@x.io", Fields: map[string]any{"extra": map[string]any{"m": []any{[]any{1.0}}}}, Stamp: reconcile.Stamp{Import: "i", Row: 50}}
	_, err := s.InsertRecords(ctx, "t", "contacts", append(recs, poisoned))
	if err == nil {
		t.Skip("this database stores nested arrays")
	}
	if !strings.Contains(err.Error(), "nested arrays are not supported") || !strings.Contains(err.Error(), "email:poison@x.io") ||
		strings.Contains(err.Error(), "duplicate key") {
		t.Fatalf("error %q does not name the refused document and why", err)
	}
}
