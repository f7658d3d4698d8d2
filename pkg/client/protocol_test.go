package client

// The JSON Schemas in schemas/protocol document the protocol for publishers
// in any language; this test keeps them in step with the Go types: every
// object is closed and documented, declares exactly the type's JSON fields,
// requires exactly those that are always written, and has matching types.

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
)

const protocolDir = "../../schemas/protocol"

var protocolTypes = map[string]reflect.Type{
	"open-request":    reflect.TypeFor[OpenRequest](),
	"open-reply":      reflect.TypeFor[OpenReply](),
	"seal-request":    reflect.TypeFor[SealRequest](),
	"seal-reply":      reflect.TypeFor[SealReply](),
	"summary-request": reflect.TypeFor[SummaryRequest](),
	"summary":         reflect.TypeFor[SummaryReply](),
	"error-reply":     reflect.TypeFor[ErrorReply](),
}

func TestProtocolSchemasMatchTypes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(protocolDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	var want []string
	for n := range protocolTypes {
		want = append(want, n)
	}
	sort.Strings(want)
	sort.Strings(names)
	if !slices.Equal(names, want) {
		t.Fatalf("schemas %v, want one per protocol message %v", names, want)
	}
	for name, typ := range protocolTypes {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(protocolDir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var root map[string]any
			if err := json.Unmarshal(data, &root); err != nil {
				t.Fatal(err)
			}
			if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" || root["$id"] != "https://intake.dev/schemas/protocol/"+name+".json" {
				t.Errorf("$schema %v, $id %v", root["$schema"], root["$id"])
			}
			for _, k := range []string{"title", "description"} {
				if s, _ := root[k].(string); s == "" {
					t.Errorf("no %s", k)
				}
			}
			m := matcher{t: t, root: root}
			m.match(root, typ, "")
		})
	}
}

func TestProtocolEnums(t *testing.T) {
	modes := []any{envelope.ModeInsert, envelope.ModeUpsert, envelope.ModeUpdate, envelope.ModeReplace}
	for _, tt := range []struct {
		file, path string
		want       []any
	}{
		{"open-request", "properties/mode", modes},
		{"open-reply", "$defs/options/properties/mode", modes},
		{"summary", "properties/mode", append(modes[:4:4], ModeUndo)},
		{"summary", "properties/status", []any{StatusProcessing, StatusCompleted, StatusFailed, StatusCancelled}},
		{"error-reply", "properties/code", []any{float64(CodeBadRequest), float64(CodeNotFound), float64(CodeConflict), float64(CodeUnavailable)}},
	} {
		data, err := os.ReadFile(filepath.Join(protocolDir, tt.file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(data, &v)
		for _, seg := range strings.Split(tt.path, "/") {
			v = v.(map[string]any)[seg]
		}
		if got := v.(map[string]any)["enum"]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s: enum %v, want %v", tt.file, tt.path, got, tt.want)
		}
	}
}

type matcher struct {
	t    *testing.T
	root map[string]any
}

func (m matcher) deref(s map[string]any, path string) map[string]any {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s
	}
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	defs, _ := m.root["$defs"].(map[string]any)
	def, _ := defs[name].(map[string]any)
	if !ok || def == nil {
		m.t.Fatalf("%s: dangling $ref %q", path, ref)
	}
	return def
}

var timeType = reflect.TypeFor[time.Time]()

func (m matcher) match(node any, typ reflect.Type, path string) {
	t := m.t
	t.Helper()
	s, ok := node.(map[string]any)
	if !ok {
		t.Errorf("%s: not a schema object", path)
		return
	}
	if desc, _ := s["description"].(string); desc == "" && path != "" && !strings.HasSuffix(path, "/items") {
		t.Errorf("%s: no description", path)
	}
	s = m.deref(s, path)
	nullable := false
	for typ.Kind() == reflect.Pointer {
		typ, nullable = typ.Elem(), true
	}
	want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Slice: "array", reflect.Struct: "object", reflect.Map: "object"}[typ.Kind()]
	if types, ok := s["type"].([]any); ok && nullable && len(types) == 2 && types[1] == "null" {
		s = maps.Clone(s)
		s["type"] = types[0] // a pointer may be null: ["string", "null"] for *string
	}
	if typ == timeType {
		want = "string"
		if s["format"] != "date-time" {
			t.Errorf("%s: a time without format date-time", path)
		}
	}
	if s["type"] != want {
		t.Errorf("%s: type %v, Go type %s wants %q", path, s["type"], typ, want)
		return
	}
	switch {
	case typ.Kind() == reflect.Slice:
		m.match(s["items"], typ.Elem(), path+"/items")
	case typ.Kind() == reflect.Map:
		m.match(s["additionalProperties"], typ.Elem(), path+"/items")
	case typ.Kind() == reflect.Struct && typ != timeType:
		if s["additionalProperties"] != false {
			t.Errorf("%s: object without additionalProperties: false", path)
		}
		props, _ := s["properties"].(map[string]any)
		required := map[string]bool{}
		for _, r := range s["required"].([]any) {
			required[r.(string)] = true
		}
		seen := map[string]bool{}
		for _, f := range jsonFields(typ) {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			seen[name] = true
			p, ok := props[name]
			if !ok {
				t.Errorf("%s: %s.%s (%q) missing from the schema", path, typ.Name(), f.Name, name)
				continue
			}
			if optional := strings.Contains(opts, "omitempty"); optional == required[name] {
				t.Errorf("%s: %q omitempty=%v but required=%v", path, name, optional, required[name])
			}
			m.match(p, f.Type, path+"/"+name)
		}
		for name := range props {
			if !seen[name] {
				t.Errorf("%s: schema property %q is not a JSON field of %s", path, name, typ)
			}
		}
	}
}

// jsonFields are the fields of a struct as encoding/json writes them: those
// of an untagged embedded struct in its place.
func jsonFields(typ reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for f := range typ.Fields() {
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		out = append(out, f)
	}
	return out
}
