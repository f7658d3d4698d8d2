package app_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

const strictContacts = `{"name": "contacts", "fields": [
	{"name": "name", "type": "string"},
	{"name": "email", "type": "email"},
	{"name": "company", "type": "string", "required": true}], "keys": ["email"]}`

const relaxedContacts = `{"name": "contacts", "fields": [
	{"name": "name", "type": "string"},
	{"name": "email", "type": "email"},
	{"name": "company", "type": "string"}], "keys": ["email"]}`

// After a schema rule changes, replaying an import turns its failed rows
// into created ones, reports exactly that, and says what it replays.
func TestReplayAfterSchemaChange(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	put := func(doc string) {
		if status, out := s.call("PUT", "/v1/schemas/contacts", nil, strings.NewReader(doc), "application/json"); status != 200 {
			t.Fatalf("put schema: %d %v", status, out)
		}
	}
	put(strictContacts)
	orig := s.importCSV("name,email,company\nAnn,ann@x.io,Acme\nBob,bob@x.io,\nCid,cid@x.io,\n", nil)
	if counts(orig) != [5]int{1, 0, 0, 2, 0} {
		t.Fatalf("original = %v", counts(orig))
	}
	put(relaxedContacts)

	replay := func(body string) map[string]any {
		status, out := s.call("POST", "/v1/imports/"+orig.ID+"/replay", nil, strings.NewReader(body), "application/json")
		if status != 202 || out["replay_of"] != orig.ID {
			t.Fatalf("replay: %d %v", status, out)
		}
		_, v := s.call("GET", "/v1/imports/"+out["id"].(string)+"?wait=10s", nil, nil, "")
		return v
	}
	// A dry run first: says what would happen, writes nothing.
	if v := replay(`{"dry_run": true}`); v["created"] != 2.0 || v["skipped"] != 1.0 || v["dry_run"] != true {
		t.Fatalf("dry-run replay = %v", v)
	}
	if n := len(s.records("default", "contacts")); n != 1 {
		t.Fatalf("the dry run wrote: %d records", n)
	}
	v := replay("")
	if v["status"] != "completed" || v["created"] != 2.0 || v["skipped"] != 1.0 || v["failed"] != 0.0 || v["total"] != 3.0 || v["replay_of"] != orig.ID {
		t.Fatalf("replay = %v, want Bob and Cid created, Ann unchanged", v)
	}
	if n := len(s.records("default", "contacts")); n != 3 {
		t.Fatalf("%d records after the replay, want 3", n)
	}
	if status, _ := s.call("POST", "/v1/imports/imp_unknown/replay", nil, nil, ""); status != 404 {
		t.Fatalf("replay of an unknown import: %d", status)
	}
}

// Replaying an import whose rows are past the retention says so.
func TestReplayPastRetention(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.RowsRetention = 2 * time.Second })
	v := s.importCSV("name,email\nAnn,ann@x.io\n", nil)
	nc, err := s.info.ConnectNATS()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	testenv.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		st, err := js.Stream(context.Background(), subjects.StreamRows)
		if err != nil {
			return err
		}
		info, err := st.Info(context.Background())
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return errNotExpired
		}
		return nil
	})
	status, out := s.call("POST", "/v1/imports/"+v.ID+"/replay", nil, nil, "")
	if status != 410 || !strings.Contains(out["error"].(string), "no longer kept") {
		t.Fatalf("replay past retention: %d %v", status, out)
	}
}

var errNotExpired = errorString("rows not expired yet")

type errorString string

func (e errorString) Error() string { return string(e) }

// Rebuilding records after a database restore: the window's imports are
// replayed from the stream; replaying the same window again changes nothing.
func TestReplayWindowTwice(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	first := s.importCSV("name,email\nAnn,ann@x.io\nBob,bob@x.io\n", nil)
	second := s.importCSV("name,email\nCid,cid@x.io\nbad,bad@\n", nil)
	// "Restore" an empty database: the records are gone, the stream is not.
	if _, err := s.mongo.Database("intake_records").Collection("records.default.contacts").DeleteMany(context.Background(), map[string]any{}); err != nil {
		t.Fatal(err)
	}
	replayWindow := func() []any {
		status, out := s.call("POST", "/v1/replay", nil, strings.NewReader(`{"since": "`+since+`"}`), "application/json")
		if status != 202 {
			t.Fatalf("replay window: %d %v", status, out)
		}
		return out["replays"].([]any)
	}
	sum := func(replays []any) [5]int {
		var total [5]int
		for _, r := range replays {
			_, v := s.call("GET", "/v1/imports/"+r.(map[string]any)["id"].(string)+"?wait=10s", nil, nil, "")
			for i, k := range []string{"created", "updated", "skipped", "failed", "deleted"} {
				total[i] += int(v[k].(float64))
			}
		}
		return total
	}
	replays := replayWindow()
	if len(replays) != 2 || replays[0].(map[string]any)["replay_of"] != first.ID || replays[1].(map[string]any)["replay_of"] != second.ID {
		t.Fatalf("replays = %v", replays)
	}
	if got := sum(replays); got != [5]int{3, 0, 0, 1, 0} {
		t.Fatalf("first replay of the window = %v, want the 3 records rebuilt and the bad row failing again", got)
	}
	if n := len(s.records("default", "contacts")); n != 3 {
		t.Fatalf("%d records after the rebuild", n)
	}
	// The replays are not replayed again; the originals find nothing to change.
	again := replayWindow()
	if len(again) != 2 {
		t.Fatalf("second window replayed %d imports: %v", len(again), again)
	}
	if got := sum(again); got != [5]int{0, 0, 3, 1, 0} {
		t.Fatalf("second replay of the window = %v, want nothing changed", got)
	}
}

// Rebuilding an emptied database from a window reproduces what happened:
// each import runs again with its own mode, one after another, every row
// gets the outcome it got the first time (an insert's refusal, an update's
// skip, a replace's deletion), and every record comes back as it was, its
// provenance naming the replays of the imports that wrote it.
func TestReplayWindowRebuildsWhatHappened(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	originals := []ingest.ImportView{
		s.importCSV("name,email,company\nAnn,ann@x.io,A\nBob,bob@x.io,B\nCid,cid@x.io,C\n", map[string]string{"mode": "insert"}),
		s.importCSV("name,email\nAnn Again,ann@x.io\nDee,dee@x.io\n", map[string]string{"mode": "insert"}),              // ann refused
		s.importCSV("name,email\nBob Two,bob@x.io\nZed,zed@x.io\n", map[string]string{"mode": "update"}),                // zed skipped
		s.importCSV("name,email\nAnn,ann@x.io\nBob Two,bob@x.io\nDee,dee@x.io\n", map[string]string{"mode": "replace"}), // cid deleted
		s.importCSV("name,email\nEve,eve@x.io\n", map[string]string{"mode": "upsert", "dry_run": "true"}),               // wrote nothing: not replayed
	}
	want := [][5]int{{3, 0, 0, 0, 0}, {1, 0, 0, 1, 0}, {0, 1, 1, 0, 0}, {0, 0, 3, 0, 1}, {1, 0, 0, 0, 0}}
	for i, v := range originals {
		if counts(v) != want[i] {
			t.Fatalf("original %d = %v, want %v", i, counts(v), want[i])
		}
	}
	before := s.records("default", "contacts")
	if _, err := s.mongo.Database("intake_records").Collection("records.default.contacts").DeleteMany(context.Background(), map[string]any{}); err != nil {
		t.Fatal(err)
	}

	status, out := s.call("POST", "/v1/replay", nil, strings.NewReader(`{"since": "`+since+`"}`), "application/json")
	if status != 202 {
		t.Fatalf("replay window: %d %v", status, out)
	}
	replays := out["replays"].([]any)
	if len(replays) != 4 {
		t.Fatalf("replayed %d imports, want the 4 that wrote (not the dry run): %v", len(replays), replays)
	}
	replayOf := map[string]string{}
	for i, r := range replays {
		r := r.(map[string]any)
		id := r["id"].(string)
		if r["replay_of"] != originals[i].ID || r["status"] != "completed" {
			t.Fatalf("replay %d = %v, want %s, completed, in order", i, r, originals[i].ID)
		}
		replayOf[id] = originals[i].ID
		if got := counts(s.summary(id, "")); got != want[i] {
			t.Errorf("replay of import %d = %v, the original was %v", i, got, want[i])
		}
	}

	after := s.records("default", "contacts")
	comparable := func(d bson.M, asOriginal map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range d {
			if strings.HasPrefix(k, "_intake") && strings.HasSuffix(k, "_at") {
				continue // timestamps aside
			}
			text := fmt.Sprint(v)
			for replay, orig := range asOriginal {
				text = strings.ReplaceAll(text, replay, orig)
			}
			out[k] = text
		}
		return out
	}
	if len(after) != len(before) {
		t.Fatalf("%d records rebuilt, %d before: %v", len(after), len(before), after)
	}
	for id, d := range before {
		got, ok := after[id]
		if !ok {
			t.Errorf("record %s not rebuilt", id)
			continue
		}
		if w, g := comparable(d, nil), comparable(got, replayOf); !reflect.DeepEqual(w, g) {
			t.Errorf("record %s rebuilt as %v, was %v", id, g, w)
		}
	}
}

// A window with an import that cannot be reproduced (cancelled, failed, or
// validated with a schema registered again since) is refused before
// anything runs, with the reason; with a mode it is replayed regardless.
func TestReplayWindowRefusesWhatItCannotReproduce(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	s.importCSV("name,email\nAnn,ann@x.io\n", nil)
	schema := `{"name": "contacts", "fields": [{"name": "name", "type": "string"}, {"name": "email", "type": "email"}], "keys": ["email"]}`
	if status, out := s.call("PUT", "/v1/schemas/contacts", nil, strings.NewReader(schema), "application/json"); status != 200 && status != 201 {
		t.Fatalf("register the schema again: %d %v", status, out)
	}
	status, out := s.call("POST", "/v1/replay", nil, strings.NewReader(`{"since": "`+since+`"}`), "application/json")
	if msg, _ := out["error"].(string); status != 409 || !strings.Contains(msg, "schema contacts was registered again") || !strings.Contains(msg, "mode") {
		t.Fatalf("window after a schema change: %d %v, want 409 naming the change and the way out", status, out)
	}
	status, out = s.call("POST", "/v1/replay", nil, strings.NewReader(`{"since": "`+since+`", "mode": "upsert"}`), "application/json")
	if replays, _ := out["replays"].([]any); status != 202 || len(replays) != 1 {
		t.Fatalf("window in upsert mode: %d %v, want the import replayed", status, out)
	}
}
