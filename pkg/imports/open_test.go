package imports_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/ledger"
)

// Open checks options and header as Submit does and announces the import so
// that its summary reads it at once; Seal stores the row count, accepts the
// same seal again and refuses a different one, another tenant's import
// and one never opened.
func TestOpenAndSeal(t *testing.T) {
	e := start(t)
	svc := submitter(t, e)
	ctx := ctxT(t)

	bad := envelope.Options{Schema: "nope"}
	var re *imports.RequestError
	if _, err := svc.CheckOpen(ctx, "acme", &bad, nil); !errors.As(err, &re) || re.Status != http.StatusBadRequest {
		t.Errorf("unknown schema: %v, want a 400 RequestError", err)
	}
	opts := envelope.Options{Schema: "people"}
	if _, err := svc.CheckOpen(ctx, "acme", &opts, []string{"x", "y"}); !errors.As(err, &re) || re.Status != http.StatusBadRequest {
		t.Errorf("header matching no field: %v, want a 400 RequestError", err)
	}
	if _, err := svc.CheckOpen(ctx, "acme", &opts, []string{"email", "name"}); err != nil || opts.Mode == "" || opts.Key != "email" {
		t.Fatalf("good options: %v, defaults not filled in: %+v", err, opts)
	}

	if err := svc.Open(ctx, "acme", "imp_o", opts, "crm", nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Open(ctx, "acme", "imp_o", opts, "crm", nil); err != nil {
		t.Fatalf("opening again (same message IDs): %v", err)
	}
	v, found, err := e.svc.Summary(ctx, "acme", "imp_o", 0)
	if err != nil || !found || v.Schema != "people" || v.Key != "email" || v.Sealed {
		t.Fatalf("opened: %+v %v %v", v, found, err)
	}

	if err := svc.Seal(ctx, "acme", "imp_none", 1, ""); !errors.Is(err, imports.ErrNotFound) {
		t.Errorf("never opened: %v, want ErrNotFound", err)
	}
	if err := svc.Seal(ctx, "other", "imp_o", 1, ""); !errors.Is(err, imports.ErrNotFound) {
		t.Errorf("another tenant's: %v, want ErrNotFound", err)
	}
	if err := svc.Seal(ctx, "acme", "imp_o", 4, ""); err != nil {
		t.Fatal(err)
	}
	v, found, err = e.svc.Summary(ctx, "acme", "imp_o", 0)
	if err != nil || !found || !v.Sealed || v.Total != 4 {
		t.Fatalf("sealed: %+v %v %v", v, found, err)
	}

	// Once the reporter has summarised it: the same seal is a retry, another
	// total or an ended import a conflict.
	for _, s := range []*ledger.Summary{
		{ID: "imp_o", Tenant: "acme", Status: ledger.StatusProcessing, Sealed: true, Total: 4},
		{ID: "imp_end", Tenant: "acme", Status: ledger.StatusFailed, Reason: "r"},
	} {
		if err := e.store.SaveSummary(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Seal(ctx, "acme", "imp_o", 4, ""); err != nil {
		t.Errorf("the same seal again: %v, want a retry that succeeds", err)
	}
	for _, tc := range []struct {
		id    string
		total int
	}{{"imp_o", 5}, {"imp_end", 1}} {
		if err := svc.Seal(ctx, "acme", tc.id, tc.total, ""); !errors.As(err, &re) || re.Status != client.CodeConflict {
			t.Errorf("seal %s with %d: %v, want a 409 RequestError", tc.id, tc.total, err)
		}
	}
}
