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
