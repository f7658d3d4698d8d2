package store

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/reconcile"
)

// FerretDB creates every index the store asks for, on the embedded default
// and over the wire, and asking again (the next start) changes nothing.
func TestIndexesExist(t *testing.T) {
	eachPath(t, "ix", func(t *testing.T, ctx context.Context, s *Store) {
		var refused []error
		s.ReportRefusedIndexes(func(err error) { refused = append(refused, err) })
		for range 2 {
			if err := s.EnsureIndexes(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.EnsureRecordIndexes(ctx, "acme", "contacts", []string{"email", "external_id"}); err != nil {
				t.Fatal(err)
			}
			// Match-any schemas' keys are lists: multikey indexes.
			if err := s.EnsureRecordIndexes(ctx, "acme", "persons", []string{"emails", "phone_numbers", "usernames"}); err != nil {
				t.Fatal(err)
			}
		}
		if len(refused) > 0 {
			t.Fatalf("indexes refused: %v", refused)
		}
		want := map[string][]string{}
		for _, ix := range MetaIndexes() {
			want[ix.Coll] = append(want[ix.Coll], ix.Name)
		}
		for coll, names := range want {
			have, err := IndexNames(ctx, s.Meta.Collection(coll))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				if !slices.Contains(have, n) {
					t.Errorf("%s has indexes %v, lacks %s", coll, have, n)
				}
			}
		}
		for schema, keys := range map[string][]string{"contacts": {"email", "external_id"}, "persons": {"emails", "phone_numbers", "usernames"}} {
			have, err := IndexNames(ctx, s.Records.Collection(RecordsCollection("acme", schema)))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if !slices.Contains(have, RecordIndexName(k)) {
					t.Errorf("%s records have indexes %v, lack %s", schema, have, RecordIndexName(k))
				}
			}
		}
	})
}

// The store sends majority write and read concerns (journaled writes) with
// its commands, and FerretDB accepts them: records, summaries and claims
// written and read back, the commands watched on the wire.
func TestStoreConcerns(t *testing.T) {
	f, _ := ferrettest.Start(t, "")
	var mu sync.Mutex
	sent := map[string]bson.Raw{} // command name -> the last one sent
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		sent[e.CommandName] = slices.Clone(e.Command)
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(f.URI()).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	ix := f.FastPath()
	defer ix.Close()
	ctx := context.Background()
	onBothPaths(t, client, ix, "wc", func(t *testing.T, s *Store) {
		if _, err := s.InsertRecords(ctx, "t", "contacts", []NewRecord{{ID: "email:a@x.io", Fields: map[string]any{"name": "A"}, Stamp: reconcile.Stamp{Import: "i", Row: 2}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRecords(ctx, "t", "contacts", []FieldUpdate{{ID: "email:a@x.io", Set: map[string]any{"name": "B"}, Unset: []string{"x"}, Stamp: reconcile.Stamp{Import: "j", Row: 2}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSummary(ctx, &ledger.Summary{ID: "i", Tenant: "t", Status: ledger.StatusProcessing}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountProcessing(ctx, "t"); err != nil || n != 1 {
			t.Fatalf("CountProcessing = %d, %v", n, err)
		}
		if _, err := s.AppendClaims(ctx, "t", "i", ClaimEntry{Seq: 1, Chunk: 1, Keys: []string{"email:a@x.io"}, Rows: []int{2}}); err != nil {
			t.Fatal(err)
		}
		var d bson.M
		if err := s.Records.Collection(RecordsCollection("t", "contacts")).FindOne(ctx, bson.D{{Key: "name", Value: "B"}}).Decode(&d); err != nil {
			t.Fatalf("read back: %v", err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"insert", "update"} {
		cmd, ok := sent[name]
		if !ok {
			t.Fatalf("no %s sent", name)
		}
		w, _ := cmd.Lookup("writeConcern", "w").StringValueOK()
		j, _ := cmd.Lookup("writeConcern", "j").BooleanOK()
		if w != "majority" || !j {
			t.Errorf("%s sent with writeConcern %v, want {w: majority, j: true}", name, cmd.Lookup("writeConcern"))
		}
	}
	for _, name := range []string{"find", "aggregate"} {
		cmd, ok := sent[name]
		if !ok {
			t.Fatalf("no %s sent", name)
		}
		if level, _ := cmd.Lookup("readConcern", "level").StringValueOK(); level != "majority" {
			t.Errorf("%s sent with readConcern %v, want {level: majority}", name, cmd.Lookup("readConcern"))
		}
	}
}

// An index the database refuses is reported and skipped, not an error: the
// start goes on and queries on it scan.
func TestRefusedIndexIsSkipped(t *testing.T) {
	client, _ := startFerret(t)
	s := New(client, "refused", nil)
	var refused []error
	s.ReportRefusedIndexes(func(err error) { refused = append(refused, err) })
	// FerretDB v1 has no text indexes; MongoDB refuses a second text index.
	for _, name := range []string{"words", "more_words"} {
		ix := Index{Coll: importsColl, Name: name, Keys: bson.D{{Key: name, Value: "text"}}}
		if err := s.createIndex(context.Background(), s.Meta, ix); err != nil {
			t.Fatalf("a refused index is an error: %v", err)
		}
	}
	if len(refused) == 0 {
		t.Skip("this database creates two text indexes on one collection")
	}
	t.Logf("reported: %v", refused)
	if !strings.Contains(refused[0].Error(), "refused") {
		t.Fatalf("report %q does not say the index was refused", refused[0])
	}
}
