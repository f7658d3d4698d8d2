// Package schema describes entity schemas (contacts, customers, ...) and
// judges rows against them. It knows nothing of NATS or MongoDB.
package schema

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Field types.
const (
	TypeString = "string"
	TypeEmail  = "email"
	TypePhone  = "phone"
	TypeEnum   = "enum"
)

// Unknown-header policies.
const (
	HeadersIgnore = "ignore"
	HeadersError  = "error"
)

// Field is one column of an entity.
type Field struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Required  bool     `json:"required,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
	MaxLength int      `json:"max_length,omitempty"`
	Values    []string `json:"values,omitempty"` // enum
	Region    string   `json:"region,omitempty"` // phone: default region for numbers without +country
}

// Schema is an entity schema.
type Schema struct {
	Name           string     `json:"name"`
	Description    string     `json:"description,omitempty"`
	Fields         []Field    `json:"fields"`
	AtLeastOneOf   [][]string `json:"at_least_one_of,omitempty"`
	Keys           []string   `json:"keys"`                      // fields allowed as reconciliation key; the first is the default
	UnknownHeaders string     `json:"unknown_headers,omitempty"` // ignore (default) or error

	byName map[string]int
	lookup map[string]int // normalised header -> field index
}

// Parse reads and checks a schema document.
func Parse(data []byte) (*Schema, error) {
	var s Schema
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := s.compile(); err != nil {
		return nil, err
	}
	return &s, nil
}

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (s *Schema) compile() error {
	if !nameRe.MatchString(s.Name) {
		return fmt.Errorf("schema name %q: want lower-case letters, digits and _", s.Name)
	}
	if len(s.Fields) == 0 {
		return fmt.Errorf("schema %s: no fields", s.Name)
	}
	s.byName = map[string]int{}
	s.lookup = map[string]int{}
	for i, f := range s.Fields {
		if !nameRe.MatchString(f.Name) {
			return fmt.Errorf("schema %s: field name %q: want lower-case letters, digits and _", s.Name, f.Name)
		}
		switch f.Type {
		case TypeString, TypeEmail, TypePhone:
		case TypeEnum:
			if len(f.Values) == 0 {
				return fmt.Errorf("schema %s: enum field %s has no values", s.Name, f.Name)
			}
		default:
			return fmt.Errorf("schema %s: field %s: unknown type %q", s.Name, f.Name, f.Type)
		}
		if _, dup := s.byName[f.Name]; dup {
			return fmt.Errorf("schema %s: field %s defined twice", s.Name, f.Name)
		}
		s.byName[f.Name] = i
		for _, h := range append([]string{f.Name}, f.Aliases...) {
			n := NormalizeHeader(h)
			if other, dup := s.lookup[n]; dup && other != i {
				return fmt.Errorf("schema %s: header %q matches both %s and %s", s.Name, h, s.Fields[other].Name, f.Name)
			}
			s.lookup[n] = i
		}
	}
	for _, g := range s.AtLeastOneOf {
		for _, n := range g {
			if _, ok := s.byName[n]; !ok {
				return fmt.Errorf("schema %s: at_least_one_of names unknown field %s", s.Name, n)
			}
		}
	}
	if len(s.Keys) == 0 {
		return fmt.Errorf("schema %s: no reconciliation key", s.Name)
	}
	for _, k := range s.Keys {
		if _, ok := s.byName[k]; !ok {
			return fmt.Errorf("schema %s: key %s is not a field", s.Name, k)
		}
	}
	switch s.UnknownHeaders {
	case "":
		s.UnknownHeaders = HeadersIgnore
	case HeadersIgnore, HeadersError:
	default:
		return fmt.Errorf("schema %s: unknown_headers must be ignore or error", s.Name)
	}
	return nil
}

// NormalizeHeader folds case, spaces and punctuation: "E-mail Address" -> "emailaddress".
func NormalizeHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ResolveKey returns the reconciliation key field for an import: requested
// if the schema allows it, else the schema's default.
func (s *Schema) ResolveKey(requested string) (string, error) {
	if requested == "" {
		return s.Keys[0], nil
	}
	for _, k := range s.Keys {
		if k == requested {
			return k, nil
		}
	}
	return "", fmt.Errorf("key %q is not allowed for schema %s (allowed: %s)", requested, s.Name, strings.Join(s.Keys, ", "))
}

// HeaderMap maps source columns to schema fields (-1: ignored column).
type HeaderMap struct {
	columns []int
}

// MapHeader matches a header row to the schema's fields and aliases.
func (s *Schema) MapHeader(header []string) (HeaderMap, error) {
	hm := HeaderMap{columns: make([]int, len(header))}
	seen := map[int]string{}
	var unknown []string
	for c, h := range header {
		i, ok := s.lookup[NormalizeHeader(h)]
		if !ok {
			hm.columns[c] = -1
			if strings.TrimSpace(h) != "" {
				unknown = append(unknown, h)
			}
			continue
		}
		if prev, dup := seen[i]; dup {
			return hm, fmt.Errorf("columns %q and %q both map to field %s", prev, h, s.Fields[i].Name)
		}
		seen[i] = h
		hm.columns[c] = i
	}
	if len(unknown) > 0 && s.UnknownHeaders == HeadersError {
		return hm, fmt.Errorf("unknown columns for schema %s: %s", s.Name, strings.Join(unknown, ", "))
	}
	if len(seen) == 0 {
		var names []string
		for _, f := range s.Fields {
			names = append(names, f.Name)
		}
		return hm, fmt.Errorf("no column of the header matches schema %s (expected some of: %s)", s.Name, strings.Join(names, ", "))
	}
	return hm, nil
}

// FieldError is one problem with one field of one row.
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Validate judges one row. It returns the normalised fields (empty cells
// omitted) and every problem found, not just the first.
func (s *Schema) Validate(hm HeaderMap, cells []string, keyField string) (map[string]any, []FieldError) {
	var errs []FieldError
	if len(cells) != len(hm.columns) {
		errs = append(errs, FieldError{Message: fmt.Sprintf("row has %d cells but the header has %d columns", len(cells), len(hm.columns))})
		return nil, errs
	}
	rec := make(map[string]any, len(s.Fields))
	invalid := map[string]bool{} // given but not acceptable: not also "missing"
	for c, i := range hm.columns {
		if i < 0 {
			continue
		}
		raw := strings.TrimSpace(cells[c])
		if raw == "" {
			continue
		}
		f := &s.Fields[i]
		v, err := normalize(f, raw)
		if err != nil {
			errs = append(errs, FieldError{Field: f.Name, Message: err.Error()})
			invalid[f.Name] = true
			continue
		}
		rec[f.Name] = v
	}
	for _, f := range s.Fields {
		if _, ok := rec[f.Name]; ok || invalid[f.Name] {
			continue
		}
		switch {
		case f.Required:
			errs = append(errs, FieldError{Field: f.Name, Message: fmt.Sprintf("%s: required", f.Name)})
		case f.Name == keyField:
			errs = append(errs, FieldError{Field: f.Name, Message: fmt.Sprintf("%s: required as the reconciliation key of this import", f.Name)})
		}
	}
	for _, g := range s.AtLeastOneOf {
		found := false
		for _, n := range g {
			if _, ok := rec[n]; ok || invalid[n] {
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, FieldError{Field: g[0], Message: fmt.Sprintf("at least one of %s is required", strings.Join(g, ", "))})
		}
	}
	return rec, errs
}

// Key returns the reconciliation key of a valid record: "email:ann@example.com".
func Key(keyField string, rec map[string]any) string {
	return keyField + ":" + fmt.Sprint(rec[keyField])
}

// Registry holds the schemas by name. Safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	schemas map[string]*Schema
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{schemas: map[string]*Schema{}} }

// Put adds or replaces a schema.
func (r *Registry) Put(s *Schema) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.schemas[s.Name] = s
}

// Get returns a schema by name.
func (r *Registry) Get(name string) (*Schema, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.schemas[name]
	return s, ok
}

// Names lists the registered schemas.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.schemas))
	for n := range r.schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
