package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/services/ingest"
)

// importCSV uploads and waits for the summary.
func (s *system) importCSV(csv string, fields map[string]string) ingest.ImportView {
	s.t.Helper()
	status, body := s.upload([]byte(csv), fields)
	if status != 202 {
		s.t.Fatalf("upload: %d %v", status, body)
	}
	return s.waitDone(body["id"].(string), time.Minute)
}

// importWant is importCSV that fails t unless the counts (created,
// updated, skipped, failed, deleted) are want; what names the import.
func (s *system) importWant(t testing.TB, what, csv string, fields map[string]string, want [5]int) ingest.ImportView {
	t.Helper()
	v := s.importCSV(csv, fields)
	if counts(v) != want {
		t.Fatalf("%s = %v, want %v", what, counts(v), want)
	}
	return v
}

func counts(v ingest.ImportView) [5]int {
	return [5]int{v.Created, v.Updated, v.Skipped, v.Failed, v.Deleted}
}

func (s *system) names() map[string]string {
	out := map[string]string{}
	for id, d := range s.records("default", "contacts") {
		name, _ := d["name"].(string)
		out[strings.TrimPrefix(id, "email:")] = name
	}
	return out
}

const base = "name,email,company\nAnn,ann@x.io,A\nBob,bob@x.io,B\nCid,cid@x.io,C\n"

func TestModes(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	s.importWant(t, "insert into empty", base, map[string]string{"mode": "insert"}, [5]int{3, 0, 0, 0, 0})

	t.Run("insert fails existing keys", func(t *testing.T) {
		v := s.importCSV("name,email\nAnn Two,ann@x.io\nDee,dee@x.io\n", map[string]string{"mode": "insert"})
		if counts(v) != [5]int{1, 0, 0, 1, 0} || v.Errors[0].Row != 2 || !strings.Contains(v.Errors[0].Message, "already exists") {
			t.Fatalf("insert = %v %+v", counts(v), v.Errors)
		}
		if s.names()["ann@x.io"] != "Ann" {
			t.Fatal("insert mode changed an existing record")
		}
	})

	t.Run("upsert leaves absent fields alone", func(t *testing.T) {
		s.importWant(t, "upsert", "email,company\nann@x.io,A2\nbob@x.io,B\n", map[string]string{"mode": "upsert"}, [5]int{0, 1, 1, 0, 0})
		d := s.records("default", "contacts")["email:ann@x.io"]
		if d["name"] != "Ann" || d["company"] != "A2" {
			t.Fatalf("record after upsert = %v", d)
		}
	})

	t.Run("update skips missing and ignores empty cells", func(t *testing.T) {
		s.importWant(t, "update", "name,email,company\nBobby,bob@x.io,\nZed,zed@x.io,Z\n", map[string]string{"mode": "update"}, [5]int{0, 1, 1, 0, 0})
		d := s.records("default", "contacts")["email:bob@x.io"]
		if d["name"] != "Bobby" || d["company"] != "B" {
			t.Fatalf("record after update = %v (an empty cell must leave the field as it is)", d)
		}
		if _, ok := s.names()["zed@x.io"]; ok {
			t.Fatal("update mode created a record")
		}
	})

	t.Run("empty_means_clear clears fields", func(t *testing.T) {
		clearing := map[string]string{"mode": "update", "empty_means_clear": "true"}
		s.importWant(t, "update with empty_means_clear", "name,email,company\nBobby,bob@x.io,\n", clearing, [5]int{0, 1, 0, 0, 0})
		d := s.records("default", "contacts")["email:bob@x.io"]
		if _, has := d["company"]; has || d["name"] != "Bobby" {
			t.Fatalf("record = %v, want company cleared and name kept", d)
		}
		// Nothing left to clear: unchanged.
		s.importWant(t, "second clear", "name,email,company\nBobby,bob@x.io,\n", clearing, [5]int{0, 0, 1, 0, 0})
		if status, body := s.upload([]byte(base), map[string]string{"empty_means_clear": "maybe"}); status != 400 {
			t.Fatalf("a bad flag value: %d %v", status, body)
		}
	})

	t.Run("dry run writes nothing", func(t *testing.T) {
		before := s.names()
		v := s.importCSV("name,email\nAnn Dry,ann@x.io\nNew,new@x.io\n", map[string]string{"mode": "upsert", "dry_run": "true"})
		if counts(v) != [5]int{1, 1, 0, 0, 0} || !v.DryRun {
			t.Fatalf("dry run = %v dry_run=%v", counts(v), v.DryRun)
		}
		if after := s.names(); len(after) != len(before) || after["ann@x.io"] != before["ann@x.io"] {
			t.Fatalf("dry run wrote: %v -> %v", before, after)
		}
	})

	t.Run("replace with a failed row deletes nothing", func(t *testing.T) {
		n := len(s.names())
		v := s.importCSV("name,email\nAnn,ann@x.io\nBad,bad@\n", map[string]string{"mode": "replace"})
		if v.Status != "completed" || v.Deleted != 0 || !strings.Contains(v.Notice, "nothing was deleted") {
			t.Fatalf("replace with failures = %+v", v)
		}
		if len(s.names()) != n {
			t.Fatal("records were deleted")
		}
	})

	t.Run("replace dry run counts without deleting", func(t *testing.T) {
		n := len(s.names()) // ann, bob, cid, dee
		v := s.importCSV("name,email\nAnn,ann@x.io\n", map[string]string{"mode": "replace", "dry_run": "true"})
		if v.Deleted != n-1 || len(s.names()) != n {
			t.Fatalf("replace dry run: deleted %d of %d, %d records left", v.Deleted, n, len(s.names()))
		}
	})

	t.Run("replace removes untouched records", func(t *testing.T) {
		// 1 created, 1 unchanged, 3 deleted
		s.importWant(t, "replace", "name,email\nAnn,ann@x.io\nEve,eve@x.io\n", map[string]string{"mode": "replace"}, [5]int{1, 0, 1, 0, 3})
		got := s.names()
		if len(got) != 2 || got["ann@x.io"] != "Ann" || got["eve@x.io"] != "Eve" {
			t.Fatalf("records after replace = %v", got)
		}
	})
}

// A replace deletes only the records that existed when it started, that
// none of its rows touched and that no other import wrote meanwhile: while
// a replace holding only Ann is still streaming, another import creates
// Carol and updates Dave; the replace then deletes Bob alone.
func TestReplaceKeepsWhatOtherImportsWroteMeanwhile(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	if v := s.importCSV("name,email\nAnn,ann@x.io\nBob,bob@x.io\nDave,dave@x.io\n", map[string]string{"mode": "insert"}); counts(v) != [5]int{3, 0, 0, 0, 0} {
		t.Fatalf("setup = %v", counts(v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	replace := s.openOverNATS(ctx, client.OpenRequest{Tenant: "default", Schema: "contacts", Mode: "replace", Key: "email"})
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
