package writer

import (
	"fmt"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// The writer's decisions, pure: write reads and writes, these decide.

// disappeared: a record the insert found existing was gone when read.
// Transient: the chunk is tried again, and the insert then creates it.
type disappeared struct {
	key string
	row int
}

func (e *disappeared) Error() string {
	return fmt.Sprintf("record %s disappeared while importing row %d", e.key, e.row)
}

// cancelledMessage is every row's problem once its import was cancelled.
const cancelledMessage = "the import was cancelled before this row was written"

// cancelledOutcomes reports every record of a cancelled import's chunk as failed.
func cancelledOutcomes(recs []envelope.Record) []envelope.Outcome {
	rows := make([]int, len(recs))
	for i, r := range recs {
		rows[i] = r.Row
	}
	return envelope.FailedRows(rows, envelope.CodeCancelled, cancelledMessage)
}

// creates reports whether the writer inserts a chunk's new records before
// reading (insert-first): not in update mode, which never creates, nor in a
// dry run, which writes nothing; both read first.
func creates(opts envelope.Options) bool {
	return opts.Mode != envelope.ModeUpdate && !opts.DryRun
}

// insertable reports whether insert-first inserts a record: its key is not
// known to exist (found is what a read-first pass saw, nil if none) and it
// has what creating a record needs (cannotCreate lists what it lacks).
func insertable(found *reconcile.Existing, cannotCreate []schema.FieldError) bool {
	return found == nil && len(cannotCreate) == 0
}

// stampOf names the row r of importID as a record's writer.
func stampOf(importID string, r envelope.Record) reconcile.Stamp {
	return reconcile.Stamp{Import: importID, Row: r.Row}
}

// decideRow decides for a row the insert did not create: its key existed
// when inserted (e is then what was read for it), or the row was not
// inserted (update mode, a dry run, or cannotCreate non-empty: it lacks what
// creating a record needs). It returns the row's outcome and the update to
// write, nil when nothing is written; a dry run never writes. The error is
// a *disappeared when a record the insert saw existing is gone.
func decideRow(opts envelope.Options, importID string, r envelope.Record, cannotCreate []schema.FieldError, e *reconcile.Existing) (envelope.Outcome, *store.FieldUpdate, error) {
	this := stampOf(importID, r)
	var d reconcile.Decision
	switch {
	case e == nil && opts.Mode == envelope.ModeUpdate:
		d = reconcile.Missing(r.Key)
	case e == nil && len(cannotCreate) > 0:
		return cannotCreateOutcome(r.Row, cannotCreate), nil, nil
	case e == nil && opts.DryRun:
		d = reconcile.Decision{Result: envelope.Created}
	case e == nil:
		// Inserting saw it a moment ago; someone deleted it since. Try the
		// chunk again: the insert will now create it.
		return envelope.Outcome{}, nil, &disappeared{key: r.Key, row: r.Row}
	default:
		d = reconcile.ExistingRecord(opts.Mode, r.Key, this, r.Fields, r.Clear, e)
	}
	o := envelope.Outcome{Row: r.Row, Result: d.Result}
	if d.Message != "" {
		o.Problems = []envelope.Problem{{Code: d.Code, Message: d.Message}}
	}
	if (d.Set == nil && d.Unset == nil) || opts.DryRun {
		return o, nil, nil
	}
	return o, &store.FieldUpdate{ID: r.Key, Set: d.Set, Unset: d.Unset, Stamp: this}, nil
}

// cannotCreateOutcome fails a row that matches no record and lacks what
// creating one needs, with a problem per missing field.
func cannotCreateOutcome(row int, errs []schema.FieldError) envelope.Outcome {
	o := envelope.Outcome{Row: row, Result: envelope.Failed}
	for _, fe := range errs {
		o.Problems = append(o.Problems, envelope.Problem{Field: fe.Field, Code: envelope.CodeValidation, Message: fe.Message})
	}
	return o
}

// refusedMessage begins the problem of a row whose record the database
// refused; the database's own reason follows.
const refusedMessage = "the database refused this record"

// refusedOutcome fails a row whose record the database refused to store.
// The same record is refused on every delivery of its chunk, so the row
// fails alone and the same way each time; the chunk's other rows stand.
func refusedOutcome(row int, r *store.Refusal) envelope.Outcome {
	return envelope.Outcome{Row: row, Result: envelope.Failed,
		Problems: []envelope.Problem{{Code: envelope.CodeDatabase, Message: fmt.Sprintf("%s: %s", refusedMessage, r.Message)}}}
}
