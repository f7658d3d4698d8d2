// Package schema describes entity schemas (contacts, customers, ...) and
// judges rows against them. It knows nothing of NATS or MongoDB.
//
// A schema is a JSON document (schemas/entities/*.json): a name, fields with
// a type and options, the groups of fields of which at least one must be
// given, the fields allowed as reconciliation key and the policy for
// unknown columns. Validate turns the cells of one row into a record whose
// values have the canonical Go type of their field:
//
//	string, email, phone, enum, date, decimal -> string
//	int -> int64, bool -> bool, list -> []string, json -> map[string]any
//
// Records travel between services as JSON, which loses some of these types
// (int64 becomes float64, []string becomes []any); Restore brings them back
// and Equal compares values across representations. Dates travel as
// "yyyy-mm-dd" and are stored as dates: StoredDates turns them (and a stored
// date in any form it is read back in) into time.Time at UTC midnight.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field types.
const (
	TypeString  = "string"
	TypeEmail   = "email"
	TypePhone   = "phone"
	TypeEnum    = "enum"
	TypeDate    = "date"    // -> "2006-01-02"
	TypeBool    = "bool"    // -> bool
	TypeInt     = "int"     // -> int64
	TypeDecimal = "decimal" // -> canonical decimal string, e.g. "12.50"
	TypeList    = "list"    // -> []string
	TypeJSON    = "json"    // -> map[string]any (a JSON object)
)

// Unknown-header policies.
const (
	HeadersIgnore = "ignore"
	HeadersError  = "error"
)

// ReasonsColumn is the last column of a failed-rows file (GET
// /v1/imports/{id}/failed.csv): why each row failed. MapHeader always
// ignores it, whatever the unknown_headers policy, so that the file can be
// fixed and uploaded again as it is.
const ReasonsColumn = "intake_reasons"

// DefaultToday is the default of a date field that stands for the date of
// the day the row is validated (UTC unless the schema's clock says otherwise).
const DefaultToday = "today"

// MaxJSONDepth is the deepest nesting of objects and arrays in a json cell.
// (The other bounds of a row are in bounds.go.)
const MaxJSONDepth = 32

// Field is one column of an entity.
type Field struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	Example     string   `json:"example,omitempty"` // a cell as a person would write it; used by templates, checked at load
	Required    bool     `json:"required,omitempty"`
	Aliases     []string `json:"aliases,omitempty"` // other header names, matched after NormalizeHeader
	// Column is the exact external column name (e.g. "slashid:emails"). It
	// is matched exactly before any normalised matching, and it is the
	// header templates write. Its normalised form also matches unless
	// another field claims it.
	Column string `json:"column,omitempty"`
	// RequiredOnCreate: the field must be given when the row creates a new
	// record (see CheckCreate), but may be left empty to keep the stored
	// value of an existing record.
	RequiredOnCreate bool `json:"required_on_create,omitempty"`
	// Default is used when the cell is empty or the column absent: a JSON
	// string, number, boolean, array (list fields) or object (json fields),
	// or "today" for date fields. It is checked like a cell at load.
	Default json.RawMessage `json:"default,omitempty"`

	MinLength int    `json:"min_length,omitempty"` // string-like values (list: each item), after normalisation
	MaxLength int    `json:"max_length,omitempty"` // the cell as written (list: each item)
	Pattern   string `json:"pattern,omitempty"`    // Go regexp the normalised value (list: each item) must match

	Values []string `json:"values,omitempty"` // enum (and list items of type enum): allowed values, matched case-insensitively

	Region  string `json:"region,omitempty"`  // phone: default region for numbers without +country ("ZZ": none, + required); default US
	Lenient bool   `json:"lenient,omitempty"` // phone: keep phone-like values that are not valid numbers (extensions, short internal numbers) as written

	Formats []string `json:"formats,omitempty"` // date: accepted formats (named or Go layouts), the field's fixed date_format; default: iso, us, dot, ymd_slash, text, rfc3339, with the day-month order inferred per import (date_order.go)

	Scale int `json:"scale,omitempty"` // decimal: exact number of decimal places (padded; more places rejected unless zeros)

	Separator string `json:"separator,omitempty"` // list: item separator, default ","
	ItemType  string `json:"item_type,omitempty"` // list: string (default), email, phone or enum
	MaxItems  int    `json:"max_items,omitempty"` // list: most items allowed (0: DefaultMaxItems; at most MaxItemsLimit)

	ObjectValues bool `json:"object_values,omitempty"` // json: every top-level value must itself be an object

	c *compiled
}

// compiled holds what a field needs at validation time.
type compiled struct {
	pattern      *regexp.Regexp
	patternInsts int               // size of pattern's compiled program
	enum         map[string]string // lower-case -> canonical
	dates        []dateFormat
	dateHint     string // example of the first accepted format
	itemType     string
	separator    string
	defToday     bool
	defValue     any  // normalised default
	hasDefault   bool // defValue or defToday
}

// ItemSeparator is the separator of a list field's items, the default
// applied ("" for a field of another type).
func (f *Field) ItemSeparator() string {
	if f.c == nil {
		return ""
	}
	return f.c.separator
}

// Header is the column name templates write for the field: Column if set,
// else the field name.
func (f *Field) Header() string {
	if f.Column != "" {
		return f.Column
	}
	return f.Name
}

// Schema is an entity schema.
type Schema struct {
	Name         string     `json:"name"`
	Description  string     `json:"description,omitempty"`
	Fields       []Field    `json:"fields"`
	AtLeastOneOf [][]string `json:"at_least_one_of,omitempty"`
	Keys         []string   `json:"keys"` // fields allowed as reconciliation key; the first is the default
	// MatchAny makes the keys handles: a record is matched if any item of any
	// key field matches (persons: emails, phone numbers, usernames). Imports
	// of such a schema use the key AnyHandle, never a single field.
	MatchAny       bool   `json:"match_any,omitempty"`
	UnknownHeaders string `json:"unknown_headers,omitempty"` // ignore (default) or error

	byName  map[string]int
	lookup  map[string]int // normalised header -> field index
	columns map[string]int // exact Column -> field index
	clock   func() time.Time
}

// Parse reads and checks a schema document. Unknown keys are an error, so a
// misspelt option cannot be silently ignored.
func Parse(data []byte) (*Schema, error) {
	var s Schema
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("schema: trailing data after the document")
	}
	if err := s.compile(); err != nil {
		return nil, err
	}
	return &s, nil
}

// SetClock sets the clock used for "today" defaults (tests; time zones).
// nil restores the default, time.Now in UTC.
func (s *Schema) SetClock(now func() time.Time) { s.clock = now }

func (s *Schema) today() string {
	if s.clock != nil {
		return s.clock().Format(isoLayout)
	}
	return time.Now().UTC().Format(isoLayout)
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
	s.columns = map[string]int{}
	for i := range s.Fields {
		f := &s.Fields[i]
		if !nameRe.MatchString(f.Name) {
			return fmt.Errorf("schema %s: field name %q: want lower-case letters, digits and _", s.Name, f.Name)
		}
		if _, dup := s.byName[f.Name]; dup {
			return fmt.Errorf("schema %s: field %s defined twice", s.Name, f.Name)
		}
		s.byName[f.Name] = i
		if err := f.compile(); err != nil {
			return fmt.Errorf("schema %s: field %s: %w", s.Name, f.Name, err)
		}
		for _, h := range append([]string{f.Name}, f.Aliases...) {
			n := NormalizeHeader(h)
			if n == "" {
				return fmt.Errorf("schema %s: field %s: alias %q has no letters or digits", s.Name, f.Name, h)
			}
			if other, dup := s.lookup[n]; dup && other != i {
				return fmt.Errorf("schema %s: header %q matches both %s and %s", s.Name, h, s.Fields[other].Name, f.Name)
			}
			s.lookup[n] = i
		}
	}
	// Columns: exact names first; their normalised forms only where no
	// name, alias or other column claims them.
	claimed := map[string]int{}
	for i := range s.Fields {
		col := strings.TrimSpace(s.Fields[i].Column)
		if col == "" {
			continue
		}
		if other, dup := s.columns[col]; dup {
			return fmt.Errorf("schema %s: column %q given for both %s and %s", s.Name, col, s.Fields[other].Name, s.Fields[i].Name)
		}
		s.columns[col] = i
		n := NormalizeHeader(col)
		if n == "" {
			continue
		}
		if other, ok := s.lookup[n]; ok && other != i {
			continue // only the exact column reaches this field
		}
		if _, ok := claimed[n]; ok {
			claimed[n] = -1 // two columns normalise alike: exact matches only
			continue
		}
		claimed[n] = i
	}
	for n, i := range claimed {
		if i >= 0 {
			s.lookup[n] = i
		}
	}
	for _, g := range s.AtLeastOneOf {
		if len(g) == 0 {
			return fmt.Errorf("schema %s: empty at_least_one_of group", s.Name)
		}
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
		i, ok := s.byName[k]
		if !ok {
			return fmt.Errorf("schema %s: key %s is not a field", s.Name, k)
		}
		if s.Fields[i].Type == TypeJSON {
			return fmt.Errorf("schema %s: key %s is a json field; a key must be a single value or a list", s.Name, k)
		}
	}
	if err := s.checkBounds(); err != nil {
		return err
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

// NormalizeHeader folds case, spaces and punctuation: "E-mail Address" ->
// "emailaddress". Letters and digits of any script are kept; everything
// else (including a byte-order mark or zero-width characters) is dropped.
func NormalizeHeader(h string) string {
	var b strings.Builder
	b.Grow(len(h))
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		case r > 127 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Field returns the field with the given name.
func (s *Schema) Field(name string) (*Field, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.Fields[i], true
}

// FieldFor returns the field a column header (or a name a client uses for a
// field, e.g. "mobileNumber") stands for: its exact Column, its name or one
// of its aliases, compared after NormalizeHeader.
func (s *Schema) FieldFor(header string) (*Field, bool) {
	if i, ok := s.columns[strings.TrimSpace(header)]; ok {
		return &s.Fields[i], true
	}
	if i, ok := s.lookup[NormalizeHeader(header)]; ok {
		return &s.Fields[i], true
	}
	return nil, false
}

// Headers lists the column names of a template, in field order.
func (s *Schema) Headers() []string { return s.eachField((*Field).Header) }

// FieldNames lists the fields' names, in field order.
func (s *Schema) FieldNames() []string {
	return s.eachField(func(f *Field) string { return f.Name })
}

// eachField is what of applies to each field, in field order.
func (s *Schema) eachField(of func(*Field) string) []string {
	out := make([]string, len(s.Fields))
	for i := range s.Fields {
		out[i] = of(&s.Fields[i])
	}
	return out
}

// ResolveKey returns the reconciliation key field for an import: requested
// if the schema allows it, else the schema's default. requested may name
// the field as a client does: its column, its name or an alias, compared
// after NormalizeHeader ("mobileNumber" and "Mobile Number" both resolve to
// mobile_number).
func (s *Schema) ResolveKey(requested string) (string, error) {
	if s.MatchAny {
		if r := strings.TrimSpace(requested); r != "" && r != AnyHandle {
			return "", fmt.Errorf("key %q is not allowed for schema %s: a record is matched on any of its handles (%s); leave key empty or use %q",
				requested, s.Name, strings.Join(s.Keys, ", "), AnyHandle)
		}
		return AnyHandle, nil
	}
	if strings.TrimSpace(requested) == "" {
		return s.Keys[0], nil
	}
	for _, k := range s.Keys {
		if k == requested {
			return k, nil
		}
	}
	if f, ok := s.FieldFor(requested); ok {
		for _, k := range s.Keys {
			if k == f.Name {
				return k, nil
			}
		}
		return "", fmt.Errorf("key %q (field %s) is not allowed for schema %s (allowed: %s)", requested, f.Name, s.Name, strings.Join(s.Keys, ", "))
	}
	return "", fmt.Errorf("key %q is not allowed for schema %s (allowed: %s)", requested, s.Name, strings.Join(s.Keys, ", "))
}

// HeaderMap maps source columns to schema fields (-1: ignored column).
type HeaderMap struct {
	columns []int
}

// MapHeader matches a header row to the schema's fields: exact Column
// names first, then names and aliases after NormalizeHeader. Two columns
// for one field are an error; unknown columns are ignored or an error per
// the schema's unknown_headers policy.
func (s *Schema) MapHeader(header []string) (HeaderMap, error) {
	hm := HeaderMap{columns: make([]int, len(header))}
	seen := map[int]string{}
	var unknown []string
	for c, h := range header {
		if strings.TrimSpace(h) == ReasonsColumn {
			hm.columns[c] = -1
			continue
		}
		i, ok := s.columns[strings.TrimSpace(h)]
		if !ok {
			i, ok = s.lookup[NormalizeHeader(h)]
		}
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
		return hm, fmt.Errorf("no column of the header matches schema %s (expected some of: %s)", s.Name, strings.Join(s.Headers(), ", "))
	}
	return hm, nil
}

// Columns reports, for each source column, the field it maps to ("" for an
// ignored column).
func (s *Schema) Columns(hm HeaderMap) []string {
	out := make([]string, len(hm.columns))
	for c, i := range hm.columns {
		if i >= 0 {
			out[c] = s.Fields[i].Name
		}
	}
	return out
}

// FieldError is one problem with one field of one row.
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Code    string `json:"code,omitempty"` // set for some problems, e.g. CodeCellTooLong
	Message string `json:"message"`
}

// fieldSet is a small set of field indexes, without allocation for schemas
// of up to 128 fields.
type fieldSet struct {
	small [2]uint64
	big   []bool
}

func newFieldSet(n int) fieldSet {
	if n > 128 {
		return fieldSet{big: make([]bool, n)}
	}
	return fieldSet{}
}

func (fs *fieldSet) add(i int) {
	if fs.big != nil {
		fs.big[i] = true
		return
	}
	fs.small[i>>6] |= 1 << (uint(i) & 63)
}

func (fs *fieldSet) has(i int) bool {
	if fs.big != nil {
		return fs.big[i]
	}
	return fs.small[i>>6]&(1<<(uint(i)&63)) != 0
}

// RowLengthError is the problem of a row whose cells do not match its
// header's columns (nil when they do): such a row is not read at all.
func RowLengthError(cells, columns int) *FieldError {
	if cells == columns {
		return nil
	}
	return &FieldError{Message: fmt.Sprintf("row has %d cells but the header has %d columns", cells, columns)}
}

// Validate judges one row. It returns the normalised fields (empty cells
// omitted unless the field has a default) and every problem found, not just
// the first. Problems come in this order: cells in column order, then
// missing required fields (and the missing key) in field order, then
// unsatisfied at_least_one_of groups.
func (s *Schema) Validate(hm HeaderMap, cells []string, keyField string) (map[string]any, []FieldError) {
	var errs []FieldError
	if e := RowLengthError(len(cells), len(hm.columns)); e != nil {
		return nil, append(errs, *e)
	}
	rec := make(map[string]any, len(s.Fields))
	given := newFieldSet(len(s.Fields))   // a value was stored
	invalid := newFieldSet(len(s.Fields)) // given but not acceptable: not also "missing"
	for c, i := range hm.columns {
		if i < 0 {
			continue
		}
		raw := strings.TrimSpace(cells[c])
		if raw == "" {
			continue
		}
		f := &s.Fields[i]
		if len(raw) > MaxCellBytes {
			errs = append(errs, FieldError{Field: f.Name, Code: CodeCellTooLong,
				Message: fmt.Sprintf("%s: the value is %d bytes long; a cell may hold at most %d", f.Name, len(raw), MaxCellBytes)})
			invalid.add(i)
			continue
		}
		if !utf8.ValidString(raw) {
			// Readers convert files to UTF-8; this guards direct publishers,
			// whose bytes JSON would otherwise turn into U+FFFD silently.
			errs = append(errs, FieldError{Field: f.Name, Message: fmt.Sprintf("%s: the value is not valid UTF-8 text", f.Name)})
			invalid.add(i)
			continue
		}
		v, ok := f.parse(raw, &errs)
		if !ok {
			invalid.add(i)
			continue
		}
		if v == nil { // e.g. a list of separators only: as if empty
			continue
		}
		rec[f.Name] = v
		given.add(i)
	}
	for i := range s.Fields {
		if given.has(i) || invalid.has(i) {
			continue
		}
		f := &s.Fields[i]
		if f.c.hasDefault {
			rec[f.Name] = s.defaultValue(f)
			given.add(i)
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
			i := s.byName[n]
			if given.has(i) || invalid.has(i) {
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

// defaultValue returns a fresh copy of a field's default.
func (s *Schema) defaultValue(f *Field) any {
	if f.c.defToday {
		return s.today()
	}
	switch v := f.c.defValue.(type) {
	case []string:
		return append([]string(nil), v...)
	case map[string]any:
		return deepCopyJSON(v)
	}
	return f.c.defValue
}

// CheckCreate reports the fields marked required_on_create that a record
// about to be created lacks. Validate cannot know whether a row creates or
// updates a record; the writer calls this for rows that create one.
func (s *Schema) CheckCreate(rec map[string]any) []FieldError {
	var errs []FieldError
	for i := range s.Fields {
		f := &s.Fields[i]
		if !f.RequiredOnCreate {
			continue
		}
		if v, ok := rec[f.Name]; ok && v != nil {
			continue
		}
		errs = append(errs, FieldError{Field: f.Name, Message: fmt.Sprintf("%s: required to create a new record (it may be left empty only to keep the value of an existing one)", f.Name)})
	}
	return errs
}

// Key returns the reconciliation key of a valid record:
// "email:ann@example.com". For a list-typed key field it is the key of the
// first item (see Keys).
func Key(keyField string, rec map[string]any) string {
	if ks := Keys(keyField, rec); len(ks) > 0 {
		return ks[0]
	}
	return keyField + ":" + fmt.Sprint(rec[keyField])
}

// AnyHandle is the reconciliation key of an import whose schema matches on
// any handle (Schema.MatchAny).
const AnyHandle = "handles"

// Handles returns every handle of a valid record of a MatchAny schema, in
// key-field order then item order ("emails:ann@example.com",
// "phone_numbers:+14155552671", "usernames:ann"); the first is the record's
// identity when it creates a record.
func (s *Schema) Handles(rec map[string]any) []string {
	var out []string
	for _, k := range s.Keys {
		out = presentKeys(out, k, rec)
	}
	return out
}

// KeyHandles returns the handles through which a record of a schema with
// several key fields is found, whatever key an import uses: the import key
// field's values first (so the first is Key(keyField, rec), the _id of a
// record the row creates), then every other key field's. It is nil for a
// schema with one key field, and for MatchAny schemas (see Handles): their
// records need no handle index or have it already.
func (s *Schema) KeyHandles(keyField string, rec map[string]any) []string {
	if s.MatchAny || len(s.Keys) < 2 {
		return nil
	}
	out := presentKeys(nil, keyField, rec)
	for _, k := range s.Keys {
		if k != keyField {
			out = presentKeys(out, k, rec)
		}
	}
	return out
}

// presentKeys appends the keys of a field of rec that have a value.
func presentKeys(out []string, field string, rec map[string]any) []string {
	for _, h := range Keys(field, rec) {
		if _, v, _ := strings.Cut(h, ":"); v != "" {
			out = append(out, h)
		}
	}
	return out
}

// Keys returns every reconciliation key of a valid record: one per item of
// a list-typed key field ("emails:ann@example.com", "emails:ann@work.example"),
// else the single key. It is empty when the record has no value for the key.
func Keys(keyField string, rec map[string]any) []string {
	v, ok := rec[keyField]
	if !ok || v == nil {
		return nil
	}
	switch v := v.(type) {
	case string:
		return []string{keyField + ":" + v}
	case []string:
		out := make([]string, 0, len(v))
		for _, it := range v {
			out = append(out, keyField+":"+it)
		}
		return out
	case []any:
		out := make([]string, 0, len(v))
		for _, it := range v {
			out = append(out, keyField+":"+keyText(it))
		}
		return out
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]string, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			out = append(out, keyField+":"+keyText(rv.Index(i).Interface()))
		}
		return out
	}
	return []string{keyField + ":" + keyText(v)}
}

// keyText formats a scalar key value the same way whatever its Go type:
// int64(42), int32(42) and float64(42) all give "42".
func keyText(v any) string {
	if s, ok := plainText(v); ok {
		return s
	}
	return fmt.Sprint(v)
}

// plainText is the text of a string, of nil (empty) and of any number
// (int64(42), int32(42) and float64(42) all give "42"); ok is false for
// any other value, which keyText and scalarText each write their own way.
func plainText(v any) (text string, ok bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case nil:
		return "", true
	}
	if n, ok := toNumber(v); ok {
		return n.text(), true
	}
	return "", false
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
