package reporter

import (
	"context"
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/store"
)

// The retention sweep removes, on a real FerretDB, the row notes of imports
// finished longer ago than the notes' retention (the summary stays, marked),
// the summaries finished longer ago than theirs (with their notes), and the
// claim logs of finished imports; it keeps everything else, and a second
// sweep changes nothing.
func TestRetentionSweep(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	day := 24 * time.Hour
	imported := func(id, status string, finishedAgo time.Duration) *ledger.Summary {
		t.Helper()
		sum := &ledger.Summary{ID: id, Tenant: "acme", Status: status, Total: 1, Counts: envelope.Counts{Failed: 1}, CreatedAt: now.Add(-finishedAgo - time.Hour)}
		if status != ledger.StatusProcessing {
			at := now.Add(-finishedAgo)
			sum.CompletedAt = &at
		}
		sum.MarkNoted(envelope.StageWrite, 0)
		if err := e.store.InsertRowDoc(ctx, store.RowDoc{ID: store.RowDocID(id, envelope.StageWrite, 0), Import: id, Tenant: "acme",
			Rows: []envelope.Outcome{{Row: 2, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: "bad"}}}}}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SaveSummaryIf(ctx, sum, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.AppendClaims(ctx, "acme", id, store.ClaimEntry{Seq: 1, Keys: []string{"email:a@x.io"}, Rows: []int{2}}); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	old := imported("imp_old", ledger.StatusCompleted, 100*day)
	mid := imported("imp_mid", ledger.StatusFailed, 40*day)
	recent := imported("imp_recent", ledger.StatusCompleted, day)
	running := imported("imp_running", ledger.StatusProcessing, 0)

	r := Retention{Notes: 30 * day, Summaries: 90 * day, Every: time.Hour}
	for sweep := 1; sweep <= 2; sweep++ {
		if err := sweepOnce(ctx, e.store, r, now); err != nil {
			t.Fatalf("sweep %d: %v", sweep, err)
		}
		for _, tc := range []struct {
			sum                    *ledger.Summary
			summary, notes, claims bool
		}{
			{old, false, false, false},
			{mid, true, false, false},
			{recent, true, true, false},
			{running, true, true, true},
		} {
			stored, found, err := e.store.ReadSummary(ctx, tc.sum.ID)
			if err != nil {
				t.Fatal(err)
			}
			notes, err := e.store.RowNotes(ctx, tc.sum, "")
			if err != nil {
				t.Fatal(err)
			}
			claims, err := e.store.ReadClaims(ctx, "acme", tc.sum.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.summary || (len(notes) > 0) != tc.notes || (len(claims) > 0) != tc.claims {
				t.Errorf("sweep %d, %s: summary %v, notes %d, claims %d; want summary %v, notes %v, claims %v",
					sweep, tc.sum.ID, found, len(notes), len(claims), tc.summary, tc.notes, tc.claims)
			}
			if found && stored.NotesRemoved == tc.notes {
				t.Errorf("sweep %d, %s: notes_removed %v with notes %v", sweep, tc.sum.ID, stored.NotesRemoved, tc.notes)
			}
		}
	}
}
