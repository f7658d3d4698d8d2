package undo

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/store"
)

// undoEnv is a store on FerretDB over the wire without the embedded
// shortcuts (the plain MongoDB code path), holding what an upsert with a
// replace's deletion, imp_b, wrote over imp_a's records, and what imp_c
// wrote after it.
type undoEnv struct {
	t      *testing.T
	ctx    context.Context
	client *mongo.Client
	store  *store.Store
	orig   *ledger.Summary
}

func newUndoEnv(t *testing.T) *undoEnv {
	_, client := ferrettest.Start(t, "")
	e := &undoEnv{t: t, ctx: context.Background(), client: client, store: store.New(client, "plain", nil)}
	st := func(imp string, row int) reconcile.Stamp { return reconcile.Stamp{Import: imp, Row: row} }
	e.must(e.insert(store.NewRecord{ID: "email:ann@x.io", Fields: map[string]any{"name": "Ann", "age": int64(40)}, Stamp: st("imp_a", 2)},
		store.NewRecord{ID: "email:bob@x.io", Fields: map[string]any{"name": "Bob", "age": int64(7)}, Stamp: st("imp_a", 3)},
		store.NewRecord{ID: "email:cid@x.io", Fields: map[string]any{"name": "Cid"}, Stamp: st("imp_a", 4)}))
	// imp_b: creates new@, updates ann@ (a field changed, one added) and
	// cid@, and its replace deletes bob@. The writer saves each update's
	// before-image first, from the record it read.
	e.must(e.insert(store.NewRecord{ID: "email:new@x.io", Fields: map[string]any{"name": "New"}, Stamp: st("imp_b", 5)}))
	e.must(e.store.SaveBeforeImages(e.ctx, []store.BeforeImage{
		{Tenant: "t", Import: "imp_b", Schema: "contacts", Record: "email:ann@x.io", Row: 2, Kind: store.ImageUpdated, Set: map[string]any{"name": "Ann"}, Unset: []string{"company"}},
		{Tenant: "t", Import: "imp_b", Schema: "contacts", Record: "email:cid@x.io", Row: 4, Kind: store.ImageUpdated, Set: map[string]any{"name": "Cid"}},
	}))
	e.update(store.FieldUpdate{ID: "email:ann@x.io", Set: map[string]any{"name": "Ann B", "company": "B"}, Stamp: st("imp_b", 2)},
		store.FieldUpdate{ID: "email:cid@x.io", Set: map[string]any{"name": "Cid B"}, Stamp: st("imp_b", 4)})
	e.must(e.store.DeleteRecordUnchangedSince(e.ctx, "t", "contacts", "imp_b", "email:bob@x.io", time.Now().Add(time.Second)))
	// imp_c writes cid@ after imp_b: the undo keeps it.
	e.update(store.FieldUpdate{ID: "email:cid@x.io", Set: map[string]any{"name": "Cid C"}, Stamp: st("imp_c", 2)})
	e.orig = &ledger.Summary{ID: "imp_b", Tenant: "t", Status: ledger.StatusCompleted, Options: envelope.Options{Schema: "contacts", Mode: "replace"}}
	e.must(e.store.SaveSummary(e.ctx, e.orig))
	return e
}

func (e *undoEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *undoEnv) insert(recs ...store.NewRecord) error {
	_, err := e.store.InsertRecords(e.ctx, "t", "contacts", recs)
	return err
}

func (e *undoEnv) update(ups ...store.FieldUpdate) {
	e.t.Helper()
	if refused, err := e.store.UpdateRecords(e.ctx, "t", "contacts", ups); err != nil || len(refused) > 0 {
		e.t.Fatalf("update: %v %v", refused, err)
	}
}

// data is every record's data, without _id and the store's stamps.
func (e *undoEnv) data() map[string]bson.M {
	e.t.Helper()
	cur, err := e.client.Database("plain_records").Collection(store.RecordsCollection("t", "contacts")).Find(e.ctx, bson.D{})
	e.must(err)
	var docs []bson.M
	e.must(cur.All(e.ctx, &docs))
	out := map[string]bson.M{}
	for _, d := range docs {
		id := d["_id"].(string)
		for k := range d {
			if k == "_id" || strings.HasPrefix(k, "_intake_") {
				delete(d, k)
			}
		}
		out[id] = d
	}
	return out
}

// runUndo runs the undo job id of imp_b to its end and returns its summary.
func (e *undoEnv) runUndo(id string, dry bool) *ledger.Summary {
	e.t.Helper()
	sum := &ledger.Summary{ID: id, Tenant: "t", Status: ledger.StatusProcessing, UndoOf: "imp_b", Options: envelope.Options{Schema: "contacts", Mode: "undo", DryRun: dry}}
	e.must(e.store.SaveSummary(e.ctx, sum))
	j := &jobs{store: storeOf{e.store}}
	e.must(j.run(e.ctx, sum, e.orig))
	got, _, err := e.store.GetSummary(e.ctx, "t", id)
	e.must(err)
	return got
}

func undoCounts(s *ledger.Summary) [3]int { return [3]int{s.Reversed, s.Kept, s.Counts.Failed} }

// An undo of imp_b on the plain MongoDB path: the record it created is
// deleted, the fields it updated restored exactly (the one it added removed
// again, an int64 stays an int64), the record its replace deleted stored
// again, and the record imp_c wrote since kept and named. A dry run before
// changes nothing and counts the same; running the job again (a redelivery
// after a crash) writes nothing more and counts the same.
func TestUndoJobOnThePlainPath(t *testing.T) {
	e := newUndoEnv(t)
	before := e.data()
	want := [3]int{3, 1, 0}

	dry := e.runUndo("imp_dry", true)
	if undoCounts(dry) != want || dry.Status != ledger.StatusCompleted {
		t.Fatalf("dry run = %v %s, want %v completed", undoCounts(dry), dry.Status, want)
	}
	if got := e.data(); !reflect.DeepEqual(got, before) {
		t.Fatalf("a dry run changed the records:\n%v\nwant\n%v", got, before)
	}

	wantData := map[string]bson.M{
		"email:ann@x.io": {"name": "Ann", "age": int64(40)},
		"email:bob@x.io": {"name": "Bob", "age": int64(7)},
		"email:cid@x.io": {"name": "Cid C"},
	}
	for run := 1; run <= 2; run++ {
		sum := e.runUndo("imp_undo", false)
		if undoCounts(sum) != want || sum.Total != 4 {
			t.Fatalf("run %d: counts = %v of %d, want %v of 4", run, undoCounts(sum), sum.Total, want)
		}
		if got := e.data(); !reflect.DeepEqual(got, wantData) {
			t.Fatalf("run %d: records after the undo:\n%v\nwant\n%v", run, got, wantData)
		}
		notes, err := e.store.RowNotes(e.ctx, sum, "")
		e.must(err)
		if len(notes) != 1 || notes[0].Row != 4 || notes[0].Problems[0].Code != envelope.CodeChanged ||
			!strings.Contains(notes[0].Problems[0].Message, "imp_c") {
			t.Fatalf("run %d: notes = %+v, want row 4 kept, naming imp_c", run, notes)
		}
	}
}

// Before-images past the retention are deleted; younger ones stay.
func TestExpiredBeforeImagesAreDeleted(t *testing.T) {
	e := newUndoEnv(t)
	n, err := e.store.DeleteBeforeImagesBefore(e.ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("an hour ago: deleted %d, %v; want none", n, err)
	}
	if n, err := e.store.DeleteBeforeImagesBefore(e.ctx, time.Now().Add(time.Second)); err != nil || n != 3 {
		t.Fatalf("now: deleted %d, %v; want imp_b's 3", n, err)
	}
	if imgs, err := e.store.BeforeImages(e.ctx, "t", "imp_b", "", 10); err != nil || len(imgs) != 0 {
		t.Fatalf("images left: %v %v", imgs, err)
	}
}

// crashingStore does the first delete, then fails as if the
// process died before it could answer: the job stops there.
type crashingStore struct {
	storeOf
	crashed bool
}

var errCrash = errors.New("crashed after the write")

func (c *crashingStore) DeleteRecordWrittenBy(ctx context.Context, tenant, schema, id, importID string) (bool, error) {
	done, err := c.storeOf.DeleteRecordWrittenBy(ctx, tenant, schema, id, importID)
	if err == nil && !c.crashed {
		c.crashed = true
		return false, errCrash
	}
	return done, err
}

// A job that dies right after its first write (a delete) is run again by
// the redelivery: it finishes the undo and counts every record once.
func TestUndoJobResumesAfterACrash(t *testing.T) {
	e := newUndoEnv(t)
	sum := &ledger.Summary{ID: "imp_undo", Tenant: "t", Status: ledger.StatusProcessing, UndoOf: "imp_b", Options: envelope.Options{Schema: "contacts", Mode: "undo"}}
	e.must(e.store.SaveSummary(e.ctx, sum))
	crashing := &crashingStore{storeOf: storeOf{e.store}}
	if err := (&jobs{store: crashing}).run(e.ctx, sum, e.orig); !errors.Is(err, errCrash) {
		t.Fatalf("first delivery: %v, want the crash", err)
	}
	if found, err := e.store.GetRecords(e.ctx, "t", "contacts", []string{"email:new@x.io"}); err != nil || found["email:new@x.io"] != nil {
		t.Fatal("the crash came before the delete; the test shows nothing")
	}
	got := e.runUndo("imp_undo", false)
	if undoCounts(got) != [3]int{3, 1, 0} || got.Total != 4 {
		t.Fatalf("after the redelivery: %v of %d, want [3 1 0] of 4", undoCounts(got), got.Total)
	}
}
