// Package limits holds the per-tenant limits of imports: upload size, rows
// per import, imports processing at once, open event streams, and the
// persons plan limit. A
// limits file overrides the defaults for some tenants.
package limits

import (
	"encoding/json"
	"fmt"
	"os"
)

// Limits of one tenant; zero fields take the default's value.
type Limits struct {
	MaxUploadBytes       int64 `json:"max_upload_bytes,omitempty"`
	MaxRows              int   `json:"max_rows,omitempty"`
	MaxConcurrentImports int   `json:"max_concurrent_imports,omitempty"` // imports processing at once; beyond: 429
	PersonsRowLimit      int   `json:"persons_row_limit,omitempty"`      // the persons contract's plan limit (402 above)
	MaxEventStreams      int   `json:"max_event_streams,omitempty"`      // event streams open at once per ingest process; beyond: 429
}

// DefaultMaxEventStreams is the default of MaxEventStreams: enough for a
// team watching its imports, far below what would load the database.
const DefaultMaxEventStreams = 20

// Table is the defaults and the tenants' own limits.
type Table struct {
	Default Limits            `json:"default"`
	Tenants map[string]Limits `json:"tenants"`
}

// Load reads a limits file:
//
//	{"default": {"max_concurrent_imports": 10}, "tenants": {"acme": {"max_rows": 50000}}}
func Load(path string, defaults Limits) (*Table, error) {
	t := &Table{Default: defaults}
	if path == "" {
		return t, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("limits file: %w", err)
	}
	var f Table
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("limits file %s: %w", path, err)
	}
	t.Default = merge(defaults, f.Default)
	t.Tenants = f.Tenants
	return t, nil
}

// For returns a tenant's limits.
func (t *Table) For(tenant string) Limits {
	if t == nil {
		return Limits{}
	}
	return merge(t.Default, t.Tenants[tenant])
}

func merge(base, over Limits) Limits {
	if over.MaxUploadBytes > 0 {
		base.MaxUploadBytes = over.MaxUploadBytes
	}
	if over.MaxRows > 0 {
		base.MaxRows = over.MaxRows
	}
	if over.MaxConcurrentImports > 0 {
		base.MaxConcurrentImports = over.MaxConcurrentImports
	}
	if over.PersonsRowLimit > 0 {
		base.PersonsRowLimit = over.PersonsRowLimit
	}
	if over.MaxEventStreams > 0 {
		base.MaxEventStreams = over.MaxEventStreams
	}
	return base
}
