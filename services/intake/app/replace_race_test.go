package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/intake/intake/pkg/client"
)

// A replace deletes only the records that existed when it started, that
// none of its rows touched and that no other import wrote meanwhile: while
// a replace holding only Ann is still streaming, another import creates
// Carol and updates Dave; the replace then deletes Bob alone.
func TestReplaceKeepsWhatOtherImportsWroteMeanwhile(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	if v := s.importCSV("name,email\nAnn,ann@x.io\nBob,bob@x.io\nDave,dave@x.io\n", map[string]string{"mode": "insert"}); counts(v) != [5]int{3, 0, 0, 0, 0} {
		t.Fatalf("setup = %v", counts(v))
	}
	nc, err := s.info.ConnectNATS()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	replace, err := c.Open(ctx, client.OpenRequest{Tenant: "default", Schema: "contacts", Mode: "replace", Key: "email"})
	if err != nil {
		t.Fatal(err)
	}
	if err := replace.Publish(ctx, [][]string{{"Ann", "ann@x.io"}}, []string{"name", "email"}); err != nil {
		t.Fatal(err)
	}
	if err := replace.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Meanwhile, another import.
	if v := s.importCSV("name,email\nCarol,carol@x.io\nDave Two,dave@x.io\n", map[string]string{"mode": "upsert"}); counts(v) != [5]int{1, 1, 0, 0, 0} {
		t.Fatalf("the other import = %v, want carol created and dave updated", counts(v))
	}

	if err := replace.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	sum, err := replace.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != client.StatusCompleted || sum.Deleted != 1 || sum.Skipped != 1 {
		t.Fatalf("replace = %+v, want completed, ann unchanged, 1 deleted (bob)", sum.Summary)
	}
	want := map[string]string{"ann@x.io": "Ann", "carol@x.io": "Carol", "dave@x.io": "Dave Two"}
	if got := s.names(); len(got) != len(want) || got["ann@x.io"] != "Ann" || got["carol@x.io"] != "Carol" || got["dave@x.io"] != "Dave Two" {
		t.Fatalf("records after the replace = %v, want %v", got, want)
	}
}
