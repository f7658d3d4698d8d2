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
	"github.com/intake/intake/pkg/schema/schematest"
	"github.com/intake/intake/pkg/store"
)

// contacts is a schema with two key fields, email then phone, and the
// deduplicator's catalog of it.
func contacts(t testing.TB) (*schema.Schema, *schema.Registry) { return schematest.TwoKeyContacts(t) }

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
// a row giving its record another record's value of another key field
// makes it shared (it finds neither), a key value two records share fails
// the row as a conflict; a new record's _id is the import's key. A chunk
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
				map[string]any{"email": "bob@x.io", "phone": "+12015559999"},  // row 2: bob, given ann's phone: shared
				map[string]any{"email": "carl@x.io", "phone": "+12015559999"}, // row 3: new, with ann's phone
				map[string]any{"email": "dora@x.io"},                          // row 4: new
			)
			got := passed(t, d, byEmail)
			if got[2] != "phone:+12015550003" || got[3] != "email:carl@x.io" || got[4] != "email:dora@x.io" {
				t.Fatalf("by email: %v", got)
			}
			// Ann's phone is bob's and carl's too now: it finds none.
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

// While every record of a tenant's schema was created under the import's
// key, a chunk by it goes on without the handle index (nothing read or
// written there but the key-use marker, which names the key), flagged for
// the writer. A chunk by another key field that can create records names
// it first, starts the index and backfills it: the record created under
// email is found by its phone, and later chunks by email keep the index.
// A dry run by another key names nothing.
func TestKeyUseDecidesTheFastPath(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	s, reg := contacts(t)
	d := &dedup{store: st, schemas: catalog.New(reg, nil), tables: newTables()}
	pass := func(data []byte) envelope.RecordChunk {
		t.Helper()
		outs, err := d.handle(ctx, runner.Msg{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		var ch envelope.RecordChunk
		if err := json.Unmarshal(outs[0].Data, &ch); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	marker := func() string {
		t.Helper()
		use, _, err := st.KeyUse(ctx, "t", "contacts")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("used %v indexed %v backfilled %v", use.Used, use.Indexed, use.Backfilled)
	}
	ann := map[string]any{"email": "ann@x.io", "phone": "+12015559999"}
	if ch := pass(keyedChunk(s, "imp1", "email", 1, ann)); !ch.HandlesDeferred || ch.Records[0].Key != "email:ann@x.io" {
		t.Fatalf("by email, the one key in use: %+v", ch)
	}
	if _, err := st.InsertRecords(ctx, "t", "contacts", []store.NewRecord{{ID: "email:ann@x.io", Fields: ann}}); err != nil {
		t.Fatal(err) // as the writer stores it
	}
	if got := marker(); got != "used [email] indexed [] backfilled []" {
		t.Fatalf("after the chunk by email: %s", got)
	}
	if index, err := st.HandleOwners(ctx, "t", "contacts", []string{"email:ann@x.io", "phone:+12015559999"}); err != nil || len(index) != 0 {
		t.Fatalf("handle index after the fast path: %v %v", index, err)
	}
	dry := envelope.RecordChunk{}
	if err := json.Unmarshal(keyedChunk(s, "imp2", "phone", 1, map[string]any{"phone": "+12015550001"}), &dry); err != nil {
		t.Fatal(err)
	}
	dry.Options.DryRun = true
	data, _ := json.Marshal(dry)
	if ch := pass(data); ch.HandlesDeferred || ch.Records[0].Key != "phone:+12015550001" {
		t.Fatalf("a dry run by phone: %+v", ch)
	}
	if got := marker(); got != "used [email] indexed [email phone] backfilled [email phone]" {
		t.Fatalf("after a dry run by phone: %s", got)
	}
	if ch := pass(keyedChunk(s, "imp3", "phone", 1, map[string]any{"phone": "+12015559999", "email": "ann@x.io"})); ch.HandlesDeferred || ch.Records[0].Key != "email:ann@x.io" {
		t.Fatalf("by phone, ann's: %+v", ch)
	}
	if got := marker(); got != "used [email phone] indexed [email phone] backfilled [email phone]" {
		t.Fatalf("after the chunk by phone: %s", got)
	}
	bob := map[string]any{"email": "bob@x.io", "phone": "+12015550002"}
	if ch := pass(keyedChunk(s, "imp4", "email", 1, bob)); ch.HandlesDeferred {
		t.Fatalf("by email once the index is kept: %+v", ch)
	}
	if index, err := st.HandleOwners(ctx, "t", "contacts", []string{"phone:+12015550002"}); err != nil || index["phone:+12015550002"] != "email:bob@x.io" {
		t.Fatalf("bob's phone in the index: %v %v", index, err)
	}
}

// planKeys: the fast path while no index is kept and no record was created
// under another key field; a chunk that can create records names its key
// first; the index, once needed, is kept for every key field.
func TestPlanKeys(t *testing.T) {
	keys := []string{"email", "phone"}
	for _, c := range []struct {
		name    string
		use     store.KeyUse
		found   bool
		key     string
		creates bool
		want    string
	}{
		{"new schema", store.KeyUse{}, false, "email", true, "fast, add used [email] indexed []"},
		{"new schema, a dry run", store.KeyUse{}, false, "email", false, "fast, add used [] indexed []"},
		{"stored before markers, one key", store.KeyUse{Used: []string{"email"}}, false, "email", true, "fast, add used [email] indexed []"},
		{"stored before markers, two keys", store.KeyUse{Used: []string{"email", "phone"}}, false, "email", true, "index, add used [email phone] indexed [email phone]"},
		{"the key in use", store.KeyUse{Used: []string{"email"}}, true, "email", true, "fast, add used [] indexed []"},
		{"a second key", store.KeyUse{Used: []string{"email"}}, true, "phone", true, "index, add used [phone] indexed [email phone]"},
		{"an update by a second key", store.KeyUse{Used: []string{"email"}}, true, "phone", false, "index, add used [] indexed [email phone]"},
		{"the first key once indexed", store.KeyUse{Used: []string{"email"}, Indexed: keys}, true, "email", true, "index, add used [] indexed []"},
		{"a key field added to the schema", store.KeyUse{Used: keys, Indexed: keys[:1]}, true, "email", true, "index, add used [] indexed [email phone]"},
	} {
		p := planKeys(c.use, c.found, keys, c.key, c.creates)
		path := "index"
		if p.Fast {
			path = "fast"
		}
		if got := fmt.Sprintf("%s, add used %v indexed %v", path, p.Add.Used, p.Add.Indexed); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
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
