package reporter

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/store"
)

// Retention is how long finished imports' leftovers are kept. A zero
// duration means its default, a negative one keeps them for good.
type Retention struct {
	// Notes: an import's row notes (its skipped and failed rows with
	// their problems, import_rows) are removed this long after it
	// finished; its summary and counts stay.
	Notes time.Duration
	// Summaries: an import's summary is removed this long after it
	// finished (GET /v1/imports/{id} is then 404).
	Summaries time.Duration
	// Every is how often the sweep runs.
	Every time.Duration
}

// Retention defaults: `intake serve --notes-retention`, `--summary-retention`.
const (
	DefaultNotesRetention   = 30 * 24 * time.Hour
	DefaultSummaryRetention = 90 * 24 * time.Hour
	DefaultRetentionEvery   = 10 * time.Minute
)

func (r Retention) withDefaults() Retention {
	if r.Notes == 0 {
		r.Notes = DefaultNotesRetention
	}
	if r.Summaries == 0 {
		r.Summaries = DefaultSummaryRetention
	}
	if r.Every <= 0 {
		r.Every = DefaultRetentionEvery
	}
	return r
}

// sweepBatch is how many imports one sweep step deals with; a sweep takes
// steps until none is left.
const sweepBatch = 500

// RetentionStore is what the sweep needs of the store.
type RetentionStore interface {
	ReadSummary(ctx context.Context, id string) (*ledger.Summary, bool, error)
	RemoveRowNotes(ctx context.Context, finishedBefore time.Time, limit int) (int, error)
	RemoveSummaries(ctx context.Context, finishedBefore time.Time, limit int) (int, error)
	ClaimLogs(ctx context.Context) ([]store.ClaimLog, error)
	DropClaims(ctx context.Context, tenant, importID string) error
}

// sweepRetention runs sweepOnce every r.Every (and once at the start)
// until ctx ends. Every jobs instance sweeps; the removals are idempotent.
func sweepRetention(ctx context.Context, st RetentionStore, r Retention, log *zap.Logger) {
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		if err := sweepOnce(ctx, st, r, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("retention sweep failed; tried again later", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOnce removes, at now, the claim logs of finished imports whose drop
// was lost (the job that drops them normally does at the end; first, while
// their summaries still say they finished), then the row notes and
// summaries past their retention, in batches.
func sweepOnce(ctx context.Context, st RetentionStore, r Retention, now time.Time) error {
	logs, err := st.ClaimLogs(ctx)
	if err != nil {
		return err
	}
	for _, l := range logs {
		sum, found, err := st.ReadSummary(ctx, l.Import)
		if err != nil {
			return err
		}
		if found && sum.Tenant == l.Tenant && sum.Status != ledger.StatusProcessing {
			if err := st.DropClaims(ctx, l.Tenant, l.Import); err != nil {
				return err
			}
		}
	}
	steps := []struct {
		keep   time.Duration
		remove func(context.Context, time.Time, int) (int, error)
	}{{r.Notes, st.RemoveRowNotes}, {r.Summaries, st.RemoveSummaries}}
	for _, s := range steps {
		if s.keep < 0 {
			continue
		}
		for ctx.Err() == nil {
			n, err := s.remove(ctx, now.Add(-s.keep), sweepBatch)
			if err != nil {
				return err
			}
			if n < sweepBatch {
				break
			}
		}
	}
	return nil
}
