package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/intake/intake/pkg/reconcile"
)

// Replace mode's candidates are the records no write has touched since the
// replace started, and its delete keeps a record written after the plan:
// on the embedded FerretDB's fast path (whose writes stamp the time the
// same way) and on the plain MongoDB path.
func TestRecordsUnchangedSince(t *testing.T) {
	client, ix := startFerret(t)
	ctx := context.Background()
	for _, path := range []struct {
		name, db string
		ix       FastPath
	}{{"embedded fast path", "fast", ix}, {"plain MongoDB path", "plain", nil}} {
		t.Run(path.name, func(t *testing.T) {
			s := New(client, path.db, path.ix)
			rec := func(id string, row int) NewRecord {
				return NewRecord{ID: id, Fields: map[string]any{"name": id}, Stamp: reconcile.Stamp{Import: "before", Row: row}}
			}
			if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{rec("ann", 2), rec("bob", 3), rec("dave", 4)}); err != nil {
				t.Fatal(err)
			}
			since := nextMillisecond() // write times are kept to the millisecond
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
				if err := s.DeleteRecordUnchangedSince(ctx, "t", "contacts", id, since); err != nil {
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
