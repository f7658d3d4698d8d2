package store

import (
	"context"
	"errors"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

// SaveSummaryIf writes only over the summary the caller read: of two
// reporters applying the same message, or different ones, to one import,
// the second write fails with ErrSummaryChanged and leaves the first's.
func TestSaveSummaryIfRefusesAStaleWrite(t *testing.T) {
	client, ix := startFerret(t)
	ctx := context.Background()
	for name, s := range map[string]*Store{"embedded": New(client, "intake", ix), "plain": New(client, "intake_plain", nil)} {
		t.Run(name, func(t *testing.T) {
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
}
