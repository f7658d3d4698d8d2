package schema

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// everyTypeSchema has one field of every type but string.
func everyTypeSchema(t testing.TB) *Schema {
	t.Helper()
	return mustParse(t, `{"name": "t", "keys": ["email"], "fields": [
		{"name": "email", "type": "email"},
		{"name": "age", "type": "int"},
		{"name": "active", "type": "bool"},
		{"name": "price", "type": "decimal"},
		{"name": "born", "type": "date"},
		{"name": "tags", "type": "list"},
		{"name": "meta", "type": "json"},
		{"name": "tier", "type": "enum", "values": ["free", "pro"]}
	]}`)
}

func TestRestoreAfterJSON(t *testing.T) {
	s := everyTypeSchema(t)
	hm, _ := s.MapHeader([]string{"email", "age", "active", "price", "born", "tags", "meta", "tier"})
	rec, errs := s.Validate(hm, []string{"a@b.co", "9007199254740993", "yes", "12.50", "03/31/2024", "x,y", `{"n": 1, "l": [1, {"z": true}]}`, "PRO"}, "email")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]any{"email": "a@b.co", "age": int64(9007199254740993), "active": true, "price": "12.50", "born": "2024-03-31",
		"tags": []string{"x", "y"}, "meta": map[string]any{"n": float64(1), "l": []any{float64(1), map[string]any{"z": true}}}, "tier": "pro"}
	if !reflect.DeepEqual(rec, want) {
		t.Fatalf("record\n got %#v\nwant %#v", rec, want)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back["age"].(float64); !ok {
		t.Fatalf("after JSON age is %T", back["age"])
	}
	got := s.Restore(back)
	// JSON as float64 cannot hold 9007199254740993: it comes back as ...992.
	want["age"] = int64(9007199254740992)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored\n got %#v\nwant %#v", got, want)
	}
	// With UseNumber the integer survives exactly.
	dec := json.NewDecoder(bytesReader(data))
	dec.UseNumber()
	var exact map[string]any
	if err := dec.Decode(&exact); err != nil {
		t.Fatal(err)
	}
	if got := s.Restore(exact); got["age"] != int64(9007199254740993) {
		t.Errorf("restored with UseNumber: age %#v", got["age"])
	}
	// Unknown fields and nil are kept; the input is not modified.
	in := map[string]any{"other": float64(1), "age": nil, "tags": []any{"a"}}
	out := s.Restore(in)
	if out["other"] != float64(1) || out["age"] != nil || !reflect.DeepEqual(out["tags"], []string{"a"}) {
		t.Errorf("restore: %#v", out)
	}
	if _, ok := in["tags"].([]any); !ok {
		t.Error("Restore modified its input")
	}
	if s.Restore(nil) != nil {
		t.Error("Restore(nil) != nil")
	}
}

// kv and doc mimic bson.E and bson.D (an ordered document).
type kv struct {
	Key   string
	Value any
}
type doc []kv
type strList []any
type named string

func TestRestoreOtherRepresentations(t *testing.T) {
	s := everyTypeSchema(t)
	got := s.Restore(map[string]any{
		"age":    int32(42),
		"active": "TRUE",
		"price":  json.Number("12.50"),
		"born":   time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC),
		"tags":   strList{"a", int32(2)},
		"meta":   doc{{"b", int64(1)}, {"a", doc{{"c", "d"}}}},
		"tier":   named("pro"),
	})
	want := map[string]any{"age": int64(42), "active": true, "price": "12.50", "born": "2024-03-31",
		"tags": []string{"a", "2"}, "meta": map[string]any{"b": float64(1), "a": map[string]any{"c": "d"}}, "tier": "pro"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored\n got %#v\nwant %#v", got, want)
	}
	// Values that cannot be converted stay as they are.
	got = s.Restore(map[string]any{"age": "old", "active": "maybe", "tags": "a,b"})
	if got["age"] != "old" || got["active"] != "maybe" || got["tags"] != "a,b" {
		t.Errorf("unconvertible: %#v", got)
	}
}

func TestEqual(t *testing.T) {
	equal := [][2]any{
		{"a", "a"},
		{nil, nil},
		{[]string{"a", "b"}, []any{"a", "b"}},
		{[]string{"a"}, strList{"a"}},
		{int64(5), int32(5)},
		{int64(5), float64(5)},
		{int64(5), json.Number("5")},
		{int(5), uint8(5)},
		{1.5, float32(1.5)},
		{true, true},
		{map[string]any{"a": 1, "b": []any{"x"}}, map[string]any{"b": []string{"x"}, "a": int64(1)}},
		{map[string]any{"a": 1, "b": map[string]any{"c": "d"}}, doc{{"b", doc{{"c", "d"}}}, {"a", int32(1)}}},
		{map[string]any{"a": 1}, map[string]int{"a": 1}},
		{named("x"), "x"},
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600))},
		{json.RawMessage(`{"b":1,"a":2}`), map[string]any{"a": 2, "b": 1}},
	}
	for _, c := range equal {
		if !Equal(c[0], c[1]) || !Equal(c[1], c[0]) {
			t.Errorf("Equal(%#v, %#v) = false (%s vs %s)", c[0], c[1], Canonical(c[0]), Canonical(c[1]))
		}
	}
	different := [][2]any{
		{"a", "b"},
		{"5", int64(5)},
		{nil, ""},
		{[]string{"a", "b"}, []string{"b", "a"}},
		{[]string{"a"}, "a"},
		{int64(5), 5.5},
		{int64(9007199254740993), float64(9007199254740992)},
		{true, "true"},
		{true, int64(1)},
		{map[string]any{"a": 1}, map[string]any{"a": 1, "b": nil}},
		{[]string{}, nil},
		{"12.50", "12.5"},
	}
	for _, c := range different {
		if Equal(c[0], c[1]) || Equal(c[1], c[0]) {
			t.Errorf("Equal(%#v, %#v) = true", c[0], c[1])
		}
	}
}

func TestKeysOfValues(t *testing.T) {
	cases := []struct {
		rec  map[string]any
		want []string
	}{
		{map[string]any{"k": "a"}, []string{"k:a"}},
		{map[string]any{"k": int64(42)}, []string{"k:42"}},
		{map[string]any{"k": float64(42)}, []string{"k:42"}},
		{map[string]any{"k": []string{"a", "b"}}, []string{"k:a", "k:b"}},
		{map[string]any{"k": []any{"a", "b"}}, []string{"k:a", "k:b"}},
		{map[string]any{"k": strList{"a", "b"}}, []string{"k:a", "k:b"}},
		{map[string]any{"k": true}, []string{"k:true"}},
		{map[string]any{}, nil},
	}
	for _, c := range cases {
		if got := Keys("k", c.rec); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Keys(%#v) = %q, want %q", c.rec, got, c.want)
		}
	}
	if got := Key("email", map[string]any{"email": "ann@example.com"}); got != "email:ann@example.com" {
		t.Errorf("Key = %q", got)
	}
}
