package writer

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// An update's before-image holds the old value of every field it sets or
// clears ($unset, empty_means_clear), typed as the schema stores it (a
// number read back as JSON is an int64 again), and names the fields it
// adds, which an undo removes.
func TestBeforeImages(t *testing.T) {
	sch, err := schema.Parse([]byte(`{"name": "people", "fields": [{"name": "email", "type": "email"}, {"name": "name", "type": "string"},
		{"name": "age", "type": "int"}, {"name": "company", "type": "string"}], "keys": ["email"]}`))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]*reconcile.Existing{"email:a@x.io": {Fields: map[string]any{"email": "a@x.io", "name": "Ann", "age": json.Number("40"), "company": "A"}}}
	ups := []store.FieldUpdate{
		{ID: "email:a@x.io", Set: map[string]any{"name": "Ann B", "age": int64(41)}, Unset: []string{"company"}, Stamp: reconcile.Stamp{Import: "imp_b", Row: 3}},
		{ID: "email:gone@x.io", Set: map[string]any{"name": "never read"}}, // no record read: no image
	}
	found["email:a@x.io"].Fields["note"] = nil // an explicit null is a value to restore
	ups[0].Set["note"] = "now set"
	ups[0].Set["phone"] = "+12015550123" // absent before: removed by an undo
	got := beforeImages("t", "people", "imp_b", sch, ups, found)
	want := []store.BeforeImage{{Tenant: "t", Import: "imp_b", Schema: "people", Record: "email:a@x.io", Row: 3, Kind: store.ImageUpdated,
		Set: map[string]any{"name": "Ann", "age": int64(40), "company": "A", "note": nil}, Unset: []string{"phone"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("beforeImages = %+v\nwant %+v", got, want)
	}
}
