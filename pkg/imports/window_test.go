package imports

import (
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

func TestPlanWindowImport(t *testing.T) {
	ran := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	done := func(f func(s *ledger.Summary)) *ledger.Summary {
		s := &ledger.Summary{ID: "imp_1", Status: ledger.StatusCompleted, CreatedAt: ran, Options: envelope.Options{Schema: "contacts", Mode: envelope.ModeInsert}}
		f(s)
		return s
	}
	for _, tc := range []struct {
		name          string
		sum           *ledger.Summary
		schemaChanged time.Time
		replay        bool
		refuse        string // a part of the reason
	}{
		{"no summary kept: options from the rows", nil, time.Time{}, true, ""},
		{"completed", done(func(*ledger.Summary) {}), time.Time{}, true, ""},
		{"completed with rows failing for their content", done(func(s *ledger.Summary) { s.Counts.Failed = 3 }), time.Time{}, true, ""},
		{"schema registered before it ran", done(func(*ledger.Summary) {}), ran.Add(-time.Hour), true, ""},
		{"a replay itself", done(func(s *ledger.Summary) { s.ReplayOf = "imp_0" }), time.Time{}, false, ""},
		{"a dry run", done(func(s *ledger.Summary) { s.Options.DryRun = true }), time.Time{}, false, ""},
		{"still processing", done(func(s *ledger.Summary) { s.Status = ledger.StatusProcessing }), time.Time{}, false, "still processing"},
		{"cancelled", done(func(s *ledger.Summary) { s.Status = ledger.StatusCancelled }), time.Time{}, false, "was cancelled"},
		{"failed", done(func(s *ledger.Summary) { s.Status, s.Reason = ledger.StatusFailed, "timed out" }), time.Time{}, false, "failed (timed out)"},
		{"schema registered again after it ran", done(func(*ledger.Summary) {}), ran.Add(time.Minute), false, "schema contacts was registered again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replay, refuse := planWindowImport("imp_1", tc.sum, tc.schemaChanged)
			if replay != tc.replay || (tc.refuse == "") != (refuse == "") || !strings.Contains(refuse, tc.refuse) {
				t.Errorf("got replay %v, refuse %q; want replay %v, refuse containing %q", replay, refuse, tc.replay, tc.refuse)
			}
		})
	}
}
