package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/reconcile"
)

// A record the database refuses (FerretDB v1 cannot store nested arrays;
// validation lets them through, the fault harness's poison value) fails
// alone: the unordered insert writes the others, and says so, on the
// embedded FerretDB's fast path (which hands such a chunk to FerretDB) and
// on FerretDB reached over the wire without it. Inserting the chunk again
// (a redelivery) finds the written ones existing and refuses the same one.
func TestInsertRefusesOnlyThePoisonedRecord(t *testing.T) {
	client, fast := startFerret(t)
	for name, fp := range map[string]FastPath{"embedded": fast, "plain": nil} {
		t.Run(name, func(t *testing.T) {
			s := New(client, "intake_"+name, fp)
			ctx := context.Background()
			const poisoned = 17
			var recs []NewRecord
			for i := range 40 {
				r := NewRecord{ID: fmt.Sprintf("email:r%d@x.io", i), Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "i", Row: i + 2}}
				if i == poisoned {
					r.Fields["extra"] = map[string]any{"m": []any{[]any{1.0}}}
				}
				recs = append(recs, r)
			}
			in, err := s.InsertRecords(ctx, "t", "contacts", recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(in.Existed) != 0 || len(in.Refused) != 1 || in.Refused[poisoned] == nil {
				t.Fatalf("existed %v, refused %v; want only record %d refused", in.Existed, in.Refused, poisoned)
			}
			if msg := in.Refused[poisoned].Message; !strings.Contains(msg, "nested arrays are not supported") {
				t.Fatalf("refusal %q does not say why", msg)
			}
			if n, err := s.Records.Collection(RecordsCollection("t", "contacts")).CountDocuments(ctx, bson.D{}); err != nil || n != 39 {
				t.Fatalf("%d records stored (%v), want the 39 not refused", n, err)
			}

			again, err := s.InsertRecords(ctx, "t", "contacts", recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Existed) != 39 || again.Existed[poisoned] || len(again.Refused) != 1 || again.Refused[poisoned] == nil {
				t.Fatalf("again: existed %v, refused %v", slices.Sorted(maps.Keys(again.Existed)), again.Refused)
			}
		})
	}
}

// An update the database refuses fails alone too: the others of its bulk
// write are applied, on both paths.
func TestUpdateRefusesOnlyThePoisonedRecord(t *testing.T) {
	client, fast := startFerret(t)
	for name, fp := range map[string]FastPath{"embedded": fast, "plain": nil} {
		t.Run(name, func(t *testing.T) {
			s := New(client, "intake_up_"+name, fp)
			ctx := context.Background()
			var recs []NewRecord
			var ups []FieldUpdate
			const poisoned = 5
			for i := range 20 {
				id := fmt.Sprintf("email:u%d@x.io", i)
				recs = append(recs, NewRecord{ID: id, Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "i", Row: i + 2}})
				set := map[string]any{"name": "B"}
				if i == poisoned {
					set["extra"] = map[string]any{"m": []any{[]any{1.0}}}
				}
				ups = append(ups, FieldUpdate{ID: id, Set: set, Stamp: reconcile.Stamp{Import: "j", Row: i + 2}})
			}
			if _, err := s.InsertRecords(ctx, "t", "contacts", recs); err != nil {
				t.Fatal(err)
			}
			refused, err := s.UpdateRecords(ctx, "t", "contacts", ups)
			if err != nil {
				t.Fatal(err)
			}
			if len(refused) != 1 || refused[poisoned] == nil || !strings.Contains(refused[poisoned].Message, "nested arrays are not supported") {
				t.Fatalf("refused %v, want only update %d, saying why", refused, poisoned)
			}
			coll := s.Records.Collection(RecordsCollection("t", "contacts"))
			if n, err := coll.CountDocuments(ctx, bson.D{{Key: "name", Value: "B"}}); err != nil || n != 19 {
				t.Fatalf("%d records updated (%v), want the 19 not refused", n, err)
			}
			var doc bson.M
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("email:u%d@x.io", poisoned)}}).Decode(&doc); err != nil || doc["name"] != "A" {
				t.Fatalf("the refused record: %v %v, want it unchanged", doc, err)
			}
		})
	}
}
