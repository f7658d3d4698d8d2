package store

import (
	"context"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

// A chunk's notes come back as they were stored, problems in their order;
// notes stored as JSON text by earlier versions are still read; and the
// failed rows are found with a query, as docs/data-model.md shows.
func TestRowNotesGroupedAndOldText(t *testing.T) {
	client, ix := startFerret(t)
	s := New(client, "intake", ix)
	ctx := context.Background()
	unchanged := []envelope.Problem{{Message: "unchanged: the record already has these values"}}
	badEmail := []envelope.Problem{{Field: "email", Message: "not an email address"}, {Field: "age", Message: "not a number"}}
	notes := []envelope.Outcome{
		{Row: 2, Result: envelope.Skipped, Problems: unchanged},
		{Row: 3, Result: envelope.Failed, Problems: badEmail},
		{Row: 4, Result: envelope.Skipped, Problems: unchanged},
		{Row: 5, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "age", Message: "not a number"}, {Field: "email", Message: "not an email address"}}},
	}
	if err := s.InsertRowDoc(ctx, RowDoc{ID: RowDocID("imp", "write", 0), Import: "imp", Tenant: "t", Rows: notes}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertRowDoc(ctx, RowDoc{ID: RowDocID("imp", "write", 0), Import: "imp", Tenant: "t", Rows: notes}); err != nil {
		t.Fatalf("redelivered notes: %v", err)
	}
	// Earlier versions' form.
	if _, err := s.Meta.Collection(rowsColl).InsertOne(ctx, bson.D{{Key: "_id", Value: RowDocID("imp", "validate", 1)}, {Key: "import", Value: "imp"},
		{Key: "tenant", Value: "t"}, {Key: "notes", Value: `[{"row":9,"result":"failed","problems":[{"field":"email","message":"required"}]}]`}}); err != nil {
		t.Fatal(err)
	}
	sum := &ledger.Summary{ID: "imp", Tenant: "t", Status: ledger.StatusProcessing}
	sum.MarkNoted("write", 0)
	sum.MarkNoted("validate", 1)
	got, err := s.RowNotes(ctx, sum, "")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]envelope.Outcome(nil), notes...), envelope.Outcome{Row: 9, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: "required"}}})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RowNotes =\n%+v\nwant\n%+v", got, want)
	}

	cur, err := s.Meta.Collection(rowsColl).Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "import", Value: "imp"}}}},
		bson.D{{Key: "$unwind", Value: "$notes"}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "notes.result", Value: "failed"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var failed []struct {
		Notes noteGroup `bson:"notes"`
	}
	if err := cur.All(ctx, &failed); err != nil {
		t.Fatal(err)
	}
	var rows []int
	for _, f := range failed {
		rows = append(rows, f.Notes.Rows...)
	}
	if !reflect.DeepEqual(rows, []int{3, 5}) {
		t.Fatalf("failed rows found by query: %v, want [3 5]", rows)
	}
}
