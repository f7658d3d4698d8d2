package deduplicator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// contacts is a schema with two key fields, email then phone, and the
// deduplicator's catalog of it.
func contacts(t testing.TB) (*schema.Schema, *schema.Registry) {
	t.Helper()
	s, err := schema.Parse([]byte(`{"name": "contacts", "keys": ["email", "phone"],
		"fields": [{"name": "email", "type": "email"}, {"name": "phone", "type": "phone", "region": "US"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	reg := schema.NewRegistry()
	reg.Put(s)
	return s, reg
}

// keyedChunk is a chunk of contacts rows keyed by key as the validator
// makes it: each row's key and the handles of its key fields.
func keyedChunk(s *schema.Schema, importID, key string, chunk int, rows ...map[string]any) []byte {
	ch := envelope.RecordChunk{Tenant: "t", Import: importID, Chunk: chunk,
		Options: envelope.Options{Schema: "contacts", Key: key, Mode: envelope.ModeUpsert}}
	for i, f := range rows {
		ch.Records = append(ch.Records, envelope.Record{Row: i + 2, Key: schema.Key(key, f), Fields: f, Handles: s.KeyHandles(key, f)})
	}
	data, _ := json.Marshal(ch)
	return data
}

// passed is what the deduplicator made of a chunk: each row's record
// (its Key on intake.unique) or its problem code and message.
func passed(t *testing.T, d *dedup, data []byte) map[int]string {
	t.Helper()
	outs, err := d.handle(context.Background(), runner.Msg{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, o := range outs {
		if strings.HasPrefix(o.Subject, "intake.unique.") {
			var ch envelope.RecordChunk
			if err := json.Unmarshal(o.Data, &ch); err != nil {
				t.Fatal(err)
			}
			for _, r := range ch.Records {
				got[r.Row] = r.Key
			}
			continue
		}
		var acc envelope.Accounting
		if err := json.Unmarshal(o.Data, &acc); err != nil {
			t.Fatal(err)
		}
		for _, oc := range acc.Outcomes {
			got[oc.Row] = oc.Problems[0].Code + ": " + oc.Problems[0].Message
		}
	}
	return got
}

// A record is found through any key field of its schema, whatever key
// the import uses, including records stored before handles were kept
// for such schemas (here: inserted as the writer did, with no handle);
// a row whose key fields point to two records fails as a conflict, and
// so does a row finding the record an earlier row of its import found
// through another field; a new record's _id is the import's key. A chunk
// processed again gets the same answers. On the embedded FerretDB and
// over the wire.
func TestRecordsFoundThroughAnyKeyField(t *testing.T) {
	f, client := ferrettest.Start(t, "")
	fast := f.FastPath()
	t.Cleanup(fast.Close)
	for _, path := range []struct {
		name string
		fast store.FastPath
	}{{"embedded", fast}, {"wire", nil}} {
		t.Run(path.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.New(client, "identity_"+path.name, path.fast)
			s, reg := contacts(t)
			legacy := []store.NewRecord{{ID: "email:ann@x.io", Fields: map[string]any{"email": "ann@x.io", "phone": "+12015559999"}, Stamp: reconcile.Stamp{Import: "old", Row: 2}}}
			if _, err := st.InsertRecords(ctx, "t", "contacts", legacy); err != nil {
				t.Fatal(err)
			}
			d := &dedup{store: st, schemas: catalog.New(reg, nil), tables: newTables()}

			byPhone := keyedChunk(s, "imp1", "phone", 1,
				map[string]any{"phone": "+12015559999"},                      // row 2: ann, stored under email
				map[string]any{"phone": "+12015550003", "email": "bob@x.io"}, // row 3: new
				map[string]any{"phone": "+12015550004", "email": "ann@x.io"}, // row 4: new (the key decides), ann's email now two records'
			)
			want := map[int]string{2: "email:ann@x.io", 3: "phone:+12015550003", 4: "phone:+12015550004"}
			for _, delivery := range []string{"first", "again"} {
				if got := passed(t, d, byPhone); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s delivery: %v, want %v", delivery, got, want)
				}
			}

			byEmail := keyedChunk(s, "imp2", "email", 1,
				map[string]any{"email": "bob@x.io", "phone": "+12015559999"},  // row 2: bob's email, ann's phone
				map[string]any{"email": "carl@x.io", "phone": "+12015559999"}, // row 3: new, with ann's phone
				map[string]any{"email": "dora@x.io"},                          // row 4: new
			)
			got := passed(t, d, byEmail)
			if !strings.HasPrefix(got[2], envelope.CodeConflict+": the key fields belong to different records") ||
				got[3] != "email:carl@x.io" || got[4] != "email:dora@x.io" {
				t.Fatalf("by email: %v", got)
			}
			// Ann's phone is carl's too now: it finds neither.
			got = passed(t, d, keyedChunk(s, "imp3", "phone", 1, map[string]any{"phone": "+12015559999"}))
			if got[2] != envelope.CodeConflict+": phone +12015559999 belongs to several records: import these rows by another key" {
				t.Fatalf("by a shared phone: %v", got)
			}
			// Carl's email is his record's _id: found once the writer has
			// stored it (no writer here), not recorded in the index.
			owners, err := st.HandleOwnership(ctx, "t", "contacts", []string{"phone:+12015559999", "email:bob@x.io", "email:carl@x.io", "email:ann@x.io"})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(owners) != "map[email:ann@x.io:{email:ann@x.io true} email:bob@x.io:{phone:+12015550003 false} phone:+12015559999:{email:ann@x.io true}]" {
				t.Fatalf("handle owners %v", owners)
			}
			// A new record's _id is not written to the index.
			if index, err := st.HandleOwners(ctx, "t", "contacts", []string{"phone:+12015550003", "email:carl@x.io"}); err != nil || len(index) != 0 {
				t.Fatalf("handle index: %v %v", index, err)
			}
		})
	}
}

// The rules deciding a row from the holders of its claims, by key field
// (its key, then the record it found) and on any handle.
func TestDuplicateOrConflict(t *testing.T) {
	keys := []string{"phone:+1", "email:rec@x.io", "email:a@x.io"}
	for _, c := range []struct {
		name    string
		holders []int
		byKey   bool
		want    string // result: code, or "" when the row goes on
	}{
		{"all its own, by key", []int{5, 5}, true, ""},
		{"key held by row 2, by key", []int{2, 5}, true, "skipped: duplicate"},
		{"key and record held by row 2, by key", []int{2, 2}, true, "skipped: duplicate"},
		{"the record found held, by key", []int{5, 3}, true, "failed: conflict"},
		{"all held by row 2, any handle", []int{2, 2, 2}, false, "skipped: duplicate"},
		{"some held by row 2, any handle", []int{2, 5, 5}, false, "failed: conflict"},
		{"all its own, any handle", []int{5, 5, 5}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, stop := duplicate(envelope.Record{Row: 5}, keys[:len(c.holders)], c.holders, c.byKey)
			got := ""
			if stop {
				got = o.Result + ": " + o.Problems[0].Code
			}
			if got != c.want {
				t.Fatalf("got %q, want %q (%+v)", got, c.want, o)
			}
		})
	}
}
