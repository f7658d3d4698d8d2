package imports

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/subjects"
)

// ErrNotFound is the answer for an unknown import or another tenant's.
var ErrNotFound = errors.New("import not found")

// FinishedError refuses to change an import that has already ended, or
// whose rows are all counted and whose replace deletions are under way
// (Deleting; Status is then still processing).
type FinishedError struct {
	Status   string
	Deleting bool
}

func (e *FinishedError) Error() string {
	if e.Deleting {
		return "every row of the import is accounted for and its replace deletions are under way: too late to cancel"
	}
	return "the import has already finished (" + e.Status + ")"
}

// Cancel asks the reporter to end an import: rows not yet written fail,
// rows already written stay, nothing is deleted (replace mode), and the
// import ends "cancelled" once every row is accounted for. Errors:
// ErrNotFound, *FinishedError, or the store or broker being unavailable.
func (s *Service) Cancel(ctx context.Context, tenant, id string) error {
	if ids.ValidImport(id) != nil {
		return ErrNotFound
	}
	sum, found, err := s.store.GetSummary(ctx, tenant, id)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read the import: %w", err)
	case !found:
		return ErrNotFound
	case sum.Status != ledger.StatusProcessing:
		return &FinishedError{Status: sum.Status}
	case sum.Deleting():
		return &FinishedError{Status: sum.Status, Deleting: true}
	}
	acc := envelope.Accounting{Kind: envelope.KindCancel, Tenant: tenant, Import: id, At: time.Now().UTC()}
	if err := newWindow(s.js, 1).json(ctx, subjects.For(subjects.Outcomes, tenant, id), subjects.MsgID(tenant, id, "cancel", 0), acc); err != nil {
		return fmt.Errorf("the cancel could not be stored; retry: %w", err)
	}
	return nil
}
