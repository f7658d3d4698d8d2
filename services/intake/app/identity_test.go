package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// A contact is found through either of its key fields, whatever key the
// import uses (issue 18): an import keyed by phone updates the contacts
// created under email, those stored by the version before handles were
// kept for contacts too (written here as it wrote them) among them, and
// creates only the new ones, under their phone (the first import by
// email took the path without the handle index; the one by phone starts
// it and finds them all); a row giving a contact another's phone fails
// nothing, and that phone, two contacts' now, finds neither; two rows of
// one file finding one contact through two phones: the later is a conflict; a replace keyed by phone of two
// contacts created under email keeps them and deletes only the others,
// its dry run saying so first. With
// chunks of two rows; on the embedded default, with every chunk of every
// stage processed twice (a crash after the writes), and over the wire.
func TestRecordFoundThroughAnyKeyField(t *testing.T) {
	for _, name := range []string{"embedded", "every chunk twice", "over the wire"} {
		t.Run(name, func(t *testing.T) {
			s := startSystem(t, t.TempDir(), func(c *app.Config) {
				c.ChunkSize = 2
				switch name {
				case "every chunk twice":
					c.Runner.Crash = func(m runner.Msg) bool { return m.NumDelivered == 1 }
				case "over the wire":
					overTheWire(t, c)
				}
			})
			recordFoundThroughAnyKeyField(t, s)
		})
	}
}

func recordFoundThroughAnyKeyField(t *testing.T, s *system) {
	// Stored by the earlier version: a record and no handle.
	old := store.New(s.mongo, "intake", nil)
	legacy := []store.NewRecord{{ID: "email:old@x.io", Fields: map[string]any{"name": "Old", "email": "old@x.io", "phone": "+12015550001"}, Stamp: reconcile.Stamp{Import: "imp_earlier", Row: 2}}}
	if _, err := old.InsertRecords(context.Background(), "default", "contacts", legacy); err != nil {
		t.Fatal(err)
	}
	s.importWant(t, "by email", "name,email,phone\nAnn,ann@x.io,+12015559999\nBob,bob@x.io,+12015550002\nCid,cid@x.io,+12015550003\n",
		nil, [5]int{3, 0, 0, 0, 0})

	s.importWant(t, "by phone", "name,phone\nAnn P,+12015559999\nOld P,+12015550001\nNew,+12015550009\nBob,+12015550002\n",
		map[string]string{"key": "phone", "mode": "upsert"}, [5]int{1, 2, 1, 0, 0})
	want := map[string]string{"email:ann@x.io": "Ann P", "email:bob@x.io": "Bob", "email:cid@x.io": "Cid", "email:old@x.io": "Old P", "phone:+12015550009": "New"}
	names := func() map[string]string {
		got := map[string]string{}
		for id, d := range s.records("default", "contacts") {
			got[id], _ = d["name"].(string)
		}
		return got
	}
	if got := names(); !sameNames(got, want) {
		t.Fatalf("after the import by phone: %v, want %v", got, want)
	}

	// Row 2 gives bob ann's phone, row 5 dee cid's: those phones are two
	// contacts' now. No row fails of it: the import's key decides.
	v := s.importWant(t, "shared phones", "name,email,phone\nBob E,bob@x.io,+12015559999\nCid E,cid@x.io,+12015550003\nCid F,cid@x.io,+12015550003\nDee,dee@x.io,+12015550003\n",
		map[string]string{"mode": "upsert"}, [5]int{1, 2, 1, 0, 0})
	var skipped struct{ Errors []ingest.RowError }
	s.getInto("/v1/imports/"+v.ID+"/errors?result=skipped", &skipped)
	if len(skipped.Errors) != 1 || skipped.Errors[0].Row != 4 || skipped.Errors[0].Code != "duplicate" {
		t.Fatalf("shared phones: skipped %+v, want row 4 (row 3's email) a duplicate, as ever", skipped.Errors)
	}
	want["email:bob@x.io"], want["email:cid@x.io"], want["email:dee@x.io"] = "Bob E", "Cid E", "Dee"
	if got := names(); !sameNames(got, want) {
		t.Fatalf("after the shared phones: %v, want %v", got, want)
	}
	// A phone two contacts have finds neither.
	v = s.importWant(t, "by a shared phone", "name,phone\nCid G,+12015550003\n", map[string]string{"key": "phone", "mode": "upsert"}, [5]int{0, 0, 0, 1, 0})
	if v.Errors[0].Code != "conflict" || !strings.Contains(v.Errors[0].Message, "belongs to several records") {
		t.Fatalf("by a shared phone: %+v", v.Errors)
	}

	// Ann's new phones find her: two rows of one file finding her through
	// both are a conflict on the later.
	s.importWant(t, "a new phone", "name,email,phone\nAnn R,ann@x.io,+12015559998\n", map[string]string{"mode": "upsert"}, [5]int{0, 1, 0, 0, 0})
	s.importWant(t, "another new phone", "name,email,phone\nAnn R,ann@x.io,+12015559997\n", map[string]string{"mode": "upsert"}, [5]int{0, 1, 0, 0, 0})
	v = s.importWant(t, "one record twice", "name,phone\nAnn S,+12015559998\nAnn T,+12015559997\n",
		map[string]string{"mode": "upsert", "key": "phone"}, [5]int{0, 1, 0, 1, 0})
	if v.Errors[0].Row != 3 || v.Errors[0].Code != "conflict" || !strings.Contains(v.Errors[0].Message, "row 2 of this file") {
		t.Fatalf("one record twice: %+v", v.Errors)
	}
	want["email:ann@x.io"] = "Ann S"

	replace := "name,phone\nAnn S,+12015559998\nBob Z,+12015550002\n"
	s.importWant(t, "replace by phone, dry run", replace, map[string]string{"key": "phone", "mode": "replace", "dry_run": "true"}, [5]int{0, 1, 1, 0, 4})
	if got := names(); !sameNames(got, want) {
		t.Fatalf("after the dry run: %v, want %v", got, want)
	}
	s.importWant(t, "replace by phone", replace, map[string]string{"key": "phone", "mode": "replace"}, [5]int{0, 1, 1, 0, 4})
	want = map[string]string{"email:ann@x.io": "Ann S", "email:bob@x.io": "Bob Z"}
	if got := names(); !sameNames(got, want) {
		t.Fatalf("after the replace: %v, want %v", got, want)
	}
}

func sameNames(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
