package envelope

// This test keeps the Go envelope types and the JSON Schemas in
// schemas/envelope in step: examples of every type must validate against its
// schema, the schema must declare exactly the type's JSON fields (required
// exactly when not omitempty), documents that break the contract must be
// rejected, and the examples must survive a JSON round trip.
//
// Validation uses a small JSON Schema subset implemented below rather than a
// library, so that the pkg module gets no dependency for a test. loadSchema
// rejects any keyword outside that subset, so a schema cannot quietly rely on
// a keyword this validator would ignore.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/mapping"
)

// schemaDir is where the schemas module keeps the envelope schemas, relative
// to this package's directory (go test runs in it).
const schemaDir = "../../schemas/envelope"

const (
	draft2020 = "https://json-schema.org/draft/2020-12/schema"
	idPrefix  = "https://intake.dev/schemas/envelope/"
)

// envelopeSpec ties a schema file to examples of its Go type.
type envelopeSpec struct {
	schema   string         // file name in schemaDir, without .json
	subjects []string       // subjects the schema's description must name
	full     any            // every field set at every level, optional ones included
	minimal  any            // required fields only
	more     map[string]any // other shapes the services publish
}

// examples returns all examples of s by name.
func (s envelopeSpec) examples() map[string]any {
	ex := map[string]any{"full": s.full, "minimal": s.minimal}
	for name, v := range s.more {
		ex[name] = v
	}
	return ex
}

// exampleTime is in UTC, as the services stamp messages: a time in another
// location would not unmarshal to a reflect.DeepEqual value.
var exampleTime = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

func intPtr(n int) *int { return &n }

func fullOptions() Options {
	email := "email"
	return Options{Schema: "contacts", Mode: ModeUpsert, Key: "email", DryRun: true, EmptyMeansClear: true,
		Mapping:    mapping.Given{"E-mail 1 - Value": &email, "Notes": nil},
		DateFormat: "dmy", DateFormats: map[string]string{"birthday": "dmy"},
		Warnings: []Warning{{Field: "birthday", Code: WarnAmbiguousDate, Message: "birthday: no value tells the day-month order"}}}
}

func fullMappingReport() *mapping.Report {
	return &mapping.Report{
		Export: "Google Contacts",
		Columns: []mapping.Column{
			{Column: "E-mail 1 - Value", Field: "email", Reason: mapping.ReasonKnownExport, Export: "Google Contacts", Note: "first non-empty of 2 columns, in this order"},
		},
		Ignored: []string{"Notes"},
	}
}

func minimalOptions() Options { return Options{Schema: "contacts", Mode: ModeInsert} }

// envelopeSpecs builds fresh examples on every call. Required slices and maps
// of the minimal examples are empty rather than nil: nil marshals as null,
// which the schemas reject (except for a raw row's cells, see below).
func envelopeSpecs() []envelopeSpec {
	full, minimal := fullOptions(), minimalOptions()
	return []envelopeSpec{
		{
			schema:   "row-chunk",
			subjects: []string{"intake.rows.<tenant>.<import>"},
			full: RowChunk{
				Tenant: "acme", Import: "imp_5q2k8v3m1x", Chunk: 3, Options: full,
				Header: []string{"Name", "E-mail", "Phone", "Company"},
				Rows: []RawRow{{
					Row:   2,
					Cells: []string{"Ann Lee", "ann@example.com", "+1 555 0100", "Example Inc"},
					Error: "a cell is longer than 1048576 bytes",
				}},
			},
			minimal: RowChunk{
				Tenant: "a", Import: "b", Options: minimal,
				Header: []string{},
				Rows:   []RawRow{{Row: 1, Cells: []string{}}},
			},
			more: map[string]any{
				// The CSV reader gives no cells for a row it cannot parse, so
				// ingest publishes "cells": null next to the error.
				"unparsable row": RowChunk{
					Tenant: "acme", Import: "imp_5q2k8v3m1x", Options: minimal,
					Header: []string{"Name", "E-mail"},
					Rows: []RawRow{
						{Row: 2, Cells: []string{"Ann Lee", "ann@example.com"}},
						{Row: 3, Error: `malformed CSV: extraneous or missing " in quoted-field`},
						{Row: 4, Cells: []string{"ragged"}},
					},
				},
			},
		},
		{
			schema:   "record-chunk",
			subjects: []string{"intake.valid.<tenant>.<import>", "intake.unique.<tenant>.<import>"},
			full: RecordChunk{
				Tenant: "acme", Import: "imp_5q2k8v3m1x", Chunk: 3, Options: full, HandlesDeferred: true,
				Records: []Record{{
					Row: 2, Key: "email:ann@example.com",
					// Values as encoding/json decodes them (float64, []any,
					// map[string]any), so that the round trip is DeepEqual.
					Fields: map[string]any{
						"name": "Ann Lee", "email": "ann@example.com", "score": 4.5,
						"active": true, "notes": nil, "tags": []any{"vip"},
						"address": map[string]any{"city": "Oslo"},
					},
					Clear:   []string{"company"},
					Handles: []string{"email:ann@example.com"},
				}},
			},
			minimal: RecordChunk{
				Tenant: "a", Import: "b", Options: minimal,
				Records: []Record{{Row: 1, Fields: map[string]any{}}},
			},
		},
		{
			schema:   "accounting",
			subjects: []string{"intake.outcomes.<tenant>.<import>"},
			full: Accounting{
				Kind: KindOutcomes, Tenant: "acme", Import: "imp_5q2k8v3m1x",
				Stage: StageValidate, Chunk: 3, Options: &full, Source: "contacts.csv", ReplayOf: "imp_0a1b2c3d",
				Total: intPtr(2), Reason: "the file could not be read to the end", Mapping: fullMappingReport(),
				Outcomes: []Outcome{{
					Row: 3, Result: Failed,
					Problems: []Problem{{Field: "email", Code: CodeValidation, Message: `email: "ann@" is not an email address`}},
				}},
				At: exampleTime,
			},
			minimal: Accounting{Kind: KindOpened, Tenant: "a", Import: "b", At: exampleTime},
			more: map[string]any{
				"opened": Accounting{Kind: KindOpened, Tenant: "acme", Import: "imp_5q2k8v3m1x", Options: &minimal, Source: "contacts.csv", At: exampleTime},
				"opened with a mapping": Accounting{Kind: KindOpened, Tenant: "acme", Import: "imp_5q2k8v3m1x", Options: &full, Source: "google.csv", At: exampleTime,
					Mapping: &mapping.Report{Columns: []mapping.Column{{Column: "Email", Field: "email", Reason: mapping.ReasonExact}, {Column: "Notes", Reason: mapping.ReasonIgnored}}, Ignored: []string{"Notes"}}},
				// platform.OutcomeOutput leaves At at the zero time.
				"outcomes": Accounting{
					Kind: KindOutcomes, Tenant: "acme", Import: "imp_5q2k8v3m1x", Stage: StageWrite,
					Outcomes: []Outcome{{Row: 2, Result: Created}, {Row: 3, Result: Updated}, {Row: 4, Result: Skipped, Problems: []Problem{{Field: "email", Code: CodeUnchanged, Message: "unchanged: the record already has these values"}}}},
				},
				"dead letter": Accounting{
					Kind: KindOutcomes, Tenant: "acme", Import: "imp_5q2k8v3m1x", Stage: "dead-" + StageValidate, Chunk: 7,
					Outcomes: FailedRows([]int{2, 3}, CodeDeadLetter, "could not be validated: timeout"),
				},
				"sealed empty": Accounting{Kind: KindSealed, Tenant: "acme", Import: "imp_5q2k8v3m1x", Total: intPtr(0), At: exampleTime},
				"expire":       Accounting{Kind: KindExpire, Tenant: "acme", Import: "imp_5q2k8v3m1x", At: exampleTime},
				"cancel":       Accounting{Kind: KindCancel, Tenant: "acme", Import: "imp_5q2k8v3m1x", At: exampleTime},
				"unreadable":   Accounting{Kind: KindUnreadable, Tenant: "acme", Import: "imp_5q2k8v3m1x", Reason: "a message of rows could not be read (stream sequence 7: malformed row chunk)", At: exampleTime},
			},
		},
		{
			schema:   "event",
			subjects: []string{"intake.events.<tenant>.<import>"},
			full: Event{
				Type: EventFailed, Tenant: "acme", Import: "imp_5q2k8v3m1x", Options: &full,
				Total: intPtr(10), Counts: &Counts{Created: 1, Updated: 2, Skipped: 3, Failed: 4},
				Reason: "the file could not be read to the end", At: exampleTime,
			},
			minimal: Event{Type: EventOpened, Tenant: "a", Import: "b", At: exampleTime},
			more: map[string]any{
				"completed empty": Event{Type: EventCompleted, Tenant: "acme", Import: "imp_5q2k8v3m1x", Total: intPtr(0), Counts: &Counts{}, At: exampleTime},
			},
		},
	}
}

// TestEnvelopeSchemasWellFormed checks what the validator does not: the
// schemas' identity, their documentation, and that every object is closed.
func TestEnvelopeSchemasWellFormed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk, tested []string
	for _, f := range files {
		onDisk = append(onDisk, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	for _, spec := range envelopeSpecs() {
		tested = append(tested, spec.schema)
	}
	sort.Strings(onDisk)
	sort.Strings(tested)
	if !slices.Equal(onDisk, tested) {
		t.Errorf("schemas in %s: %v; schemas with examples in this test: %v", schemaDir, onDisk, tested)
	}

	for _, spec := range envelopeSpecs() {
		t.Run(spec.schema, func(t *testing.T) {
			s := loadSchema(t, spec.schema)
			wantString := func(key, want string) {
				if got, _ := s.root[key].(string); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			wantString("$schema", draft2020)
			wantString("$id", idPrefix+spec.schema+".json")
			wantString("type", "object")
			if title, _ := s.root["title"].(string); title == "" {
				t.Error("no title")
			}
			desc, _ := s.root["description"].(string)
			for _, subj := range spec.subjects {
				if !strings.Contains(desc, subj) {
					t.Errorf("description does not name the subject %s", subj)
				}
			}
			s.walk(s.root, "#", func(m map[string]any, path string) {
				props, ok := m["properties"].(map[string]any)
				if !ok {
					return
				}
				if m["type"] != "object" {
					t.Errorf("%s: has properties but type %v, want object", path, m["type"])
				}
				if m["additionalProperties"] != false {
					t.Errorf("%s: additionalProperties must be false so that publishers learn of a misspelt field", path)
				}
				for name, p := range props {
					pm, _ := p.(map[string]any)
					if d, _ := pm["description"].(string); d == "" {
						t.Errorf("%s/properties/%s: no description", path, name)
					}
				}
			})
		})
	}
}

func TestEnvelopeExamplesValidate(t *testing.T) {
	for _, spec := range envelopeSpecs() {
		s := loadSchema(t, spec.schema)
		for name, v := range spec.examples() {
			t.Run(spec.schema+"/"+name, func(t *testing.T) {
				data, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if errs := s.validateJSON(t, data); len(errs) > 0 {
					t.Errorf("%s\ndoes not validate:\n  %s", data, strings.Join(errs, "\n  "))
				}
			})
		}
	}
}

// TestEnvelopeSchemasMatchGoTypes checks the direction validation cannot: that
// the schema declares no property the Go type lacks, and requires exactly the
// fields Go always writes.
func TestEnvelopeSchemasMatchGoTypes(t *testing.T) {
	for _, spec := range envelopeSpecs() {
		t.Run(spec.schema, func(t *testing.T) {
			s := loadSchema(t, spec.schema)
			s.matchGoType(t, s.root, reflect.TypeOf(spec.full), "")

			// The same from the marshalled document: this also catches a
			// field the fully populated example forgot to set.
			data, err := json.Marshal(spec.full)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := decodeJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			s.matchKeys(t, s.root, doc, "")
		})
	}
}

// TestEnvelopeEnumsMatchConstants keeps the schemas' enums equal to the Go
// constants the services use.
func TestEnvelopeEnumsMatchConstants(t *testing.T) {
	modes := []string{ModeInsert, ModeUpsert, ModeUpdate, ModeReplace}
	tests := []struct {
		schema, path string
		want         []string
	}{
		{"row-chunk", "$defs/options/properties/mode", modes},
		{"record-chunk", "$defs/options/properties/mode", modes},
		{"accounting", "$defs/options/properties/mode", modes},
		{"event", "$defs/options/properties/mode", modes},
		{"accounting", "properties/kind", []string{KindOpened, KindOutcomes, KindSealed, KindExpire, KindCancel, KindUnreadable}},
		{"accounting", "$defs/outcome/properties/result", []string{Created, Updated, Skipped, Failed}},
		{"accounting", "$defs/problem/properties/code", Codes()},
		{"accounting", "$defs/mappedColumn/properties/reason", []string{mapping.ReasonGiven, mapping.ReasonExact, mapping.ReasonAlias, mapping.ReasonKnownExport, mapping.ReasonIgnored}},
		{"event", "properties/type", []string{EventOpened, EventSealed, EventCompleted, EventFailed, EventCancelled}},
	}
	for _, tt := range tests {
		s := loadSchema(t, tt.schema)
		p, err := lookup(s.root, tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.schema, err)
			continue
		}
		enum, _ := p.(map[string]any)["enum"].([]any)
		var got []string
		for _, e := range enum {
			str, _ := e.(string)
			got = append(got, str)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: enum %q, want %q", tt.schema, tt.path, got, tt.want)
		}
	}
}

func TestEnvelopeSchemasReject(t *testing.T) {
	set := func(key string, v any) func(map[string]any) {
		return func(m map[string]any) { m[key] = v }
	}
	del := func(key string) func(map[string]any) {
		return func(m map[string]any) { delete(m, key) }
	}
	type rejectCase struct {
		name   string
		path   string // object to change, slash-separated from the root
		change func(map[string]any)
		want   string // part of the expected error
	}
	// Every schema rejects these.
	common := []rejectCase{
		{"unknown property", "", set("extra", "x"), `unknown property "extra"`},
		{"misspelt property", "", func(m map[string]any) { m["Tenant"] = m["tenant"]; delete(m, "tenant") }, `unknown property "Tenant"`},
		{"missing tenant", "", del("tenant"), `missing required property "tenant"`},
		{"missing import", "", del("import"), `missing required property "import"`},
		{"tenant with a space", "", set("tenant", "acme corp"), "does not match"},
		{"tenant with a dot", "", set("tenant", "acme.eu"), "does not match"},
		{"empty tenant", "", set("tenant", ""), "does not match"},
		{"import too long", "", set("import", strings.Repeat("i", 65)), "does not match"},
		{"tenant not a string", "", set("tenant", json.Number("42")), "want type string"},
	}
	specific := map[string][]rejectCase{
		"row-chunk": {
			{"bad mode", "options", set("mode", "merge"), "is not one of"},
			{"missing schema option", "options", del("schema"), `missing required property "schema"`},
			{"unknown option", "options", set("dryrun", true), `unknown property "dryrun"`},
			{"missing chunk", "", del("chunk"), `missing required property "chunk"`},
			{"negative chunk", "", set("chunk", json.Number("-1")), "less than the minimum"},
			{"fractional chunk", "", set("chunk", json.Number("1.5")), "want type integer"},
			{"mapping to a number", "options/mapping", set("Notes", json.Number("1")), "want type string or null"},
			{"null header", "", set("header", nil), "want type array"},
			{"unknown row property", "rows/0", set("line", json.Number("2")), `unknown property "line"`},
			{"row 0", "rows/0", set("row", json.Number("0")), "less than the minimum"},
			{"missing cells", "rows/0", del("cells"), `missing required property "cells"`},
			{"numeric cell", "rows/0", set("cells", []any{json.Number("1")}), "want type string"},
		},
		"record-chunk": {
			{"bad mode", "options", set("mode", "Upsert"), "is not one of"},
			{"missing records", "", del("records"), `missing required property "records"`},
			{"missing key", "records/0", del("key"), `missing required property "key"`},
			{"fields not an object", "records/0", set("fields", "name=Ann"), "want type object"},
		},
		"accounting": {
			{"bad kind", "", set("kind", "closed"), "is not one of"},
			{"missing at", "", del("at"), `missing required property "at"`},
			{"negative total", "", set("total", json.Number("-1")), "less than the minimum"},
			{"bad result", "outcomes/0", set("result", "ok"), "is not one of"},
			{"missing problem message", "outcomes/0/problems/0", del("message"), `missing required property "message"`},
			{"bad mapping reason", "mapping/columns/0", set("reason", "guessed"), "is not one of"},
			{"mapping column without a header", "mapping/columns/0", del("column"), `missing required property "column"`},
		},
		"event": {
			{"bad type", "", set("type", "started"), "is not one of"},
			{"missing type", "", del("type"), `missing required property "type"`},
			{"count as string", "counts", set("created", "1"), "want type integer"},
			{"missing count", "counts", del("failed"), `missing required property "failed"`},
			{"unknown count", "counts", set("duplicates", json.Number("1")), `unknown property "duplicates"`},
		},
	}

	for _, spec := range envelopeSpecs() {
		s := loadSchema(t, spec.schema)
		data, err := json.Marshal(spec.full)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range slices.Concat(common, specific[spec.schema]) {
			t.Run(spec.schema+"/"+tc.name, func(t *testing.T) {
				doc, err := decodeJSON(data) // a fresh copy to change
				if err != nil {
					t.Fatal(err)
				}
				obj, err := lookup(doc, tc.path)
				if err != nil {
					t.Fatal(err)
				}
				m, ok := obj.(map[string]any)
				if !ok {
					t.Fatalf("%s is not an object", tc.path)
				}
				tc.change(m)
				errs := s.validate(doc)
				if len(errs) == 0 {
					changed, _ := json.Marshal(doc)
					t.Fatalf("%s\nvalidates, want an error", changed)
				}
				if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
					t.Errorf("errors:\n  %s\nwant one containing %q", strings.Join(errs, "\n  "), tc.want)
				}
			})
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, spec := range envelopeSpecs() {
		for name, v := range spec.examples() {
			t.Run(spec.schema+"/"+name, func(t *testing.T) {
				data, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				ptr := reflect.New(reflect.TypeOf(v))
				if err := json.Unmarshal(data, ptr.Interface()); err != nil {
					t.Fatal(err)
				}
				if got := ptr.Elem().Interface(); !reflect.DeepEqual(got, v) {
					t.Errorf("%s\nunmarshals to\n  %#v\nwant\n  %#v", data, got, v)
				}
			})
		}
	}
}

// --- Schema against Go type ---

// matchGoType checks that schema sch describes Go type typ: the JSON types
// agree and, for a struct, the schema's properties are exactly the struct's
// JSON fields, required exactly when the field is not omitempty.
func (s *jsonSchema) matchGoType(t *testing.T, sch any, typ reflect.Type, path string) {
	t.Helper()
	m, ok := sch.(map[string]any)
	if !ok {
		return // a boolean schema says nothing about the type
	}
	if ref, ok := m["$ref"].(string); ok {
		target, err := s.resolve(ref)
		if err != nil {
			t.Errorf("%s: %v", pathOrRoot(path), err)
			return
		}
		// The envelope schemas give a $ref only a description next to it.
		s.matchGoType(t, target, typ, path)
		return
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if want := goJSONType(typ); want != "" && !slices.Contains(schemaTypes(m), want) {
		t.Errorf("%s: schema type %v, but Go type %s marshals to %s", pathOrRoot(path), m["type"], typ, want)
		return
	}
	switch {
	case typ.Kind() == reflect.Slice:
		if items, ok := m["items"]; ok {
			s.matchGoType(t, items, typ.Elem(), path+"/0")
		}
	case typ.Kind() == reflect.Struct && typ != timeType:
		props, ok := m["properties"].(map[string]any)
		if !ok {
			t.Errorf("%s: Go type %s is a struct but the schema declares no properties", pathOrRoot(path), typ)
			return
		}
		fields, err := jsonFields(typ)
		if err != nil {
			t.Errorf("%s: %v", pathOrRoot(path), err)
			return
		}
		required := map[string]bool{}
		for _, r := range asSlice(m["required"]) {
			required[r.(string)] = true
		}
		for _, name := range sortedKeys(props) {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s: schema property %q is not a JSON field of %s", pathOrRoot(path), name, typ)
			}
		}
		for _, name := range sortedKeys(fields) {
			f := fields[name]
			p, ok := props[name]
			if !ok {
				t.Errorf("%s: %s.%s (JSON %q) is missing from the schema", pathOrRoot(path), typ, f.goName, name)
				continue
			}
			switch {
			case f.optional && required[name]:
				t.Errorf("%s: %q is required by the schema but omitempty in %s", pathOrRoot(path), name, typ)
			case !f.optional && !required[name]:
				t.Errorf("%s: %q is always written by %s but optional in the schema", pathOrRoot(path), name, typ)
			}
			s.matchGoType(t, p, f.typ, path+"/"+name)
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

// goJSONType is the JSON Schema type encoding/json writes for typ, or "" when
// that depends on the value (interfaces).
func goJSONType(typ reflect.Type) string {
	if typ == timeType {
		return "string" // RFC 3339, by time.Time's MarshalJSON
	}
	switch typ.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 {
			return "string" // base64
		}
		return "array"
	case reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

type jsonField struct {
	goName   string
	typ      reflect.Type
	optional bool // omitempty or omitzero: the field may be left out
}

// jsonFields returns the JSON fields of struct type typ by JSON name.
func jsonFields(typ reflect.Type) (map[string]jsonField, error) {
	fields := map[string]jsonField{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		if f.Anonymous {
			// encoding/json would promote its fields; the envelopes have none.
			return nil, fmt.Errorf("%s: embedded field %s is not supported by this test", typ, f.Name)
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		optional := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		fields[name] = jsonField{goName: f.Name, typ: f.Type, optional: optional}
	}
	return fields, nil
}

// matchKeys checks that doc, marshalled from a fully populated value, has
// exactly the properties sch declares, at every level where the schema
// declares properties (free-form objects such as a record's fields are not
// looked into).
func (s *jsonSchema) matchKeys(t *testing.T, sch any, doc any, path string) {
	t.Helper()
	m, err := s.deref(sch)
	if err != nil {
		t.Errorf("%s: %v", pathOrRoot(path), err)
		return
	}
	switch d := doc.(type) {
	case map[string]any:
		props, ok := m["properties"].(map[string]any)
		if !ok {
			return
		}
		for _, name := range sortedKeys(props) {
			v, ok := d[name]
			if !ok {
				t.Errorf("%s: schema property %q is not in the fully populated example", pathOrRoot(path), name)
				continue
			}
			s.matchKeys(t, props[name], v, path+"/"+name)
		}
		for _, name := range sortedKeys(d) {
			if _, ok := props[name]; !ok {
				t.Errorf("%s: JSON field %q is not a schema property", pathOrRoot(path), name)
			}
		}
	case []any:
		items, ok := m["items"]
		if !ok {
			return
		}
		if len(d) == 0 {
			t.Errorf("%s: empty array in the fully populated example", pathOrRoot(path))
		}
		for i, e := range d {
			s.matchKeys(t, items, e, path+"/"+strconv.Itoa(i))
		}
	}
}

// --- A JSON Schema subset ---

// Keywords the validator applies, and keywords it accepts but ignores because
// they only document or hold definitions.
var (
	appliedKeywords    = []string{"$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "pattern", "minimum"}
	annotationKeywords = []string{"$schema", "$id", "$defs", "title", "description", "format"}
	typeNames          = []string{"null", "boolean", "object", "array", "number", "integer", "string"}
)

// jsonSchema is a loaded schema document. Numbers in it, as in the documents
// it validates, are json.Number, so that integers are told from other numbers
// exactly.
type jsonSchema struct {
	name     string
	root     map[string]any
	patterns map[string]*regexp.Regexp
}

// loadSchema reads schemaDir/name.json and checks that it uses only the subset
// of JSON Schema implemented here.
func loadSchema(t *testing.T, name string) *jsonSchema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(schemaDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decodeJSON(data)
	if err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("%s.json: not an object", name)
	}
	s := &jsonSchema{name: name, root: root, patterns: map[string]*regexp.Regexp{}}
	if err := s.compile(); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return s
}

// compile checks every subschema for unsupported keywords, malformed values
// and dangling references, and compiles the patterns.
func (s *jsonSchema) compile() error {
	var errs []error
	s.walk(s.root, "#", func(m map[string]any, path string) {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
		}
		for _, k := range sortedKeys(m) {
			if !slices.Contains(appliedKeywords, k) && !slices.Contains(annotationKeywords, k) {
				fail("keyword %q is not supported by this test's validator", k)
			}
		}
		if ref, ok := m["$ref"]; ok {
			str, _ := ref.(string)
			if _, err := s.resolve(str); err != nil {
				fail("%v", err)
			}
		}
		if typ, ok := m["type"]; ok {
			types := schemaTypes(m)
			if len(types) == 0 {
				fail("type %v is neither a name nor a list of names", typ)
			}
			for _, name := range types {
				if !slices.Contains(typeNames, name) {
					fail("unknown type %q", name)
				}
			}
		}
		props, _ := m["properties"].(map[string]any)
		if p, ok := m["properties"]; ok && props == nil {
			fail("properties %v is not an object", p)
		}
		for _, r := range asSlice(m["required"]) {
			name, ok := r.(string)
			if _, declared := props[name]; !ok || !declared {
				fail("required %v is not a declared property", r)
			}
		}
		if e, ok := m["enum"]; ok && len(asSlice(e)) == 0 {
			fail("enum must be a non-empty array")
		}
		if p, ok := m["pattern"]; ok {
			str, _ := p.(string)
			re, err := regexp.Compile(str)
			if err != nil {
				fail("pattern: %v", err)
			}
			s.patterns[str] = re
		}
		if minimum, ok := m["minimum"]; ok {
			if _, isNum := minimum.(json.Number); !isNum {
				fail("minimum %v is not a number", minimum)
			}
		}
	})
	return errors.Join(errs...)
}

// walk calls fn for every object subschema of sch, sch included.
func (s *jsonSchema) walk(sch any, path string, fn func(m map[string]any, path string)) {
	m, ok := sch.(map[string]any)
	if !ok {
		return
	}
	fn(m, path)
	for _, container := range []string{"properties", "$defs"} {
		sub, _ := m[container].(map[string]any)
		for _, name := range sortedKeys(sub) {
			s.walk(sub[name], path+"/"+container+"/"+name, fn)
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub, ok := m[k]; ok {
			s.walk(sub, path+"/"+k, fn)
		}
	}
}

// resolve returns the definition a "#/$defs/<name>" reference points to, the
// only form of $ref the envelope schemas need.
func (s *jsonSchema) resolve(ref string) (any, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("$ref %q: only #/$defs/<name> is supported", ref)
	}
	defs, _ := s.root["$defs"].(map[string]any)
	def, ok := defs[name]
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", ref)
	}
	return def, nil
}

// deref follows $ref until it reaches a schema without one.
func (s *jsonSchema) deref(sch any) (map[string]any, error) {
	for range 10 {
		m, _ := sch.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		var err error
		if sch, err = s.resolve(ref); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("$ref chain too long")
}

// validateJSON validates a JSON document.
func (s *jsonSchema) validateJSON(t *testing.T, data []byte) []string {
	t.Helper()
	doc, err := decodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	return s.validate(doc)
}

// validate validates a decoded document (see decodeJSON) and returns every
// violation found, each prefixed with the JSON Pointer of the value.
func (s *jsonSchema) validate(doc any) []string {
	var errs []string
	s.check(s.root, doc, "", &errs)
	return errs
}

func (s *jsonSchema) check(sch any, v any, path string, errs *[]string) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, pathOrRoot(path)+": "+fmt.Sprintf(format, args...))
	}
	if b, ok := sch.(bool); ok {
		if !b {
			fail("no value is allowed here")
		}
		return
	}
	m, ok := sch.(map[string]any)
	if !ok {
		fail("schema %v is neither an object nor a boolean", sch)
		return
	}

	if ref, ok := m["$ref"].(string); ok {
		target, err := s.resolve(ref)
		if err != nil {
			fail("%v", err)
			return
		}
		s.check(target, v, path, errs)
	}
	if _, ok := m["type"]; ok {
		types := schemaTypes(m)
		if !slices.ContainsFunc(types, func(name string) bool { return hasType(v, name) }) {
			fail("%s, want type %s", describe(v), strings.Join(types, " or "))
			return // the other keywords would only repeat the mismatch
		}
	}
	if enum, ok := m["enum"]; ok {
		if !slices.ContainsFunc(asSlice(enum), func(e any) bool { return reflect.DeepEqual(e, v) }) {
			fail("%s is not one of %v", describe(v), enum)
		}
	}
	if p, ok := m["pattern"].(string); ok {
		if str, isString := v.(string); isString && !s.patterns[p].MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	}
	if minimum, ok := m["minimum"].(json.Number); ok {
		if n, isNum := v.(json.Number); isNum && numberLess(n, minimum) {
			fail("%s is less than the minimum %s", n, minimum)
		}
	}

	switch v := v.(type) {
	case map[string]any:
		for _, r := range asSlice(m["required"]) {
			if _, ok := v[r.(string)]; !ok {
				fail("missing required property %q", r)
			}
		}
		props, _ := m["properties"].(map[string]any)
		for _, name := range sortedKeys(v) {
			if p, ok := props[name]; ok {
				s.check(p, v[name], path+"/"+name, errs)
				continue
			}
			ap, ok := m["additionalProperties"]
			switch {
			case !ok:
			case ap == false:
				fail("unknown property %q", name)
			default:
				s.check(ap, v[name], path+"/"+name, errs)
			}
		}
	case []any:
		if items, ok := m["items"]; ok {
			for i, e := range v {
				s.check(items, e, path+"/"+strconv.Itoa(i), errs)
			}
		}
	}
}

// hasType reports whether decoded JSON value v is of JSON Schema type name.
func hasType(v any, name string) bool {
	switch v := v.(type) {
	case nil:
		return name == "null"
	case bool:
		return name == "boolean"
	case string:
		return name == "string"
	case map[string]any:
		return name == "object"
	case []any:
		return name == "array"
	case json.Number:
		// JSON Schema counts 2.0 as an integer, like 2.
		return name == "number" || name == "integer" && isInteger(v)
	}
	return false
}

func isInteger(n json.Number) bool {
	if _, err := n.Int64(); err == nil {
		return true
	}
	f, err := n.Float64()
	return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
}

func numberLess(a, b json.Number) bool {
	fa, errA := a.Float64()
	fb, errB := b.Float64()
	return errA == nil && errB == nil && fa < fb
}

// schemaTypes returns the type names of a schema's "type", a name or a list.
func schemaTypes(m map[string]any) []string {
	switch typ := m["type"].(type) {
	case string:
		return []string{typ}
	case []any:
		var names []string
		for _, t := range typ {
			if name, ok := t.(string); ok {
				names = append(names, name)
			}
		}
		return names
	}
	return nil
}

// describe shows a value in an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%v", v)
}

// --- JSON helpers ---

// decodeJSON decodes one JSON value, numbers as json.Number.
func decodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// lookup returns the value at a slash-separated path of object keys and
// array indexes; "" is the root.
func lookup(doc any, path string) (any, error) {
	if path == "" {
		return doc, nil
	}
	v := doc
	for _, seg := range strings.Split(path, "/") {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[seg]
			if !ok {
				return nil, fmt.Errorf("%s: no %q", path, seg)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%s: no element %q", path, seg)
			}
			v = c[i]
		default:
			return nil, fmt.Errorf("%s: cannot look into %s at %q", path, describe(v), seg)
		}
	}
	return v, nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func pathOrRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}
