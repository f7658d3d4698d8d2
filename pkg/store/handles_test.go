package store

import (
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
