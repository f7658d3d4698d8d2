package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/reconcile"
)

// The paths without the embedded reader: a real MongoDB (find with $in) and
// a FerretDB over the wire (IDLookups): reading no keys, some keys, missing
// and repeated keys. Reading none once sent $in: null, which the database
// refuses (found by the fault harness).
func TestGetRecordsWithoutEmbeddedReader(t *testing.T) {
	_, client := ferrettest.Start(t, "")
	ctx := context.Background()
	if ferret, err := IsFerretDB(ctx, client); err != nil || !ferret {
		t.Fatalf("IsFerretDB = %v, %v; want true", ferret, err)
	}
	for _, path := range []struct {
		name, db string
		ix       FastPath
	}{{"find $in", "plain", nil}, {"IDLookups", "lookups", IDLookups{}}} {
		t.Run(path.name, func(t *testing.T) {
			s := New(client, path.db, path.ix)
			if got, err := s.GetRecords(ctx, "t", "contacts", nil); err != nil || len(got) != 0 {
				t.Fatalf("no keys: %v %v", got, err)
			}
			_, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{
				{ID: "email:a@x.io", Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "i", Row: 2}},
				{ID: "email:b@x.io", Fields: map[string]any{"name": "B", "age": int64(40)}, Stamp: reconcile.Stamp{Import: "i", Row: 3}},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.GetRecords(ctx, "t", "contacts", []string{"email:a@x.io", "email:missing@x.io", "email:b@x.io", "email:a@x.io"})
			if err != nil || len(got) != 2 {
				t.Fatalf("read %d records (%v), want 2", len(got), err)
			}
			if a := got["email:a@x.io"]; a.Fields["name"] != "A" || a.Created != (reconcile.Stamp{Import: "i", Row: 2}) {
				t.Fatalf("record a = %+v", a)
			}
			if b := got["email:b@x.io"]; fmt.Sprint(b.Fields["age"]) != "40" || b.Created != (reconcile.Stamp{Import: "i", Row: 3}) {
				t.Fatalf("record b = %+v", b)
			}
		})
	}
}

// Reading 500 records by _id from a collection of 50,000 on a FerretDB over
// the wire (indexed as `intake ferretdb` does): find with $in reads the
// whole collection, IDLookups only them.
func BenchmarkReadByIDsOverTheWire(b *testing.B) {
	f, client := ferrettest.Start(b, "")
	ctx := context.Background()
	const n = 50_000
	s := New(client, "intake", nil)
	ids := make([]string, 0, 500)
	for start := 0; start < n; start += 1000 {
		recs := make([]NewRecord, 1000)
		for i := range recs {
			recs[i] = NewRecord{ID: fmt.Sprintf("email:%d@x.io", start+i), Fields: map[string]any{"name": "N"}, Stamp: reconcile.Stamp{Import: "i", Row: start + i + 2}}
		}
		if _, err := s.InsertRecords(ctx, "t", "contacts", recs); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 500; i++ {
		ids = append(ids, fmt.Sprintf("email:%d@x.io", i*97))
	}
	if err := f.IndexCollections(ctx); err != nil {
		b.Fatal(err)
	}
	for name, ix := range map[string]FastPath{"find-in": nil, "IDLookups": IDLookups{}} {
		b.Run(name, func(b *testing.B) {
			s := New(client, "intake", ix)
			for b.Loop() {
				got, err := s.GetRecords(ctx, "t", "contacts", ids)
				if err != nil || len(got) != len(ids) {
					b.Fatalf("%d records, %v", len(got), err)
				}
			}
		})
	}
}

// Replace mode's candidates are the records no write has touched since the
// replace started, and its delete keeps a record written after the plan:
// on the embedded FerretDB's fast path (whose writes stamp the time the
// same way) and on the plain MongoDB path.
func TestRecordsUnchangedSince(t *testing.T) {
	eachPath(t, "replace", func(t *testing.T, ctx context.Context, s *Store) {
		rec := func(id string, row int) NewRecord {
			return NewRecord{ID: id, Fields: map[string]any{"name": id}, Stamp: reconcile.Stamp{Import: "before", Row: row}}
		}
		if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{rec("ann", 2), rec("bob", 3), rec("dave", 4)}); err != nil {
			t.Fatal(err)
		}
		since := nextMillisecond() // write times are kept to the millisecond
		//lint:ignore SA4017 it waits: the writes below fall in a later millisecond than since
		nextMillisecond()
		if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{rec("carol", 2)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRecords(ctx, "t", "contacts", []FieldUpdate{{ID: "dave", Set: map[string]any{"name": "Dave Two"}, Stamp: reconcile.Stamp{Import: "other", Row: 3}}}); err != nil {
			t.Fatal(err)
		}
		ids, err := s.RecordIDsUnchangedSince(ctx, "t", "contacts", since)
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"ann", "bob"}) {
			t.Fatalf("unchanged since the start: %v %v, want ann and bob (carol created, dave updated since)", ids, err)
		}
		for _, id := range []string{"bob", "carol", "dave", "nobody"} {
			if err := s.DeleteRecordUnchangedSince(ctx, "t", "contacts", "imp_replace", id, since); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.CountRecords(ctx, "t", "contacts", []string{"ann", "bob", "carol", "dave", "nobody"}); err != nil || n != 3 {
			t.Fatalf("%d records left (%v), want ann, carol and dave", n, err)
		}
		got, err := s.GetRecords(ctx, "t", "contacts", []string{"ann", "bob", "carol", "dave"})
		if err != nil || len(got) != 3 || got["bob"] != nil || got["dave"].Fields["name"] != "Dave Two" {
			t.Fatalf("records after the deletes: %v %v", got, err)
		}
	})
}

// nextMillisecond waits until the clock is in a later millisecond than when
// called, and returns that time.
func nextMillisecond() time.Time {
	start := time.Now().Truncate(time.Millisecond)
	for {
		if now := time.Now(); now.Truncate(time.Millisecond).After(start) {
			return now
		}
	}
}

// A record the database refuses (FerretDB v1 cannot store nested arrays;
// validation lets them through, the fault harness's poison value) fails
// alone: the unordered insert writes the others, and says so, on the
// embedded FerretDB's fast path (which hands such a chunk to FerretDB) and
// on FerretDB reached over the wire without it. Inserting the chunk again
// (a redelivery) finds the written ones existing and refuses the same one.
func TestInsertRefusesOnlyThePoisonedRecord(t *testing.T) {
	eachPath(t, "insert", func(t *testing.T, ctx context.Context, s *Store) {
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

// An update the database refuses fails alone too: the others of its bulk
// write are applied, on both paths.
func TestUpdateRefusesOnlyThePoisonedRecord(t *testing.T) {
	eachPath(t, "update", func(t *testing.T, ctx context.Context, s *Store) {
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
