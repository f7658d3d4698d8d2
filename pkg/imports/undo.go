package imports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/subjects"
)

// UndoStore is what an undo needs of the store beyond reading summaries:
// saving the undo's summary and naming it on the original, once.
type UndoStore interface {
	SaveSummary(ctx context.Context, sum *ledger.Summary) error
	MarkUndone(ctx context.Context, tenant, importID, undoID, replacing string) (first string, err error)
	UnmarkUndone(ctx context.Context, tenant, importID, undoID string) error
}

// ModeUndo is the mode an undo job's summary shows.
const ModeUndo = client.ModeUndo

// undoRefusal says why an import cannot be undone (a 409 or a 410), or ""
// when it can. retention 0 means the before-images never expire.
func undoRefusal(orig *ledger.Summary, retention time.Duration, now time.Time) (status int, msg string) {
	switch {
	case orig.UndoOf != "":
		return http.StatusConflict, "an undo cannot be undone; import the data again instead"
	case orig.Status == ledger.StatusProcessing:
		return http.StatusConflict, "the import is still processing; undo it once it has finished (or cancel it first)"
	case orig.Options.DryRun:
		return http.StatusConflict, "the import was a dry run: it wrote nothing, so there is nothing to undo"
	case orig.UndoneBy != "":
		return http.StatusConflict, fmt.Sprintf("the import was undone already, by %s", orig.UndoneBy)
	case retention > 0 && now.Sub(orig.CreatedAt) > retention:
		return http.StatusGone, fmt.Sprintf("the import is older than the retention (%s): what it changed is no longer kept, so it cannot be undone", retention)
	}
	return 0, ""
}

// Undo starts an undo job of a tenant's import (again, when its earlier
// undo failed): records it created are
// deleted, fields it updated set back, records its replace deleted stored
// again; records another import wrote since are kept. dryRun only counts
// what the undo would do. The answer is the undo's summary (an import of
// its own, mode "undo", undo_of the original), processing. Errors are
// *RequestError: 404 (unknown, another tenant's), 409 (see undoRefusal; a
// second undo names the first in ImportID), 410 (past the retention), 503.
func (s *Service) Undo(ctx context.Context, tenant, original string, dryRun bool) (client.Summary, error) {
	us, ok := s.store.(UndoStore)
	if !ok {
		return client.Summary{}, errors.New("this store cannot run undos")
	}
	orig, found, err := s.findSummary(ctx, tenant, original)
	if err == nil && !found {
		// Not summarised yet: an import opened a moment ago is processing.
		if _, opened, perr := s.pending(ctx, tenant, original); perr == nil && opened {
			return client.Summary{}, reqErr(http.StatusConflict, "the import is still processing; undo it once it has finished (or cancel it first)")
		}
	}
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && !found):
		return client.Summary{}, reqErr(http.StatusNotFound, "import not found")
	case err != nil:
		return client.Summary{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "cannot read the import: " + err.Error()}
	}
	// An undo that failed (its stage never ran it within --unsealed-timeout)
	// reversed what it could; another may finish the work.
	var replacing string
	if orig.UndoneBy != "" {
		prev, found, err := s.store.GetSummary(ctx, tenant, orig.UndoneBy)
		if err != nil {
			return client.Summary{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "cannot read the earlier undo: " + err.Error()}
		}
		if found && prev.Status == ledger.StatusFailed {
			replacing, orig.UndoneBy = orig.UndoneBy, ""
		}
	}
	if status, msg := undoRefusal(orig, s.rowsRetention(ctx), time.Now()); status != 0 {
		return client.Summary{}, &RequestError{Status: status, Message: msg, ImportID: orig.UndoneBy}
	}
	id := ids.NewImport()
	if !dryRun {
		first, err := us.MarkUndone(ctx, tenant, original, id, replacing)
		if err != nil {
			return client.Summary{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "the undo could not be stored; retry: " + err.Error()}
		}
		if first != id {
			return client.Summary{}, &RequestError{Status: http.StatusConflict, Message: "the import was undone already, by " + first, ImportID: first}
		}
	}
	now := time.Now().UTC()
	sum := &ledger.Summary{ID: id, Tenant: tenant, Status: ledger.StatusProcessing, UndoOf: original, Source: "undo of " + original,
		Options:   envelope.Options{Schema: orig.Options.Schema, Mode: ModeUndo, DryRun: dryRun},
		CreatedAt: now, UpdatedAt: now}
	err = us.SaveSummary(ctx, sum)
	if err == nil {
		req := envelope.UndoRequest{Tenant: tenant, Undo: id, Original: original, DryRun: dryRun, At: now}
		err = newWindow(s.js, 1).json(ctx, subjects.For(subjects.Undo, tenant, id), subjects.EventID(tenant, id, "undo"), req)
	}
	if err != nil {
		if !dryRun {
			if uerr := us.UnmarkUndone(ctx, tenant, original, id); uerr != nil {
				s.log.Error("undo not stored, and the import still names it", zap.String("import_id", original), zap.String("undo", id), zap.Error(uerr))
			}
		}
		return client.Summary{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "the undo could not be stored; retry: " + err.Error()}
	}
	s.log.Info("undo stored", zap.String("import_id", id), zap.String("undo_of", original), zap.String("tenant", tenant), zap.Bool("dry_run", dryRun))
	return ViewOf(sum).Summary, nil
}

// rowsRetention is how long the rows stream keeps an import's rows, which
// is also how long its before-images are kept (0: unknown, or forever).
func (s *Service) rowsRetention(ctx context.Context) time.Duration {
	st, err := s.js.Stream(ctx, subjects.StreamRows)
	if err != nil {
		return 0
	}
	return st.CachedInfo().Config.MaxAge
}
