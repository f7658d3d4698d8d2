package app_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// undo posts POST /v1/imports/{id}/undo (query: "" or "?dry_run=true").
func (s *system) undo(id, query string) (int, map[string]any) {
	s.t.Helper()
	return s.call("POST", "/v1/imports/"+id+"/undo"+query, nil, nil, "")
}

// undoDone starts an undo that must be accepted and waits for its end.
func (s *system) undoDone(t *testing.T, id, query string) ingest.ImportView {
	t.Helper()
	status, body := s.undo(id, query)
	if status != 202 || body["undo_of"] != id || body["status"] != "processing" {
		t.Fatalf("undo %s%s: %d %v", id, query, status, body)
	}
	return s.waitDone(body["id"].(string), time.Minute)
}

// contactData is every contact's data, without _id and stamps, as printed
// with its fields sorted (every value of a contact is a string; the order
// of a document's fields means nothing).
func (s *system) contactData() map[string]string {
	out := map[string]string{}
	for id, d := range s.records("default", "contacts") {
		out[id] = fmt.Sprint(map[string]any(withoutStamp(d)))
	}
	return out
}

func undoCounts(v ingest.ImportView) [3]int { return [3]int{v.Reversed, v.Kept, v.Failed} }

// An upsert is undone over HTTP: the record it created is deleted, the
// fields it changed are set back and the field it added removed, and the
// record a later import wrote is kept and named. A dry run first changes
// nothing and counts the same; a second undo, and an undo of the undo, are
// refused with 409.
func TestUndoAnUpsert(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	upsert := map[string]string{"mode": "upsert"}
	s.importWant(t, "first", "name,email\nAnn,ann@x.io\nBob,bob@x.io\nCid,cid@x.io\n", upsert, [5]int{3, 0, 0, 0, 0})
	before := s.contactData()
	imp := s.importWant(t, "the import undone", "name,email,company\nAnn Two,ann@x.io,\nBob,bob@x.io,B\nCid Two,cid@x.io,\nDee,dee@x.io,D\n", upsert, [5]int{1, 3, 0, 0, 0})
	later := s.importWant(t, "a later import", "name,email\nCid Three,cid@x.io\n", upsert, [5]int{0, 1, 0, 0, 0})
	written := s.contactData()

	dry := s.undoDone(t, imp.ID, "?dry_run=true")
	if undoCounts(dry) != [3]int{3, 1, 0} || !dry.DryRun || dry.Status != "completed" {
		t.Fatalf("dry run = %v %+v", undoCounts(dry), dry)
	}
	if got := s.contactData(); !maps.Equal(got, written) {
		t.Fatalf("a dry run changed records: %v, want %v", got, written)
	}

	v := s.undoDone(t, imp.ID, "")
	if undoCounts(v) != [3]int{3, 1, 0} || v.Mode != "undo" || v.Status != "completed" {
		t.Fatalf("undo = %v %+v", undoCounts(v), v)
	}
	want := map[string]string{"email:ann@x.io": before["email:ann@x.io"], "email:bob@x.io": before["email:bob@x.io"], "email:cid@x.io": written["email:cid@x.io"]}
	if got := s.contactData(); !maps.Equal(got, want) {
		t.Fatalf("records after the undo: %v, want %v", got, want)
	}
	var kept struct{ Errors []client.RowError }
	s.getInto("/v1/imports/"+v.ID+"/errors?result=skipped", &kept)
	if len(kept.Errors) != 1 || kept.Errors[0].Row != 4 || kept.Errors[0].Code != "changed" || !strings.Contains(kept.Errors[0].Message, later.ID) {
		t.Fatalf("kept records = %+v, want cid@x.io (row 4) naming %s", kept.Errors, later.ID)
	}
	if got := s.summary(imp.ID, ""); got.UndoneBy != v.ID {
		t.Fatalf("the original's undone_by = %q, want %s", got.UndoneBy, v.ID)
	}

	for _, tc := range []struct {
		name, id string
		status   int
		says     string
	}{
		{"a second undo", imp.ID, 409, v.ID},
		{"an undo of the undo", v.ID, 409, "cannot be undone"},
		{"an unknown import", "imp_0000000000", 404, "not found"},
	} {
		status, body := s.undo(tc.id, "")
		if status != tc.status || !strings.Contains(body["error"].(string), tc.says) {
			t.Errorf("%s: %d %v, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	if status, body := s.undo(imp.ID, "?dry_run=maybe"); status != 400 {
		t.Errorf("dry_run=maybe: %d %v, want 400", status, body)
	}
	if got := s.contactData(); !maps.Equal(got, want) {
		t.Fatalf("a refused undo changed records: %v", got)
	}
}

// An import published over the NATS protocol (upstream) with mode replace is
// undone: the records its replace deleted come back whole, the one it
// created goes. Past the retention an undo is refused with 410.
func TestUndoAnUpstreamReplace(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.RowsRetention = 3 * time.Second })
	s.importWant(t, "first", "name,email,company\nAnn,ann@x.io,A\nBob,bob@x.io,B\nCid,cid@x.io,C\n", nil, [5]int{3, 0, 0, 0, 0})
	before := s.contactData()
	c, err := client.New(s.upstreamConn("default"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	im, err := c.Open(ctx, client.OpenRequest{Tenant: "default", Schema: "contacts", Mode: "replace", Header: []string{"name", "email", "company"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Publish(ctx, [][]string{{"Ann", "ann@x.io", "A"}, {"Eve", "eve@x.io", "E"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := im.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := im.Wait(ctx)
	if err != nil || rep.Created != 1 || rep.Deleted != 2 {
		t.Fatalf("replace = %+v, %v", rep, err)
	}
	v := s.undoDone(t, im.ID, "")
	if undoCounts(v) != [3]int{3, 0, 0} {
		t.Fatalf("undo of the replace = %v %+v, want 3 reversed (eve deleted, bob and cid back)", undoCounts(v), v)
	}
	if got := s.contactData(); !maps.Equal(got, before) {
		t.Fatalf("records after undoing the replace: %v, want %v", got, before)
	}
	old := s.importWant(t, "an import to let expire", "name,email\nFay,fay@x.io\n", nil, [5]int{1, 0, 0, 0, 0})
	testenv.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		status, body := s.undo(old.ID, "?dry_run=true")
		switch {
		case status == 202:
			return errNotExpired
		case status != 410 || !strings.Contains(body["error"].(string), "retention"):
			t.Fatalf("undo past the retention: %d %v", status, body)
		}
		return nil
	})
}
