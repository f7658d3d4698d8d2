package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/intake/intake/pkg/reconcile"
)

// Handles are added in pieces (handlesPerInsert); a handle already
// recorded is reported taken by its index in the whole list, whichever
// piece it fell in, and every other handle is recorded.
func TestAddHandlesReportsTakenAcrossPieces(t *testing.T) {
	client, fast := startFerret(t)
	onBothPaths(t, client, fast, "handles", func(t *testing.T, s *Store) {
		ctx := t.Context()
		handle := func(i int, record string) Handle {
			return Handle{ID: fmt.Sprintf("usernames:u%d", i), Record: record, Stamp: reconcile.Stamp{Import: "imp_1", Row: i + 2}}
		}
		before := []int{5, handlesPerInsert + 1, 2*handlesPerInsert + 400}
		var first []Handle
		for _, i := range before {
			first = append(first, handle(i, "rec_a"))
		}
		if _, err := s.AddHandles(ctx, "acme", "persons", first); err != nil {
			t.Fatal(err)
		}
		var all []Handle
		for i := range 2*handlesPerInsert + 500 {
			all = append(all, handle(i, "rec_b"))
		}
		taken, err := s.AddHandles(ctx, "acme", "persons", all)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(maps.Keys(taken)); !slices.Equal(got, before) {
			t.Fatalf("taken %v, want %v", got, before)
		}
		ids := make([]string, len(all))
		for i, h := range all {
			ids[i] = h.ID
		}
		owners, err := s.HandleOwners(ctx, "acme", "persons", ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range all {
			want := "rec_b"
			if slices.Contains(before, i) {
				want = "rec_a"
			}
			if owners[h.ID] != want {
				t.Fatalf("%s belongs to %q, want %q", h.ID, owners[h.ID], want)
			}
		}
	})
}

// Records stored without handles (as versions keeping a handle index only
// for persons stored them) get them from BackfillHandles: their key
// fields' values, but a record's _id, found as such (so where two records
// share a value the one created under it keeps it); a value two records
// have marked shared (it finds neither). The backfill is done once per
// key field list (a second call reads only the marker) and again when the
// schema gains a key field. On the embedded default and over the wire.
func TestBackfillHandles(t *testing.T) {
	client, fast := startFerret(t)
	onBothPaths(t, client, fast, "bf", func(t *testing.T, s *Store) {
		ctx := context.Background()
		insert := func(id string, fields map[string]any) {
			t.Helper()
			if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{{ID: id, Fields: fields, Stamp: reconcile.Stamp{Import: "old", Row: 2}}}); err != nil {
				t.Fatal(err)
			}
		}
		insert("email:a@x.io", map[string]any{"email": "a@x.io", "phone": "+1555", "ext": "7"})
		insert("phone:+1555", map[string]any{"email": "b@x.io", "phone": "+1555"}) // same phone, created under it
		insert("email:c@x.io", map[string]any{"email": "c@x.io", "phone": "+1666"})
		insert("email:e@x.io", map[string]any{"email": "e@x.io", "phone": "+1666"}) // two people, one phone
		handlesOf := func(keys ...string) func(map[string]any) []string {
			return func(d map[string]any) []string {
				var hs []string
				for _, k := range keys {
					if v, ok := d[k].(string); ok {
						hs = append(hs, k+":"+v)
					}
				}
				return hs
			}
		}
		owners := func(hs ...string) string {
			t.Helper()
			o, err := s.HandleOwnership(ctx, "t", "contacts", hs)
			if err != nil {
				t.Fatal(err)
			}
			records := map[string]string{}
			for h, w := range o {
				records[h] = w.Record
			}
			return fmt.Sprint(records)
		}
		all := []string{"email:a@x.io", "email:b@x.io", "email:c@x.io", "phone:+1555", "email:d@x.io", "ext:7", "ext:8"}
		if err := s.BackfillHandles(ctx, "t", "contacts", []string{"email", "phone"}, []string{"email", "phone"}, handlesOf("email", "phone")); err != nil {
			t.Fatal(err)
		}
		want := "map[email:a@x.io:email:a@x.io email:b@x.io:phone:+1555 email:c@x.io:email:c@x.io phone:+1555:phone:+1555]"
		if got := owners(all...); got != want {
			t.Fatalf("after the backfill: %s, want %s", got, want)
		}
		// Of these the index holds only the value that is no record's _id.
		if index, err := s.HandleOwners(ctx, "t", "contacts", all); err != nil || fmt.Sprint(index) != "map[email:b@x.io:phone:+1555]" {
			t.Fatalf("handle index: %v %v", index, err)
		}
		shared, err := s.HandleOwnership(ctx, "t", "contacts", []string{"phone:+1666", "phone:+1555", "email:e@x.io"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(shared) != "map[email:e@x.io:{email:e@x.io false} phone:+1555:{phone:+1555 false} phone:+1666:{email:c@x.io true}]" {
			t.Fatalf("shared: %v", shared)
		}
		// Done: a record stored since without handles is not looked at
		// again (it is found by its _id all the same)...
		insert("email:d@x.io", map[string]any{"email": "d@x.io", "ext": "8"})
		if err := s.BackfillHandles(ctx, "t", "contacts", []string{"email", "phone"}, []string{"email", "phone"}, handlesOf("email", "phone")); err != nil {
			t.Fatal(err)
		}
		want = "map[email:a@x.io:email:a@x.io email:b@x.io:phone:+1555 email:c@x.io:email:c@x.io email:d@x.io:email:d@x.io phone:+1555:phone:+1555]"
		if got := owners(all...); got != want {
			t.Fatalf("after a second backfill: %s, want %s", got, want)
		}
		// ...until the key fields change.
		if err := s.BackfillHandles(ctx, "t", "contacts", []string{"email", "phone", "ext"}, []string{"email", "phone"}, handlesOf("email", "phone", "ext")); err != nil {
			t.Fatal(err)
		}
		want = "map[email:a@x.io:email:a@x.io email:b@x.io:phone:+1555 email:c@x.io:email:c@x.io email:d@x.io:email:d@x.io ext:7:email:a@x.io ext:8:email:d@x.io phone:+1555:phone:+1555]"
		if got := owners(all...); got != want {
			t.Fatalf("after a new key field: %s, want %s", got, want)
		}
	})
}

// A value the handle index gives one record while another record has it
// as _id (the first record's import passed the deduplicator before the
// writer stored the second) belongs to both: it is shared, it finds neither.
// Also with the reads by _id of a FerretDB over the wire (IDLookups).
func TestHandleOwnershipOfAValueTwoRecordsHave(t *testing.T) {
	client, fast := startFerret(t)
	test := func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.AddHandles(ctx, "t", "contacts", []Handle{{ID: "email:z@x.io", Record: "phone:+1777"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{
			{ID: "email:z@x.io", Fields: map[string]any{"email": "z@x.io"}},
			{ID: "phone:+1777", Fields: map[string]any{"email": "z@x.io", "phone": "+1777"}},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.HandleOwnership(ctx, "t", "contacts", []string{"email:z@x.io", "phone:+1777", "phone:+1888"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "map[email:z@x.io:{phone:+1777 true} phone:+1777:{phone:+1777 false}]" {
			t.Fatalf("owners: %v", got)
		}
	}
	onBothPaths(t, client, fast, "own", test)
	t.Run("lookups", func(t *testing.T) { test(t, New(client, "own_lookups", IDLookups{})) })
}
