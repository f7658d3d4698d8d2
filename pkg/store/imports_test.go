package store

import (
	"context"
	"testing"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
)

// Row notes are found through the summary's per-stage bitsets, and through
// the id list that summaries saved by earlier versions carry.
func TestRowNotesFromBitsetsAndOldLists(t *testing.T) {
	f, client := ferrettest.Start(t, "")
	ix := f.IDIndexer()
	t.Cleanup(ix.Close)
	s := New(client, "intake", ix)
	ctx := context.Background()
	note := func(id string, row int, result string) {
		t.Helper()
		if err := s.InsertRowDoc(ctx, RowDoc{ID: id, Import: "imp", Tenant: "t", Rows: []envelope.Outcome{{Row: row, Result: result}}}); err != nil {
			t.Fatal(err)
		}
	}
	sum := &Summary{ID: "imp", Tenant: "t", Status: StatusProcessing, RowDocs: []string{"imp:validate:0"}}
	note("imp:validate:0", 3, envelope.Failed)
	for _, c := range []struct {
		stage      string
		chunk, row int
	}{{"write", 0, 2}, {"write", 9, 5000}, {"dead-write", 17, 9000}} {
		note(RowDocID("imp", c.stage, c.chunk), c.row, envelope.Skipped)
		sum.MarkNoted(c.stage, c.chunk)
	}
	if err := s.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	saved, found, err := s.GetSummary(ctx, "imp")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	all, err := s.RowNotes(ctx, saved, "")
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for _, o := range all {
		rows = append(rows, o.Row)
	}
	if len(rows) != 4 || rows[0] != 2 || rows[1] != 3 || rows[2] != 5000 || rows[3] != 9000 {
		t.Fatalf("rows noted = %v, want [2 3 5000 9000]", rows)
	}
	failed, err := s.RowNotes(ctx, saved, envelope.Failed)
	if err != nil || len(failed) != 1 || failed[0].Row != 3 {
		t.Fatalf("failed rows = %v, %v", failed, err)
	}
}
