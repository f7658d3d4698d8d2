package store

import (
	"reflect"
	"testing"

	"github.com/intake/intake/pkg/mapping"
)

// A saved mapping reads back as saved (headers with dots included), only
// for its tenant, and is gone once deleted.
func TestSavedMappings(t *testing.T) {
	s, ctx := startStore(t)
	email := "email"
	given := mapping.Given{"E-mail 1 - Value": &email, "Account.Name": nil}
	if err := s.PutMapping(ctx, "acme", "google", given); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.GetMapping(ctx, "acme", "google")
	if err != nil || !found || !reflect.DeepEqual(got, given) {
		t.Fatalf("read back %v %v %v, want %v", got, found, err, given)
	}
	if _, found, _ := s.GetMapping(ctx, "globex", "google"); found {
		t.Error("another tenant reads acme's mapping")
	}
	if found, err := s.DeleteMapping(ctx, "acme", "google"); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if _, found, _ := s.GetMapping(ctx, "acme", "google"); found {
		t.Error("still there after the delete")
	}
	if found, _ := s.DeleteMapping(ctx, "acme", "google"); found {
		t.Error("deleted twice")
	}
}
