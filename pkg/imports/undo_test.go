package imports_test

import (
	"errors"
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
)

// Which imports can be undone: another tenant's is not found; one still
// processing (also before the reporter summarised it), a dry run, an undo, one undone already (named) and one past
// the retention are refused; a finished one is undone once, and a second
// undo names the first; one whose undo failed may be undone again.
func TestUndoRefusals(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	now := time.Now().UTC()
	save := func(id string, change func(*ledger.Summary)) {
		sum := &ledger.Summary{ID: id, Tenant: "acme", Status: ledger.StatusCompleted, CreatedAt: now,
			Options: envelope.Options{Schema: "contacts", Mode: "upsert"}}
		if change != nil {
			change(sum)
		}
		if err := e.store.SaveSummary(ctx, sum); err != nil {
			t.Fatal(err)
		}
	}
	save("imp_done", nil)
	save("imp_busy", func(s *ledger.Summary) { s.Status = ledger.StatusProcessing })
	save("imp_dry", func(s *ledger.Summary) { s.Options.DryRun = true })
	save("imp_undo", func(s *ledger.Summary) { s.UndoOf = "imp_x" })
	save("imp_twice", func(s *ledger.Summary) { s.UndoneBy = "imp_first" })
	save("imp_old", func(s *ledger.Summary) { s.CreatedAt = now.Add(-8 * 24 * time.Hour) }) // the rows retention is 7 days
	save("imp_retry", func(s *ledger.Summary) { s.UndoneBy = "imp_failedundo" })
	save("imp_failedundo", func(s *ledger.Summary) { s.UndoOf, s.Status = "imp_retry", ledger.StatusFailed })
	opts := envelope.Options{Schema: "contacts", Mode: "upsert"} // opened, not yet summarised by the reporter
	e.publish(t, func() ([]runner.Output, error) {
		return platform.OpenedOutputs(envelope.Accounting{Tenant: "acme", Import: "imp_opened", Options: &opts})
	})

	for _, tc := range []struct {
		tenant, id string
		status     int
		named      string
	}{
		{"other", "imp_done", 404, ""},
		{"acme", "imp_none", 404, ""},
		{"acme", "imp_busy", 409, ""},
		{"acme", "imp_opened", 409, ""},
		{"acme", "imp_dry", 409, ""},
		{"acme", "imp_undo", 409, ""},
		{"acme", "imp_twice", 409, "imp_first"},
		{"acme", "imp_old", 410, ""},
	} {
		_, err := e.svc.Undo(ctx, tc.tenant, tc.id, false)
		var re *imports.RequestError
		if !errors.As(err, &re) || re.Status != tc.status || re.ImportID != tc.named {
			t.Errorf("undo %s/%s: %v, want %d naming %q", tc.tenant, tc.id, err, tc.status, tc.named)
		}
	}

	// An import whose undo failed (never run within the timeout) can be undone again.
	if again, err := e.svc.Undo(ctx, "acme", "imp_retry", false); err != nil || again.UndoOf != "imp_retry" {
		t.Fatalf("undo after a failed undo: %+v %v", again, err)
	}

	dry, err := e.svc.Undo(ctx, "acme", "imp_done", true)
	if err != nil || !dry.DryRun || dry.UndoOf != "imp_done" {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	first, err := e.svc.Undo(ctx, "acme", "imp_done", false)
	if err != nil || first.UndoOf != "imp_done" || first.Status != ledger.StatusProcessing || first.Mode != imports.ModeUndo {
		t.Fatalf("undo: %+v %v", first, err)
	}
	_, err = e.svc.Undo(ctx, "acme", "imp_done", false)
	var re *imports.RequestError
	if !errors.As(err, &re) || re.Status != 409 || re.ImportID != first.ID {
		t.Fatalf("second undo: %v, want 409 naming %s", err, first.ID)
	}
}
