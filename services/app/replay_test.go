package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/subjects"
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
	s := startSystem(t, t.TempDir(), func(c *Config) { c.RowsRetention = 2 * time.Second })
	v := s.importCSV("name,email\nAnn,ann@x.io\n", nil)
	nc, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	checkFor(t, 30*time.Second, 200*time.Millisecond, func() error {
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
