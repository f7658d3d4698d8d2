package reporter

import (
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

// deleting is a replace with 2,500 planned records, done of them dealt with.
func deleting(done int) *ledger.Summary {
	return &ledger.Summary{ID: "imp_1", Tenant: "acme", Status: ledger.StatusProcessing,
		Options: envelope.Options{Schema: "contacts", Mode: envelope.ModeReplace}, DeletePlan: &ledger.DeletePlan{Docs: 1, Count: 2500, Done: done}}
}

func TestDecideStep(t *testing.T) {
	step := func(from int) job { return job{Kind: jobDelete, Tenant: "acme", Import: "imp_1", From: from} }
	dry := deleting(0)
	dry.Options.DryRun = true
	done := deleting(2500)
	done.Status = ledger.StatusCompleted
	for _, tc := range []struct {
		name  string
		sum   *ledger.Summary
		found bool
		j     job
		want  stepAction
	}{
		{"no such import", nil, false, step(0), stepStale},
		{"another tenant's import", deleting(0), true, job{Kind: jobDelete, Tenant: "other", Import: "imp_1"}, stepStale},
		{"the first step", deleting(0), true, step(0), stepRun},
		{"the step at the progress", deleting(1000), true, step(1000), stepRun},
		{"the step before, redelivered after a crash: send the next again", deleting(2000), true, step(1000), stepResend},
		{"an older step: a later one is under way", deleting(2000), true, step(0), stepStale},
		{"a step ahead of the progress", deleting(1000), true, step(2000), stepStale},
		{"the last step, redelivered before the import was completed", deleting(2500), true, step(2000), stepFinish},
		{"the last step done, completion lost", deleting(2500), true, step(2500), stepFinish},
		{"completed before a crash: announce again", done, true, step(2000), stepAnnounce},
		{"a dry run deletes nothing", dry, true, step(0), stepStale},
		{"no plan", &ledger.Summary{Tenant: "acme", Status: ledger.StatusProcessing}, true, step(0), stepStale},
	} {
		if got := decideStep(tc.sum, tc.found, tc.j, 1000); got != tc.want {
			t.Errorf("%s: decideStep = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The count is what each batch lost, the notice what the plan kept.
func TestDeletionStepsCountWhatIsGone(t *testing.T) {
	sum := deleting(0)
	now := time.Now().UTC()
	advance(sum, 1000, 0, now)
	advance(sum, 1000, 2, now)
	advance(sum, 500, 1, now)
	if sum.DeletePlan.Done != 2500 || sum.Deleted != 2497 || sum.Status != ledger.StatusProcessing {
		t.Fatalf("after three steps: done %d, deleted %d, status %s; want 2500, 2497, processing", sum.DeletePlan.Done, sum.Deleted, sum.Status)
	}
	endDeleting(sum, now)
	if sum.Status != ledger.StatusCompleted || sum.CompletedAt == nil ||
		sum.Notice != "replace: 3 records were kept because another import wrote them while this one ran" {
		t.Fatalf("ended = %s, %v, %q", sum.Status, sum.CompletedAt, sum.Notice)
	}
}
