package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/reconcile"
)

// What a deletion step uses, on both paths: a batch of the plan never
// crosses a plan document; a batch delete keeps what was written since and
// answers the same count when redone; only the delivery that read the
// progress saves it.
func TestDeletionSteps(t *testing.T) {
	eachPath(t, "deletions", func(t *testing.T, ctx context.Context, s *Store) {
		keys := make([]string, 12_000)
		for i := range keys {
			keys[i] = fmt.Sprintf("k%05d", i)
		}
		plan, err := s.WritePlan(ctx, "imp_del", keys)
		if err != nil || plan.Docs != 2 || plan.Count != 12_000 {
			t.Fatalf("plan = %+v, %v", plan, err)
		}
		for _, tc := range []struct{ from, n, want int }{{0, 1000, 1000}, {9_500, 1000, 500}, {10_000, 1000, 1000}, {11_500, 1000, 500}, {12_000, 1000, 0}} {
			got, err := s.PlanBatch(ctx, "imp_del", plan, tc.from, tc.n)
			if err != nil || len(got) != tc.want || (tc.want > 0 && got[0] != keys[tc.from]) {
				t.Errorf("PlanBatch(%d, %d) = %d keys, %v; want %d from %s", tc.from, tc.n, len(got), err, tc.want, keys[tc.from%len(keys)])
			}
		}

		rec := func(id string) NewRecord {
			return NewRecord{ID: id, Fields: map[string]any{"name": id}, Stamp: reconcile.Stamp{Import: "before", Row: 2}}
		}
		if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{rec("ann"), rec("bob"), rec("dave")}); err != nil {
			t.Fatal(err)
		}
		since := nextMillisecond()
		//lint:ignore SA4017 it waits: the update below falls in a later millisecond than since
		nextMillisecond()
		if _, err := s.UpdateRecords(ctx, "t", "contacts", []FieldUpdate{{ID: "dave", Set: map[string]any{"name": "Dave Two"}, Stamp: reconcile.Stamp{Import: "other", Row: 3}}}); err != nil {
			t.Fatal(err)
		}
		for attempt := 1; attempt <= 2; attempt++ { // a step redone after a crash counts the same
			kept, err := s.DeleteRecordsUnchangedSince(ctx, "t", "contacts", "imp_replace", []string{"bob", "dave", "nobody"}, since)
			if err != nil || kept != 1 {
				t.Fatalf("attempt %d: kept %d, %v; want 1 (dave, written since)", attempt, kept, err)
			}
		}
		if got, err := s.GetRecords(ctx, "t", "contacts", []string{"ann", "bob", "dave"}); err != nil || len(got) != 2 || got["bob"] != nil {
			t.Fatalf("records after the batch: %v %v, want ann and dave", got, err)
		}

		sum := &ledger.Summary{ID: "imp_del", Tenant: "t", Status: ledger.StatusProcessing, LastSeq: 7, DeletePlan: plan}
		if err := s.SaveSummaryIf(ctx, sum, 0); err != nil {
			t.Fatal(err)
		}
		sum.DeletePlan.Done, sum.Deleted = 1000, 1000
		if err := s.SaveDeletionProgress(ctx, sum, 0); err != nil {
			t.Fatalf("first delivery's save: %v", err)
		}
		if err := s.SaveDeletionProgress(ctx, sum, 0); !errors.Is(err, ErrSummaryChanged) {
			t.Fatalf("second delivery's save = %v, want ErrSummaryChanged", err)
		}
		if stored, _, err := s.ReadSummary(ctx, "imp_del"); err != nil || stored.DeletePlan.Done != 1000 || stored.Deleted != 1000 {
			t.Fatalf("stored progress = %+v, %v", stored.DeletePlan, err)
		}
		if err := s.DropPlan(ctx, "imp_del", plan); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PlanBatch(ctx, "imp_del", plan, 0, 1000); err == nil {
			t.Fatal("the plan is still there after DropPlan")
		}
	})
}
