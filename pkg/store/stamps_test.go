package store

import (
	"context"
	"encoding/json"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/reconcile"
)

func TestStampsReadsBothForms(t *testing.T) {
	want := reconcile.Stamp{Import: "imp_5q2k8v3m1x", Row: 42}
	for name, doc := range map[string]map[string]any{
		"flat, from the driver": {ImportField: want.Import, RowField: int64(42), CreatedImportField: want.Import, CreatedRowField: int32(42)},
		"flat, from JSON":       {ImportField: want.Import, RowField: json.Number("42"), CreatedImportField: want.Import, CreatedRowField: json.Number("42")},
		"legacy strings":        {LegacyLastField: "imp_5q2k8v3m1x/42", LegacyCreatedField: "imp_5q2k8v3m1x/42"},
		"flat beside stale legacy": {ImportField: want.Import, RowField: int64(42), LegacyLastField: "imp_old/7",
			CreatedImportField: want.Import, CreatedRowField: int64(42)},
	} {
		if last, created := Stamps(doc); last != want || created != want {
			t.Errorf("%s: Stamps = %v, %v; want %v", name, last, created, want)
		}
	}
	if last, created := Stamps(map[string]any{ImportField: "imp", RowField: "x", LegacyLastField: "nonsense"}); last != (reconcile.Stamp{}) || created != (reconcile.Stamp{}) {
		t.Errorf("malformed stamps read as %v, %v; want zero", last, created)
	}
}

// A record stored by an earlier version ("<import>/<row>" strings) is read
// with its stamps, so that a chunk redelivered across the upgrade still
// reports its first outcome; an update gives it the flat fields and drops
// the stale last-write string. On the embedded default and over the wire.
func TestLegacyStampedRecord(t *testing.T) {
	eachPath(t, "legacy", func(t *testing.T, ctx context.Context, s *Store) {
		const id = "email:ann@x.io"
		if _, err := s.Records.Collection(RecordsCollection("t", "contacts")).InsertOne(ctx, bson.D{
			{Key: "_id", Value: id}, {Key: "name", Value: "Ann"},
			{Key: LegacyLastField, Value: "imp_old/7"}, {Key: LegacyCreatedField, Value: "imp_old/7"},
			{Key: CreatedAtField, Value: bsonNow()}, {Key: UpdatedAtField, Value: bsonNow()},
		}); err != nil {
			t.Fatal(err)
		}
		old := reconcile.Stamp{Import: "imp_old", Row: 7}
		got, err := s.GetRecords(ctx, "t", "contacts", []string{id})
		if err != nil {
			t.Fatal(err)
		}
		e := got[id]
		if e == nil || e.Last != old || e.Created != old || len(e.Fields) != 1 || e.Fields["name"] != "Ann" {
			t.Fatalf("legacy record read as %+v", e)
		}
		if d, ok := reconcile.Redelivered(old, e); !ok || d.Result != "created" {
			t.Fatalf("redelivery of the creating row: %+v %v; want created", d, ok)
		}

		this := reconcile.Stamp{Import: "imp_new", Row: 3}
		if _, err := s.UpdateRecords(ctx, "t", "contacts", []FieldUpdate{{ID: id, Set: map[string]any{"name": "Ann Lee"}, Stamp: this}}); err != nil {
			t.Fatal(err)
		}
		var stored bson.M
		if err := s.Records.Collection(RecordsCollection("t", "contacts")).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&stored); err != nil {
			t.Fatal(err)
		}
		if stored[ImportField] != "imp_new" || stored[RowField] != int32(3) || stored["name"] != "Ann Lee" {
			t.Fatalf("updated record %v lacks the flat stamp", stored)
		}
		if _, stale := stored[LegacyLastField]; stale {
			t.Fatalf("updated record %v keeps the stale %s", stored, LegacyLastField)
		}
		got, err = s.GetRecords(ctx, "t", "contacts", []string{id})
		if err != nil {
			t.Fatal(err)
		}
		if e := got[id]; e.Last != this || e.Created != old {
			t.Fatalf("after the update: last %v created %v; want %v %v", e.Last, e.Created, this, old)
		}
		if d, ok := reconcile.Redelivered(this, got[id]); !ok || d.Result != "updated" {
			t.Fatalf("redelivery of the updating row: %+v %v; want updated", d, ok)
		}
	})
}

// New records carry the import and the row as separate fields, queryable
// as such, in both paths.
func TestRecordsStoreFlatStamps(t *testing.T) {
	eachPath(t, "flat", func(t *testing.T, ctx context.Context, s *Store) {
		if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{
			{ID: "email:a@x.io", Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "imp_1", Row: 2}},
			{ID: "email:b@x.io", Fields: map[string]any{"name": "B"}, Stamp: reconcile.Stamp{Import: "imp_1", Row: 3}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRecords(ctx, "t", "contacts", []FieldUpdate{{ID: "email:b@x.io", Set: map[string]any{"name": "Bee"}, Stamp: reconcile.Stamp{Import: "imp_2", Row: 2}}}); err != nil {
			t.Fatal(err)
		}
		c := s.Records.Collection(RecordsCollection("t", "contacts"))
		var created []bson.M
		cur, err := c.Find(ctx, bson.D{{Key: CreatedImportField, Value: "imp_1"}, {Key: CreatedRowField, Value: 3}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cur.All(ctx, &created); err != nil || len(created) != 1 || created[0]["_id"] != "email:b@x.io" {
			t.Fatalf("records created by row 3 of imp_1: %v %v", created, err)
		}
		n, err := c.CountDocuments(ctx, bson.D{{Key: ImportField, Value: "imp_2"}})
		if err != nil || n != 1 {
			t.Fatalf("records last written by imp_2: %d %v; want 1", n, err)
		}
		if _, ok := created[0][UpdatedAtField].(bson.DateTime); !ok {
			t.Fatalf("%s is %T, want a BSON date", UpdatedAtField, created[0][UpdatedAtField])
		}
	})
}

// The embedded fast path still applies the stamp of an update to a record
// in the flat form (it checks each field keeps its stored type), so
// re-imports do not fall back to FerretDB's slow update command.
func TestFastPathAppliesFlatStampUpdates(t *testing.T) {
	client, ix := startFerret(t)
	ctx := context.Background()
	s := New(client, "fastset", ix)
	if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{{ID: "email:a@x.io", Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "imp_1", Row: 2}}}); err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"name": "B", ImportField: "imp_2", RowField: rowValue(7), UpdatedAtField: bsonNow()}
	applied, err := ix.SetFields(ctx, s.Records, RecordsCollection("t", "contacts"), []string{"email:a@x.io"}, []map[string]any{set})
	if err != nil || !applied[0] {
		t.Fatalf("SetFields applied %v, %v; want the fast path to apply the flat stamp", applied, err)
	}
	got, err := s.GetRecords(ctx, "t", "contacts", []string{"email:a@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	if e := got["email:a@x.io"]; e.Last != (reconcile.Stamp{Import: "imp_2", Row: 7}) || e.Created != (reconcile.Stamp{Import: "imp_1", Row: 2}) || e.Fields["name"] != "B" {
		t.Fatalf("after the fast update: %+v", e)
	}
}
