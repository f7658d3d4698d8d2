package writer

import (
	"errors"
	"reflect"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

func TestDecideRow(t *testing.T) {
	const imp = "imp_now"
	const key = "email:ann@example.com"
	row := envelope.Record{Row: 4, Key: key, Fields: map[string]any{"email": "ann@example.com", "name": "Ann Lee"}}
	this := reconcile.Stamp{Import: imp, Row: 4}
	other := reconcile.Stamp{Import: "imp_before", Row: 9}
	same := &reconcile.Existing{Fields: map[string]any{"email": "ann@example.com", "name": "Ann Lee", "phone": "+12015550123"}, Last: other, Created: other}
	changed := &reconcile.Existing{Fields: map[string]any{"email": "ann@example.com", "name": "Ann"}, Last: other, Created: other}
	noName := []schema.FieldError{{Field: "name", Code: envelope.CodeValidation, Message: "name is required to create a record"}}
	mode := func(m string) envelope.Options { return envelope.Options{Schema: "contacts", Mode: m} }
	dry := func(m string) envelope.Options { return envelope.Options{Schema: "contacts", Mode: m, DryRun: true} }
	withClear := row
	withClear.Clear = []string{"phone", "company"}

	for _, tc := range []struct {
		name         string
		opts         envelope.Options
		row          envelope.Record
		cannotCreate []schema.FieldError
		existing     *reconcile.Existing
		want         envelope.Outcome
		write        *store.FieldUpdate
	}{
		{name: "update mode, no record: skipped, nothing created", opts: mode(envelope.ModeUpdate), row: row,
			want: envelope.Outcome{Row: 4, Result: envelope.Skipped, Problems: []envelope.Problem{{Code: envelope.CodeNotFound, Message: "no existing record with email ann@example.com (update mode does not create records)"}}}},
		{name: "update mode dry run, no record: skipped", opts: dry(envelope.ModeUpdate), row: row,
			want: envelope.Outcome{Row: 4, Result: envelope.Skipped, Problems: []envelope.Problem{{Code: envelope.CodeNotFound, Message: "no existing record with email ann@example.com (update mode does not create records)"}}}},
		{name: "no record and cannot create: failed with each missing field", opts: mode(envelope.ModeUpsert), row: row,
			cannotCreate: append(noName, schema.FieldError{Field: "company", Message: "company is required"}),
			want: envelope.Outcome{Row: 4, Result: envelope.Failed, Problems: []envelope.Problem{
				{Field: "name", Code: envelope.CodeValidation, Message: "name is required to create a record"}, {Field: "company", Code: envelope.CodeValidation, Message: "company is required"}}}},
		{name: "dry run, no record and cannot create: failed", opts: dry(envelope.ModeInsert), row: row, cannotCreate: noName,
			want: envelope.Outcome{Row: 4, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "name", Code: envelope.CodeValidation, Message: "name is required to create a record"}}}},
		{name: "dry run, no record: would be created, nothing written", opts: dry(envelope.ModeUpsert), row: row,
			want: envelope.Outcome{Row: 4, Result: envelope.Created}},
		{name: "dry run replace, no record: would be created", opts: dry(envelope.ModeReplace), row: row,
			want: envelope.Outcome{Row: 4, Result: envelope.Created}},
		{name: "insert mode, existing record: failed, exists", opts: mode(envelope.ModeInsert), row: row, existing: changed,
			want: envelope.Outcome{Row: 4, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeExists, Message: "a record with email ann@example.com already exists (insert mode does not change existing records)"}}}},
		{name: "insert mode dry run, existing record: failed, exists", opts: dry(envelope.ModeInsert), row: row, existing: same,
			want: envelope.Outcome{Row: 4, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeExists, Message: "a record with email ann@example.com already exists (insert mode does not change existing records)"}}}},
		{name: "upsert, same values: skipped unchanged, nothing written", opts: mode(envelope.ModeUpsert), row: row, existing: same,
			want: envelope.Outcome{Row: 4, Result: envelope.Skipped, Problems: []envelope.Problem{{Code: envelope.CodeUnchanged, Message: "unchanged: the record already has these values"}}}},
		{name: "upsert, a changed value: updated, only that field written", opts: mode(envelope.ModeUpsert), row: row, existing: changed,
			want:  envelope.Outcome{Row: 4, Result: envelope.Updated},
			write: &store.FieldUpdate{ID: key, Set: map[string]any{"name": "Ann Lee"}, Stamp: this}},
		{name: "update mode, a changed value: updated", opts: mode(envelope.ModeUpdate), row: row, existing: changed,
			want:  envelope.Outcome{Row: 4, Result: envelope.Updated},
			write: &store.FieldUpdate{ID: key, Set: map[string]any{"name": "Ann Lee"}, Stamp: this}},
		{name: "replace mode, a changed value: updated", opts: mode(envelope.ModeReplace), row: row, existing: changed,
			want:  envelope.Outcome{Row: 4, Result: envelope.Updated},
			write: &store.FieldUpdate{ID: key, Set: map[string]any{"name": "Ann Lee"}, Stamp: this}},
		{name: "empty cells that clear: only stored fields unset", opts: mode(envelope.ModeUpdate), row: withClear, existing: same,
			want:  envelope.Outcome{Row: 4, Result: envelope.Updated},
			write: &store.FieldUpdate{ID: key, Set: map[string]any{}, Unset: []string{"phone"}, Stamp: this}},
		{name: "cannot create, but the record exists: updated", opts: mode(envelope.ModeUpsert), row: row, cannotCreate: noName, existing: changed,
			want:  envelope.Outcome{Row: 4, Result: envelope.Updated},
			write: &store.FieldUpdate{ID: key, Set: map[string]any{"name": "Ann Lee"}, Stamp: this}},
		{name: "dry run, a changed value: would be updated, nothing written", opts: dry(envelope.ModeUpsert), row: row, existing: changed,
			want: envelope.Outcome{Row: 4, Result: envelope.Updated}},
		{name: "replay of this row's own create: created again, nothing written", opts: mode(envelope.ModeUpsert), row: row,
			existing: &reconcile.Existing{Fields: changed.Fields, Last: this, Created: this},
			want:     envelope.Outcome{Row: 4, Result: envelope.Created}},
		{name: "replay of this row's own update: updated again, nothing written", opts: mode(envelope.ModeUpsert), row: row,
			existing: &reconcile.Existing{Fields: row.Fields, Last: this, Created: other},
			want:     envelope.Outcome{Row: 4, Result: envelope.Updated}},
		{name: "insert mode replay of its own create: created, not 'exists'", opts: mode(envelope.ModeInsert), row: row,
			existing: &reconcile.Existing{Fields: row.Fields, Last: this, Created: this},
			want:     envelope.Outcome{Row: 4, Result: envelope.Created}},
		{name: "another row of the same import wrote it: judged as any existing record", opts: mode(envelope.ModeUpsert), row: row,
			existing: &reconcile.Existing{Fields: changed.Fields, Last: reconcile.Stamp{Import: imp, Row: 3}, Created: other},
			want:     envelope.Outcome{Row: 4, Result: envelope.Updated},
			write:    &store.FieldUpdate{ID: key, Set: map[string]any{"name": "Ann Lee"}, Stamp: this}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, write, err := decideRow(tc.opts, imp, tc.row, tc.cannotCreate, tc.existing)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("outcome %+v, want %+v", got, tc.want)
			}
			if !reflect.DeepEqual(write, tc.write) {
				t.Errorf("write %+v, want %+v", write, tc.write)
			}
		})
	}
}

// A record the insert saw existing and the read found gone is retried,
// never reported.
func TestDecideRowRecordDisappeared(t *testing.T) {
	for _, m := range []string{envelope.ModeInsert, envelope.ModeUpsert, envelope.ModeReplace} {
		_, write, err := decideRow(envelope.Options{Mode: m}, "imp_now", envelope.Record{Row: 7, Key: "email:bob@example.com"}, nil, nil)
		var d *disappeared
		if !errors.As(err, &d) || d.key != "email:bob@example.com" || d.row != 7 {
			t.Fatalf("%s: error %v, want the record disappeared at row 7", m, err)
		}
		if write != nil {
			t.Errorf("%s: writes %+v", m, write)
		}
	}
}

func TestCancelledOutcomes(t *testing.T) {
	got := cancelledOutcomes([]envelope.Record{{Row: 2, Key: "email:a@x"}, {Row: 5, Key: "email:b@x"}})
	want := []envelope.Outcome{
		{Row: 2, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeCancelled, Message: "the import was cancelled before this row was written"}}},
		{Row: 5, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeCancelled, Message: "the import was cancelled before this row was written"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestCreatesAndInsertable(t *testing.T) {
	for _, tc := range []struct {
		opts envelope.Options
		want bool
	}{
		{envelope.Options{Mode: envelope.ModeInsert}, true},
		{envelope.Options{Mode: envelope.ModeUpsert}, true},
		{envelope.Options{Mode: envelope.ModeReplace}, true},
		{envelope.Options{Mode: envelope.ModeUpdate}, false},
		{envelope.Options{Mode: envelope.ModeUpsert, DryRun: true}, false},
		{envelope.Options{Mode: envelope.ModeInsert, DryRun: true}, false},
	} {
		if got := creates(tc.opts); got != tc.want {
			t.Errorf("creates(%+v) = %v, want %v", tc.opts, got, tc.want)
		}
	}
	e := &reconcile.Existing{}
	lacks := []schema.FieldError{{Field: "name", Message: "required"}}
	for _, tc := range []struct {
		name         string
		found        *reconcile.Existing
		cannotCreate []schema.FieldError
		want         bool
	}{
		{"new key, complete: inserted", nil, nil, true},
		{"known to exist: read, not inserted", e, nil, false},
		{"lacks what creating needs: read, not inserted", nil, lacks, false},
		{"both", e, lacks, false},
	} {
		if got := insertable(tc.found, tc.cannotCreate); got != tc.want {
			t.Errorf("%s: insertable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Once most rows of an import's last chunk had existing keys, the writer
// reads its next chunk first.
func TestMostlyExisting(t *testing.T) {
	var w writer
	if w.mostlyExisting("t.imp") {
		t.Error("an import never seen reads first")
	}
	w.noteExisting("t.imp", 0, 0) // an empty chunk teaches nothing
	w.noteExisting("t.imp", 3, 4)
	if !w.mostlyExisting("t.imp") {
		t.Error("3 of 4 existing: should read first")
	}
	w.noteExisting("t.imp", 2, 4)
	if w.mostlyExisting("t.imp") {
		t.Error("2 of 4 existing: should insert first")
	}
	if w.mostlyExisting("t.other") {
		t.Error("another import's share counted")
	}
}

// A record the database refused fails its row with the database's words.
func TestRefusedOutcome(t *testing.T) {
	got := refusedOutcome(7, &store.Refusal{Code: 2, Message: "invalid value: { \"m\": [ [ 1.0 ] ] } (nested arrays are not supported)"})
	want := envelope.Outcome{Row: 7, Result: envelope.Failed, Problems: []envelope.Problem{
		{Code: envelope.CodeDatabase, Message: "the database refused this record: invalid value: { \"m\": [ [ 1.0 ] ] } (nested arrays are not supported)"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
