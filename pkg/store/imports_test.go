package store

import (
	"context"
	"errors"
	"testing"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

// Row notes are found through the summary's per-stage bitsets, and through
// the id list that summaries saved by earlier versions carry.
func TestRowNotesFromBitsetsAndOldLists(t *testing.T) {
	client, ix := startFerret(t)
	s := New(client, "intake", ix)
	ctx := context.Background()
	note := func(id string, row int, result string) {
		t.Helper()
		if err := s.InsertRowDoc(ctx, RowDoc{ID: id, Import: "imp", Tenant: "t", Rows: []envelope.Outcome{{Row: row, Result: result}}}); err != nil {
			t.Fatal(err)
		}
	}
	sum := &ledger.Summary{ID: "imp", Tenant: "t", Status: ledger.StatusProcessing, RowDocs: []string{"imp:validate:0"}}
	note("imp:validate:0", 3, envelope.Failed)
	for _, c := range []struct {
		stage      string
		chunk, row int
	}{{"write", 0, 2}, {"write", 9, 5000}, {"dead-write", 17, 9000}} {
		note(RowDocID("imp", c.stage, c.chunk), c.row, envelope.Skipped)
		sum.MarkNoted(c.stage, c.chunk)
	}
	if err := s.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	saved, found, err := s.ReadSummary(ctx, "imp")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	all, err := s.RowNotes(ctx, saved, "")
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for _, o := range all {
		rows = append(rows, o.Row)
	}
	if len(rows) != 4 || rows[0] != 2 || rows[1] != 3 || rows[2] != 5000 || rows[3] != 9000 {
		t.Fatalf("rows noted = %v, want [2 3 5000 9000]", rows)
	}
	failed, err := s.RowNotes(ctx, saved, envelope.Failed)
	if err != nil || len(failed) != 1 || failed[0].Row != 3 {
		t.Fatalf("failed rows = %v, %v", failed, err)
	}
}

// An import is read, and its cancellation seen, only by its own tenant:
// another tenant asking for the same import ID finds nothing and is never
// cancelled by it. Both the embedded reader and the plain MongoDB path.
func TestSummaryAndCancelScopedByTenant(t *testing.T) {
	client, ix := startFerret(t)
	for name, s := range map[string]*Store{"embedded": New(client, "intake", ix), "plain": New(client, "intake_plain", nil)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.SaveSummary(ctx, &ledger.Summary{ID: "imp_1", Tenant: "globex", Status: ledger.StatusProcessing, Cancelled: true}); err != nil {
				t.Fatal(err)
			}
			if sum, found, err := s.GetSummary(ctx, "globex", "imp_1"); err != nil || !found || sum.Tenant != "globex" {
				t.Fatalf("globex's own import: %+v %v %v", sum, found, err)
			}
			if sum, found, err := s.GetSummary(ctx, "acme", "imp_1"); err != nil || found || sum != nil {
				t.Fatalf("acme reading globex's import: %+v %v %v", sum, found, err)
			}
			if sum, found, err := s.FindSummary(ctx, "acme", "imp_1"); !errors.Is(err, ErrOtherTenant) || found || sum != nil {
				t.Fatalf("FindSummary of globex's import for acme: %+v %v %v, want ErrOtherTenant", sum, found, err)
			}
			if sum, found, err := s.FindSummary(ctx, "acme", "imp_2"); err != nil || found || sum != nil {
				t.Fatalf("FindSummary of no import: %+v %v %v", sum, found, err)
			}
			if c, err := s.Cancelled(ctx, "globex", "imp_1"); err != nil || !c {
				t.Fatalf("globex's cancelled import: %v %v", c, err)
			}
			if c, err := s.Cancelled(ctx, "acme", "imp_1"); err != nil || c {
				t.Fatalf("acme's rows under globex's import ID cancelled: %v %v", c, err)
			}
		})
	}
}

// Claim logs are kept per tenant and import: the same import ID of two
// tenants has two logs.
func TestClaimsScopedByTenant(t *testing.T) {
	_, client := ferrettest.Start(t, "")
	s := New(client, "intake", nil)
	ctx := context.Background()
	if taken, err := s.AppendClaims(ctx, "acme", "imp_1", ClaimEntry{Seq: 1, Keys: []string{"email:ann@x.example"}, Rows: []int{2}}); err != nil || taken {
		t.Fatal(taken, err)
	}
	if keys, err := s.ClaimedKeys(ctx, "globex", "imp_1"); err != nil || len(keys) != 0 {
		t.Fatalf("globex's claims of imp_1: %v %v, want none", keys, err)
	}
	if taken, err := s.AppendClaims(ctx, "globex", "imp_1", ClaimEntry{Seq: 1, Keys: []string{"email:bob@x.example"}, Rows: []int{2}}); err != nil || taken {
		t.Fatalf("globex's first entry taken by acme's: %v %v", taken, err)
	}
	if keys, err := s.ClaimedKeys(ctx, "acme", "imp_1"); err != nil || len(keys) != 1 || !keys["email:ann@x.example"] {
		t.Fatalf("acme's claims: %v %v", keys, err)
	}
}
