package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

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
	client, ix := startFerret(t)
	ctx := context.Background()
	onBothPaths(t, client, ix, "replace", func(t *testing.T, s *Store) {
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
