// Package schematest reads entity schemas for tests: a shipped one
// (schemas/entities, read from disk or from the schemas module's embedded
// files) parsed as the catalog parses it.
package schematest

import (
	"io/fs"
	"testing"

	"github.com/intake/intake/pkg/schema"
)

// Load parses the schema file path of fsys, failing the test if it cannot
// be read or is not a valid schema.
func Load(tb testing.TB, fsys fs.FS, path string) *schema.Schema {
	tb.Helper()
	data, err := fs.ReadFile(fsys, path)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := schema.Parse(data)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return s
}

// TwoKeyContacts is a schema "contacts" with two key fields, email then
// phone (US numbers), and a registry holding it: the smallest schema whose
// records are found through either key field.
func TwoKeyContacts(tb testing.TB) (*schema.Schema, *schema.Registry) {
	tb.Helper()
	s, err := schema.Parse([]byte(`{"name": "contacts", "keys": ["email", "phone"],
		"fields": [{"name": "email", "type": "email"}, {"name": "phone", "type": "phone", "region": "US"}]}`))
	if err != nil {
		tb.Fatal(err)
	}
	reg := schema.NewRegistry()
	reg.Put(s)
	return s, reg
}
