package undo

import (
	"fmt"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/store"
)

// The undo's decisions, pure: the job reads and writes, these decide.

// action is what the undo writes for one record.
type action int

const (
	none     action = iota // nothing to write: already reversed, or kept
	remove                 // delete the record the import created
	restore                // set the fields the import updated back
	reinsert               // store again the record the import's replace deleted
)

// Results of one record of an undo.
const (
	reversed = "reversed"
	kept     = "kept"
	failed   = "failed"
)

// decision is what becomes of one record: the write, and the result it
// has once written (by: the import that wrote the record since, for kept).
type decision struct {
	act    action
	result string
	by     string
}

// decide decides one record of the original import from its before-image
// (img) and the record as stored now (nil: not stored; only its stamps count).
// Whatever the undo already did shows in the record (its writes are stamped
// with the undo's id, a deleted record is gone), so deciding again after a
// crash gives the same result without writing twice.
func decide(img store.BeforeImage, cur *reconcile.Existing, original, undoID string) decision {
	if cur != nil && cur.Last.Import == undoID {
		return decision{result: reversed} // restored or stored again by this undo
	}
	createdByOriginal := img.Kind == store.ImageCreated || (cur != nil && cur.Created.Import == original)
	switch {
	case img.Kind == store.ImageDeleted && cur == nil:
		return decision{act: reinsert, result: reversed}
	case img.Kind == store.ImageDeleted:
		return decision{result: kept, by: cur.Last.Import} // created again since
	case createdByOriginal && cur == nil:
		return decision{result: reversed} // gone: deleted by this undo, or since
	case cur == nil:
		return decision{result: kept} // deleted since (by a replace)
	case cur.Last.Import != original:
		return decision{result: kept, by: cur.Last.Import}
	case createdByOriginal:
		return decision{act: remove, result: reversed}
	default:
		return decision{act: restore, result: reversed}
	}
}

// keptNote is a kept record's note for GET /v1/imports/{undo}/errors: the
// row of the original that wrote it, and who wrote it since.
func keptNote(img store.BeforeImage, by string) envelope.Outcome {
	msg := fmt.Sprintf("record %s was kept as it is: import %s wrote it after the import being undone", img.Record, by)
	if by == "" {
		msg = fmt.Sprintf("record %s was kept: it was deleted after the import being undone", img.Record)
	}
	return envelope.Outcome{Row: img.Row, Result: envelope.Skipped, Problems: []envelope.Problem{{Code: envelope.CodeChanged, Message: msg}}}
}

// failedNote is the note of a record the database refused to write back.
func failedNote(img store.BeforeImage, reason string) envelope.Outcome {
	return envelope.Outcome{Row: img.Row, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeDatabase,
		Message: fmt.Sprintf("record %s could not be reversed: the database refused it: %s", img.Record, reason)}}}
}

// tally counts an undo's records by result.
type tally struct{ reversed, kept, failed int }

func (t *tally) add(result string) {
	switch result {
	case reversed:
		t.reversed++
	case kept:
		t.kept++
	default:
		t.failed++
	}
}
