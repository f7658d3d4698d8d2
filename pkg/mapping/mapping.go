// Package mapping decides which column of a file goes to which field of a
// schema, and says why: the import's own mapping first, then the schema's
// column names and aliases, then the columns of the contact exports people
// bring (Google Contacts, Outlook, HubSpot, Salesforce, Mailchimp, LinkedIn).
// A Plan turns each source row into a row of the schema's fields: one
// column, the first non-empty of several (an export's E-mail 1, E-mail 2,
// ...), or a name composed of first, middle and last name. Pure: no I/O.
package mapping

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/intake/intake/pkg/schema"
)

// Why a column went where it did.
const (
	ReasonGiven       = "given"        // the import's mapping named it
	ReasonExact       = "exact"        // the field's column or name
	ReasonAlias       = "alias"        // one of the field's aliases
	ReasonKnownExport = "known_export" // a column of a known export
	ReasonIgnored     = "ignored"      // no field takes it (or the mapping said null)
)

// MultiValueSeparator separates values inside one cell of Google Contacts'
// exports ("a@x.example ::: b@y.example").
const MultiValueSeparator = " ::: "

// Given is an import's own mapping: column header -> field name, or nil to
// ignore the column. Headers it does not name are matched as usual.
type Given map[string]*string

// Column is one source column in a Report.
type Column struct {
	Column string `json:"column"`
	Field  string `json:"field,omitempty"` // "" when ignored
	Reason string `json:"reason"`
	Export string `json:"export,omitempty"` // with known_export: which
	// Note says how the column takes part when it is not the field's only
	// source: "first non-empty of 3", "part of the name".
	Note string `json:"note,omitempty"`
}

// Report is how an import's columns were mapped, for its summary.
type Report struct {
	Export  string   `json:"export,omitempty"` // the known export the header looks like
	Columns []Column `json:"columns"`
	Ignored []string `json:"ignored"` // the columns no field takes
}

// target is one field of a plan's rows and where its cell comes from.
type target struct {
	field   string
	sources []int // source columns, in priority order
	compose bool  // join the non-empty sources with spaces (a name)
	list    bool  // join the non-empty values with the list's separator
	sep     string
}

// Plan maps rows of one header onto a schema's fields.
type Plan struct {
	targets []target
	report  Report
}

// Header is the header of the rows Row returns: field names.
func (p *Plan) Header() []string {
	h := make([]string, len(p.targets))
	for i, t := range p.targets {
		h[i] = t.field
	}
	return h
}

// Report says how each column was mapped.
func (p *Plan) Report() Report { return p.report }

// Row turns a source row's cells into cells of Header's fields.
func (p *Plan) Row(cells []string) []string {
	return p.RowInto(make([]string, len(p.targets)), cells)
}

// RowInto is Row writing into dst (grown if short), so that a caller
// mapping many rows reuses one slice.
func (p *Plan) RowInto(dst, cells []string) []string {
	if cap(dst) < len(p.targets) {
		dst = make([]string, len(p.targets))
	}
	dst = dst[:len(p.targets)]
	for i, t := range p.targets {
		dst[i] = t.cell(cells)
	}
	return dst
}

func (t *target) cell(cells []string) string {
	at := func(c int) string {
		if c < len(cells) {
			return strings.TrimSpace(cells[c])
		}
		return ""
	}
	switch {
	case t.compose:
		var parts []string
		for _, c := range t.sources {
			if v := at(c); v != "" {
				parts = append(parts, v)
			}
		}
		return strings.Join(parts, " ")
	case t.list:
		var items []string
		for _, c := range t.sources {
			for _, v := range splitValues(at(c)) {
				if !slices.Contains(items, v) {
					items = append(items, v)
				}
			}
		}
		return strings.Join(items, t.sep)
	}
	for _, c := range t.sources {
		if v := firstValue(at(c)); v != "" {
			return v
		}
	}
	if len(t.sources) == 1 {
		return rawAt(cells, t.sources[0]) // one column: as written, spaces and all
	}
	return ""
}

func rawAt(cells []string, c int) string {
	if c < len(cells) {
		return cells[c]
	}
	return ""
}

// firstValue is a cell's first value (splitValues' first, "" if none),
// without allocating: the validator maps every row through it.
func firstValue(v string) string {
	for v != "" {
		part, rest, _ := strings.Cut(v, MultiValueSeparator)
		if part = strings.TrimSpace(part); part != "" {
			return part
		}
		v = rest
	}
	return ""
}

// splitValues splits a multi-value cell; an empty cell has no values.
func splitValues(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, MultiValueSeparator) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Error is a mapping that cannot be used, with what to do.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

// Decide maps header onto s's fields. given comes first; then the schema's
// own names (exact column or name, then aliases); then, when the header is
// a known export's, that export's columns by role. Two columns that the
// schema's names map to one field are an error, as without a mapping; an
// export's several email or phone columns feed one field in its documented
// order instead (the first non-empty value wins; a list field takes them all).
func Decide(s *schema.Schema, header []string, given Given) (*Plan, error) {
	for h := range given {
		if !slices.ContainsFunc(header, func(c string) bool { return strings.TrimSpace(c) == strings.TrimSpace(h) }) {
			return nil, &Error{fmt.Sprintf("mapping: the file has no column %q (its columns: %s)", h, strings.Join(header, ", "))}
		}
	}
	if err := CheckFields(s, given); err != nil {
		return nil, err
	}
	exp := detect(header)
	d := decider{s: s, cols: make([]Column, len(header)), byField: map[string]*target{}}
	// 1. The import's mapping.
	for c, h := range header {
		d.cols[c] = Column{Column: h, Reason: ReasonIgnored}
		f, named := lookupGiven(given, h)
		switch {
		case named && f == nil:
			d.cols[c].Note = "ignored by the mapping"
		case named:
			d.add(c, *f, ReasonGiven, "")
		}
	}
	// 2. The schema's names.
	for c, h := range header {
		if _, named := lookupGiven(given, h); named || strings.TrimSpace(h) == "" {
			continue
		}
		if strings.TrimSpace(h) == schema.ReasonsColumn {
			d.cols[c].Note = "the reasons of a failed-rows file"
			continue
		}
		if exp != nil {
			if what, ok := exp.others[strings.TrimSpace(h)]; ok {
				d.cols[c].Export, d.cols[c].Note = exp.name, "holds "+what
				continue
			}
		}
		f, ok := s.FieldFor(h)
		if !ok {
			continue
		}
		if t := d.byField[f.Name]; t != nil && !d.fromExport(exp, c) {
			return nil, &Error{fmt.Sprintf("columns %q and %q both map to field %s; name one of them in the import's mapping (e.g. {%q: null})",
				header[t.sources[0]], h, f.Name, h)}
		}
		reason := ReasonAlias
		if strings.TrimSpace(h) == f.Header() || strings.TrimSpace(h) == f.Name || schema.NormalizeHeader(h) == schema.NormalizeHeader(f.Name) {
			reason = ReasonExact
		}
		if exp != nil && d.fromExport(exp, c) {
			continue // the export's roles below decide, in their order
		}
		d.add(c, f.Name, reason, "")
	}
	// 3. A known export's columns, by role.
	if exp != nil {
		d.export(exp, header, given)
	}
	return d.plan(exp, header), nil
}

// CheckFields refuses a given mapping that names a field s lacks; it needs
// no header, so an import opened before its header is known is checked too.
func CheckFields(s *schema.Schema, given Given) error {
	cols := make([]string, 0, len(given))
	for h := range given {
		cols = append(cols, h)
	}
	sort.Strings(cols) // the same column named first every time
	for _, h := range cols {
		if f := given[h]; f != nil {
			if _, ok := s.Field(*f); !ok {
				return &Error{fmt.Sprintf("mapping: column %q: schema %s has no field %q (fields: %s)", h, s.Name, *f, strings.Join(s.FieldNames(), ", "))}
			}
		}
	}
	return nil
}

func lookupGiven(given Given, h string) (*string, bool) {
	for k, f := range given {
		if strings.TrimSpace(k) == strings.TrimSpace(h) {
			return f, true
		}
	}
	return nil, false
}

type decider struct {
	s       *schema.Schema
	cols    []Column
	order   []string // fields in the order they were first given a source
	byField map[string]*target
}

func (d *decider) add(c int, field, reason, export string) {
	t := d.byField[field]
	if t == nil {
		f, _ := d.s.Field(field)
		t = &target{field: field}
		if f.Type == schema.TypeList {
			t.list, t.sep = true, listSeparator(f)
		}
		d.byField[field] = t
		d.order = append(d.order, field)
	}
	t.sources = append(t.sources, c)
	d.cols[c].Field, d.cols[c].Reason, d.cols[c].Export, d.cols[c].Note = field, reason, export, ""
}

func listSeparator(f *schema.Field) string {
	if f.Separator != "" {
		return f.Separator
	}
	return ","
}

// fromExport reports whether column c is one the detected export gives a role.
func (d *decider) fromExport(exp *export, c int) bool {
	if exp == nil {
		return false
	}
	_, ok := exp.roleOf(d.cols[c].Column)
	return ok
}

// export maps the detected export's columns that nothing else took.
func (d *decider) export(exp *export, header []string, given Given) {
	type cand struct {
		col  int
		role role
	}
	var cands []cand
	for c, h := range header {
		if _, named := lookupGiven(given, h); named || d.cols[c].Field != "" {
			continue
		}
		if r, ok := exp.roleOf(h); ok {
			cands = append(cands, cand{c, r})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].role.rank < cands[j].role.rank })
	// A name: its own field when the schema has one (first_name, ...);
	// else composed into the full-name field, unless a column gives it whole.
	nameField := d.fieldFor(roleFull)
	wholeName := slices.ContainsFunc(cands, func(c cand) bool { return c.role.kind == roleFull }) || (nameField != "" && d.byField[nameField] != nil)
	for _, c := range cands {
		field := d.fieldFor(c.role.kind)
		note := ""
		if field == "" && (c.role.kind == roleGiven || c.role.kind == roleMiddle || c.role.kind == roleFamily) && nameField != "" && !wholeName {
			field, note = nameField, "part of the name"
		}
		if field == "" {
			continue
		}
		if t := d.byField[field]; t != nil && d.cols[t.sources[0]].Reason != ReasonKnownExport {
			continue // given, or the schema's own name for it, comes first
		}
		d.add(c.col, field, ReasonKnownExport, exp.name)
		d.cols[c.col].Note = note
		if note != "" {
			d.byField[field].compose = true
		}
	}
	// Say how the several sources of one field combine.
	for _, t := range d.byField {
		if len(t.sources) < 2 || t.compose {
			continue
		}
		for i, c := range t.sources {
			switch {
			case t.list:
				d.cols[c].Note = fmt.Sprintf("all values of %d columns", len(t.sources))
			case i == 0:
				d.cols[c].Note = fmt.Sprintf("first non-empty of %d columns, in this order", len(t.sources))
			default:
				d.cols[c].Note = fmt.Sprintf("used when the %d before it are empty", i)
			}
		}
	}
}

// fieldFor is the schema field a role goes to, "" if none.
func (d *decider) fieldFor(k roleKind) string {
	for _, name := range roleFields[k] {
		if f, ok := d.s.FieldFor(name); ok {
			return f.Name
		}
	}
	switch k {
	case roleEmail, rolePhone:
		want := schema.TypeEmail
		if k == rolePhone {
			want = schema.TypePhone
		}
		for _, f := range d.s.Fields {
			if f.Type == want || (f.Type == schema.TypeList && f.ItemType == want) {
				return f.Name
			}
		}
	}
	return ""
}

func (d *decider) plan(exp *export, header []string) *Plan {
	p := &Plan{report: Report{Columns: d.cols, Ignored: []string{}}}
	if exp != nil {
		p.report.Export = exp.name
	}
	for _, f := range d.order {
		p.targets = append(p.targets, *d.byField[f])
	}
	for c, col := range d.cols {
		if col.Field == "" && strings.TrimSpace(header[c]) != "" {
			p.report.Ignored = append(p.report.Ignored, header[c])
		}
	}
	return p
}

// Missing lists the fields a row always needs (required, the key) that no
// column provides: a file without them cannot be imported.
func (p *Plan) Missing(s *schema.Schema, key string) []string {
	var out []string
	has := map[string]bool{}
	for _, t := range p.targets {
		has[t.field] = true
	}
	for _, f := range s.Fields {
		if (f.Required || f.Name == key) && !has[f.Name] && len(f.Default) == 0 {
			out = append(out, f.Name)
		}
	}
	return out
}
