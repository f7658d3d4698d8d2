package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/mapping"
)

// Row notes are found through the summary's per-stage bitsets, and through
// the id list that summaries saved by earlier versions carry.
func TestRowNotesFromBitsetsAndOldLists(t *testing.T) {
	s, ctx := startStore(t)
	note := func(id string, row int, result string) {
		t.Helper()
		if err := s.InsertRowDoc(ctx, RowDoc{ID: id, Import: "imp", Tenant: "t", Rows: []envelope.Outcome{{Row: row, Result: result}}}); err != nil {
			t.Fatal(err)
		}
	}
	sum := &ledger.Summary{ID: "imp", Tenant: "t", Status: ledger.StatusProcessing, RowDocs: []string{"imp:validate:0"}}
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
	saved, found, err := s.ReadSummary(ctx, "imp")
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
	// One chunk's notes: every stage's for that chunk number, nothing else.
	note(RowDocID("imp", "validate", 9), 4999, envelope.Failed)
	saved.MarkNoted("validate", 9)
	for chunk, want := range map[int][]int{9: {4999, 5000}, 17: {9000}, 1: nil} {
		got, err := s.ChunkRowNotes(ctx, saved, chunk, "")
		var rows []int
		for _, o := range got {
			rows = append(rows, o.Row)
		}
		if err != nil || !reflect.DeepEqual(rows, want) {
			t.Errorf("chunk %d's notes = %v, %v; want rows %v", chunk, rows, err, want)
		}
	}
	if got, err := s.ChunkRowNotes(ctx, saved, 9, envelope.Failed); err != nil || len(got) != 1 || got[0].Row != 4999 {
		t.Errorf("chunk 9's failed rows = %v, %v", got, err)
	}
}

// An import is read, and its cancellation seen, only by its own tenant:
// another tenant asking for the same import ID finds nothing and is never
// cancelled by it. Both the embedded reader and the plain MongoDB path.
func TestSummaryAndCancelScopedByTenant(t *testing.T) {
	eachPath(t, "intake", func(t *testing.T, ctx context.Context, s *Store) {
		if err := s.SaveSummary(ctx, &ledger.Summary{ID: "imp_1", Tenant: "globex", Status: ledger.StatusProcessing, Cancelled: true}); err != nil {
			t.Fatal(err)
		}
		if sum, found, err := s.GetSummary(ctx, "globex", "imp_1"); err != nil || !found || sum.Tenant != "globex" {
			t.Fatalf("globex's own import: %+v %v %v", sum, found, err)
		}
		if sum, found, err := s.GetSummary(ctx, "acme", "imp_1"); err != nil || found || sum != nil {
			t.Fatalf("acme reading globex's import: %+v %v %v", sum, found, err)
		}
		if sum, found, err := s.FindSummary(ctx, "acme", "imp_1"); !errors.Is(err, ErrOtherTenant) || found || sum != nil {
			t.Fatalf("FindSummary of globex's import for acme: %+v %v %v, want ErrOtherTenant", sum, found, err)
		}
		if sum, found, err := s.FindSummary(ctx, "acme", "imp_2"); err != nil || found || sum != nil {
			t.Fatalf("FindSummary of no import: %+v %v %v", sum, found, err)
		}
		if c, err := s.Cancelled(ctx, "globex", "imp_1"); err != nil || !c {
			t.Fatalf("globex's cancelled import: %v %v", c, err)
		}
		if c, err := s.Cancelled(ctx, "acme", "imp_1"); err != nil || c {
			t.Fatalf("acme's rows under globex's import ID cancelled: %v %v", c, err)
		}
	})
}

// Claim logs are kept per tenant and import: the same import ID of two
// tenants has two logs.
func TestClaimsScopedByTenant(t *testing.T) {
	_, client := ferrettest.Start(t, "")
	s := New(client, "intake", nil)
	ctx := context.Background()
	if taken, err := s.AppendClaims(ctx, "acme", "imp_1", ClaimEntry{Seq: 1, Keys: []string{"email:ann@x.example"}, Rows: []int{2}}); err != nil || taken {
		t.Fatal(taken, err)
	}
	if keys, err := s.ClaimedKeys(ctx, "globex", "imp_1"); err != nil || len(keys) != 0 {
		t.Fatalf("globex's claims of imp_1: %v %v, want none", keys, err)
	}
	if taken, err := s.AppendClaims(ctx, "globex", "imp_1", ClaimEntry{Seq: 1, Keys: []string{"email:bob@x.example"}, Rows: []int{2}}); err != nil || taken {
		t.Fatalf("globex's first entry taken by acme's: %v %v", taken, err)
	}
	if keys, err := s.ClaimedKeys(ctx, "acme", "imp_1"); err != nil || len(keys) != 1 || !keys["email:ann@x.example"] {
		t.Fatalf("acme's claims: %v %v", keys, err)
	}
}

// A summary is stored under the API's names, with the bookkeeping apart
// under _accounting, and reads back as it was saved.
func TestSummaryStoredUnderTheAPINames(t *testing.T) {
	s, ctx := startStore(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	company := "company"
	sum := &ledger.Summary{
		ID: "imp_1", Tenant: "acme", Status: ledger.StatusCompleted, Sealed: true, Total: 4,
		Options: envelope.Options{Schema: "contacts", Mode: "replace", Key: "email", DryRun: true, EmptyMeansClear: true,
			Mapping:     mapping.Given{"Account.Name": &company, "Notes": nil},
			DateFormats: map[string]string{"birthday": "dmy"},
			Warnings:    []envelope.Warning{{Field: "joined", Code: envelope.WarnAmbiguousDate, Message: "joined: read month first"}}},
		Counts: envelope.Counts{Created: 1, Updated: 1, Skipped: 1, Failed: 1}, Deleted: 2,
		// A header with a dot: stored in a list, not as a document's key.
		Mapping: &mapping.Report{Export: "Salesforce (Data Loader)", Columns: []mapping.Column{
			{Column: "Account.Name", Field: "company", Reason: mapping.ReasonGiven},
			{Column: "FirstName", Field: "name", Reason: mapping.ReasonKnownExport, Export: "Salesforce (Data Loader)", Note: "part of the name"},
			{Column: "Notes", Reason: mapping.ReasonIgnored},
		}, Ignored: []string{"Notes"}},
		LastSeq: 9, DeletePlan: &ledger.DeletePlan{Docs: 1, Count: 2},
		CreatedAt: at, UpdatedAt: at, CompletedAt: &at,
	}
	sum.MarkApplied(envelope.StageWrite, 0)
	sum.MarkNoted(envelope.StageWrite, 0)
	if err := s.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}

	var raw bson.M
	if err := s.Meta.Collection("imports").FindOne(ctx, bson.D{{Key: "_id", Value: "imp_1"}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]any{
		"schema": "contacts", "mode": "replace", "key": "email", "dry_run": true, "empty_means_clear": true,
		"created": int32(1), "updated": int32(1), "skipped": int32(1), "failed": int32(1), "deleted": int32(2),
		"status": "completed", "tenant": "acme", "date_formats": bson.D{{Key: "birthday", Value: "dmy"}},
		"warnings": bson.A{bson.D{{Key: "field", Value: "joined"}, {Key: "code", Value: "ambiguous_date"}, {Key: "message", Value: "joined: read month first"}}},
	} {
		if !reflect.DeepEqual(raw[field], want) {
			t.Errorf("stored %s = %#v (%T), want %#v", field, raw[field], raw[field], want)
		}
	}
	for _, internal := range []string{"options", "counts", "applied", "noted", "last_seq", "delete_plan"} {
		if v, ok := raw[internal]; ok {
			t.Errorf("bookkeeping field %s at the top level: %v", internal, v)
		}
	}
	accD, ok := raw["_accounting"].(bson.D)
	acc := map[string]any{}
	for _, e := range accD {
		acc[e.Key] = e.Value
	}
	if !ok || acc["last_seq"] == nil || acc["applied"] == nil || acc["noted"] == nil || acc["delete_plan"] == nil {
		t.Errorf("_accounting = %#v", raw["_accounting"])
	}
	if m, ok := raw["mapping"].(bson.D); !ok || len(m) == 0 {
		t.Errorf("mapping = %#v, want a sub-document", raw["mapping"])
	}

	got, found, err := s.GetSummary(ctx, "acme", "imp_1")
	if err != nil || !found {
		t.Fatalf("read back: %v %v", found, err)
	}
	got.CreatedAt, got.UpdatedAt, got.CompletedAt = got.CreatedAt.UTC(), got.UpdatedAt.UTC(), nil
	want := *sum
	want.CompletedAt = nil
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("read back\n got %+v\nwant %+v", *got, want)
	}
	if got, _, _ := s.GetSummary(ctx, "acme", "imp_1"); got.CompletedAt == nil || !got.CompletedAt.Equal(at) {
		t.Errorf("completed_at = %v, want %v", got.CompletedAt, at)
	}
	list, err := s.ListSummaries(ctx, "acme", 10)
	if err != nil || len(list) != 1 || list[0].Counts != sum.Counts || !reflect.DeepEqual(list[0].Options, sum.Options) || list[0].Applied != nil {
		t.Errorf("list: %+v %v (counts and options as saved, no bookkeeping)", list, err)
	}
}

// A summary stored by an earlier version (options and counts nested, the
// driver's default names, bookkeeping at the top level) reads the same, and
// the next save stores it in the current shape.
func TestSummaryStoredByAnEarlierVersionReads(t *testing.T) {
	s, ctx := startStore(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	legacy := bson.D{
		{Key: "_id", Value: "imp_old"}, {Key: "tenant", Value: "acme"},
		{Key: "options", Value: bson.D{{Key: "schema", Value: "contacts"}, {Key: "mode", Value: "update"}, {Key: "key", Value: "email"}, {Key: "dryrun", Value: true}, {Key: "emptymeansclear", Value: true}}},
		{Key: "status", Value: "processing"}, {Key: "sealed", Value: false}, {Key: "total", Value: 0},
		{Key: "counts", Value: bson.D{{Key: "created", Value: 3}, {Key: "updated", Value: 2}, {Key: "skipped", Value: 1}, {Key: "failed", Value: 0}}},
		{Key: "deleted", Value: 0}, {Key: "last_seq", Value: int64(42)},
		{Key: "applied", Value: bson.D{{Key: "write", Value: bson.Binary{Data: []byte{1}}}}},
		{Key: "row_docs", Value: bson.A{"imp_old:validate:0"}},
		{Key: "delete_plan", Value: bson.D{{Key: "docs", Value: 1}, {Key: "count", Value: 5}}},
		{Key: "created_at", Value: at}, {Key: "updated_at", Value: at},
	}
	if _, err := s.Meta.Collection("imports").InsertOne(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.GetSummary(ctx, "acme", "imp_old")
	if err != nil || !found {
		t.Fatalf("read: %v %v", found, err)
	}
	wantOpts := envelope.Options{Schema: "contacts", Mode: "update", Key: "email", DryRun: true, EmptyMeansClear: true}
	if !reflect.DeepEqual(got.Options, wantOpts) || got.Counts != (envelope.Counts{Created: 3, Updated: 2, Skipped: 1}) || got.LastSeq != 42 ||
		len(got.RowDocs) != 1 || got.DeletePlan == nil || got.DeletePlan.Count != 5 {
		t.Fatalf("legacy summary read as %+v", got)
	}
	if !got.MarkApplied(envelope.StageWrite, 0) {
		t.Error("chunk 0 of write was counted before the upgrade and must stay counted")
	}
	if err := s.SaveSummary(ctx, got); err != nil {
		t.Fatal(err)
	}
	var raw bson.M
	if err := s.Meta.Collection("imports").FindOne(ctx, bson.D{{Key: "_id", Value: "imp_old"}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	_, oldSeq := raw["last_seq"]
	if _, ok := raw["options"]; ok || oldSeq || raw["dry_run"] != true || raw["_accounting"] == nil {
		t.Errorf("saved again in the old shape: %v", raw)
	}
	again, _, _ := s.GetSummary(ctx, "acme", "imp_old")
	if !reflect.DeepEqual(again.Options, wantOpts) || again.Counts != got.Counts || again.LastSeq != 42 || again.DeletePlan == nil {
		t.Errorf("after the save: %+v", again)
	}
}

// A chunk's notes come back as they were stored, problems in their order;
// notes stored as JSON text by earlier versions are still read; and the
// failed rows are found with a query, as docs/data-model.md shows.
func TestRowNotesGroupedAndOldText(t *testing.T) {
	s, ctx := startStore(t)
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

// SaveSummaryIf writes only over the summary the caller read: of two
// reporters applying the same message, or different ones, to one import,
// the second write fails with ErrSummaryChanged and leaves the first's.
func TestSaveSummaryIfRefusesAStaleWrite(t *testing.T) {
	eachPath(t, "intake", func(t *testing.T, ctx context.Context, s *Store) {
		sum := &ledger.Summary{ID: "imp_1", Tenant: "acme", Status: ledger.StatusProcessing, LastSeq: 3,
			Counts: envelope.Counts{Created: 1}}
		if err := s.SaveSummaryIf(ctx, sum, 0); err != nil {
			t.Fatalf("first summary: %v", err)
		}
		// A second reporter that also found no summary.
		other := &ledger.Summary{ID: "imp_1", Tenant: "acme", Status: ledger.StatusProcessing, LastSeq: 3,
			Counts: envelope.Counts{Failed: 1}}
		if err := s.SaveSummaryIf(ctx, other, 0); !errors.Is(err, ErrSummaryChanged) {
			t.Fatalf("second creation: %v, want ErrSummaryChanged", err)
		}

		next := *sum
		next.LastSeq, next.Counts.Created = 7, 2
		if err := s.SaveSummaryIf(ctx, &next, 3); err != nil {
			t.Fatalf("save at 3: %v", err)
		}
		stale := *sum
		stale.LastSeq, stale.Counts.Updated = 7, 1
		if err := s.SaveSummaryIf(ctx, &stale, 3); !errors.Is(err, ErrSummaryChanged) {
			t.Fatalf("stale save at 3: %v, want ErrSummaryChanged", err)
		}
		// Saving again at the stored sequence (a finish step after the
		// message was applied) is allowed.
		next.Status = ledger.StatusCompleted
		if err := s.SaveSummaryIf(ctx, &next, 7); err != nil {
			t.Fatalf("save at 7: %v", err)
		}

		got, found, err := s.ReadSummary(ctx, "imp_1")
		if err != nil || !found {
			t.Fatalf("read: %v %v", found, err)
		}
		if got.LastSeq != 7 || got.Counts != (envelope.Counts{Created: 2}) || got.Status != ledger.StatusCompleted {
			t.Fatalf("stored summary at %d with %+v, %s; want the first writer's: 7, created 2, completed", got.LastSeq, got.Counts, got.Status)
		}
		if err := s.SaveSummaryIf(ctx, &ledger.Summary{ID: "imp_missing", Tenant: "acme", LastSeq: 2}, 1); !errors.Is(err, ErrSummaryChanged) {
			t.Fatalf("save over a missing summary: %v, want ErrSummaryChanged", err)
		}
	})
}

// Paging through an import's row notes gives, page after page, exactly the
// rows RowNotes gives at once, in order, each once; a page reads only its
// own chunks. Chunks noted by two stages are merged by row, and the id list
// of summaries of earlier versions is followed too. Both paths.
func TestRowNotesFromPagesThroughEveryRow(t *testing.T) {
	eachPath(t, "intake", func(t *testing.T, ctx context.Context, s *Store) {
		sum := &ledger.Summary{ID: "imp", Tenant: "t", Status: ledger.StatusCompleted, RowDocs: []string{"imp:validate:0"}}
		note := func(id string, rows []envelope.Outcome) {
			t.Helper()
			if err := s.InsertRowDoc(ctx, RowDoc{ID: id, Import: "imp", Tenant: "t", Rows: rows}); err != nil {
				t.Fatal(err)
			}
		}
		// Chunk c holds rows 2+1000c .. 1001+1000c; every third row failed at
		// validation, every fifth of the others was skipped by the writer.
		for chunk := range 12 {
			var failed, skipped []envelope.Outcome
			for row := 2 + 1000*chunk; row < 1002+1000*chunk; row++ {
				switch {
				case row%3 == 0:
					failed = append(failed, envelope.Outcome{Row: row, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: "bad"}}})
				case row%5 == 0:
					skipped = append(skipped, envelope.Outcome{Row: row, Result: envelope.Skipped, Problems: []envelope.Problem{{Message: "unchanged"}}})
				}
			}
			id := RowDocID("imp", "validate", chunk)
			if chunk > 0 {
				sum.MarkNoted("validate", chunk)
			}
			note(id, failed)
			if chunk%2 == 1 {
				sum.MarkNoted("write", chunk)
				note(RowDocID("imp", "write", chunk), skipped)
			}
		}
		for _, result := range []string{envelope.Failed, envelope.Skipped, ""} {
			all, err := s.RowNotes(ctx, sum, result)
			if err != nil {
				t.Fatal(err)
			}
			var got []envelope.Outcome
			from, pages := NotePos{}, 0
			for more := true; more; pages++ {
				var page []NotedRow
				page, more, err = s.RowNotesFrom(ctx, sum, result, from, 1000)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > 1000 || (more && len(page) == 0) {
					t.Fatalf("result %q page %d: %d rows, more %v", result, pages, len(page), more)
				}
				for _, r := range page {
					got = append(got, r.Outcome)
				}
				if more {
					last := page[len(page)-1]
					from = NotePos{Chunk: last.Chunk, Row: last.Row + 1}
				}
			}
			if !reflect.DeepEqual(got, all) {
				t.Fatalf("result %q: pages gave %d rows, RowNotes %d; they differ", result, len(got), len(all))
			}
			if want := (len(all) + 999) / 1000; pages != want {
				t.Errorf("result %q: %d pages for %d rows, want %d", result, pages, len(all), want)
			}
		}
		// A position past the last noted row: nothing, and nothing more.
		if page, more, err := s.RowNotesFrom(ctx, sum, "", NotePos{Chunk: 12}, 10); err != nil || len(page) != 0 || more {
			t.Fatalf("past the end: %v %v %v", page, more, err)
		}
	})
}
