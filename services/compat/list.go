package compat

import (
	"context"

	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/services/ingest"
)

// StoreLister lists imports from the store's summaries, for
// Config.ListImports: the same summaries GET /v1/imports lists, without
// row errors.
func StoreLister(st *store.Store) ListFunc {
	return func(ctx context.Context, tenant string, limit int) ([]ingest.ImportView, error) {
		sums, err := st.ListSummaries(ctx, tenant, limit)
		if err != nil {
			return nil, err
		}
		out := make([]ingest.ImportView, 0, len(sums))
		for i := range sums {
			s := &sums[i]
			v := ingest.ImportView{
				ID: s.ID, Tenant: s.Tenant, Status: s.Status,
				Schema: s.Options.Schema, Mode: s.Options.Mode, Key: s.Options.Key, DryRun: s.Options.DryRun, Source: s.Source,
				Total: s.Total, Processed: s.Counts.Sum(),
				Created: s.Counts.Created, Updated: s.Counts.Updated, Skipped: s.Counts.Skipped, Failed: s.Counts.Failed,
				Deleted: s.Deleted, Reason: s.Reason, Notice: s.Notice, CompletedAt: s.CompletedAt,
			}
			if !s.Sealed && v.Processed > v.Total {
				v.Total = v.Processed // rows known so far, as the native API shows them
			}
			if !s.CreatedAt.IsZero() {
				v.CreatedAt = &s.CreatedAt
			}
			if !s.UpdatedAt.IsZero() {
				v.UpdatedAt = &s.UpdatedAt
			}
			out = append(out, v)
		}
		return out, nil
	}
}
