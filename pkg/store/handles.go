package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/reconcile"
)

// HandlesCollection holds, for a tenant's entity matched on any handle
// (persons), which record each handle belongs to: _id = handle
// ("usernames:ann"), record = the record's _id.
func HandlesCollection(tenant, schema string) string { return "handles." + tenant + "." + schema }

// Handle says that a handle belongs to a record, and which import row said
// so first; a Shared one is another record's too (ShareHandles).
type Handle struct {
	ID     string
	Record string
	Stamp  reconcile.Stamp
	Shared bool
}

// HandleOwners returns the record each of the handles belongs to, as the
// handle index records it; handles nobody has are absent.
func (s *Store) HandleOwners(ctx context.Context, tenant, schema string, handles []string) (map[string]string, error) {
	own, err := s.recordedOwners(ctx, tenant, schema, handles)
	if err != nil {
		return nil, err
	}
	owners := make(map[string]string, len(own))
	for h, o := range own {
		owners[h] = o.Record
	}
	return owners, nil
}

// HandleOwnership is who has the handles of a schema with several key
// fields, telling also which are shared (ShareHandles). A handle that is a
// record's _id is not recorded (AddHandles' callers leave it out: it would
// double the index's writes): one the index does not hold belongs to the
// record with that _id, if there is one. One the index gives to another
// record while a record has it as _id is shared: both have the value (the
// other record's import passed before the writer stored this one).
func (s *Store) HandleOwnership(ctx context.Context, tenant, schema string, handles []string) (map[string]reconcile.Owner, error) {
	owners, err := s.recordedOwners(ctx, tenant, schema, handles)
	if err != nil {
		return nil, err
	}
	var check []string
	for _, h := range handles {
		if o, ok := owners[h]; !ok || (!o.Shared && o.Record != h) {
			check = append(check, h)
		}
	}
	records, err := s.recordIDs(ctx, tenant, schema, check)
	if err != nil {
		return nil, err
	}
	for id := range records {
		o, recorded := owners[id]
		owners[id] = reconcile.Owner{Record: id}
		if recorded {
			owners[id] = reconcile.Owner{Record: o.Record, Shared: true}
		}
	}
	return owners, nil
}

// recordedOwners are the owners of handles the handle index holds.
func (s *Store) recordedOwners(ctx context.Context, tenant, schema string, handles []string) (map[string]reconcile.Owner, error) {
	docs, err := s.readByIDs(ctx, s.Records, HandlesCollection(tenant, schema), handles)
	if err != nil {
		return nil, err
	}
	owners := make(map[string]reconcile.Owner, len(docs))
	for h, d := range docs {
		owners[h] = reconcile.Owner{Record: str(d["record"]), Shared: d["shared"] == true}
	}
	return owners, nil
}

// IDChecker tells which _ids a collection holds without reading the
// documents. The embedded FerretDB has one (embedded.SQLiteFastPath), and
// so has a FerretDB over the wire (IDLookups).
type IDChecker interface {
	ExistingIDs(ctx context.Context, db *mongo.Database, coll string, ids []string) (map[string]bool, error)
}

// recordIDs are those of ids that are the _id of a record of a tenant's schema.
func (s *Store) recordIDs(ctx context.Context, tenant, schema string, ids []string) (map[string]bool, error) {
	if len(ids) == 0 {
		return map[string]bool{}, nil
	}
	if c, ok := s.fast.(IDChecker); ok {
		return c.ExistingIDs(ctx, s.Records, RecordsCollection(tenant, schema), ids)
	}
	return idSet(s.readByIDs(ctx, s.Records, RecordsCollection(tenant, schema), ids))
}

// idSet is the set of _ids of documents read by _id.
func idSet(docs map[string]map[string]any, err error) (map[string]bool, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(docs))
	for id := range docs {
		out[id] = true
	}
	return out, nil
}

// ShareHandles marks handles as values several records have
// (reconcile.Owner.Shared): they find no record any more. A handle the
// index does not hold is a record's _id (HandleOwnership): it is recorded
// as that record's, shared.
func (s *Store) ShareHandles(ctx context.Context, tenant, schema string, handles []string) error {
	if len(handles) == 0 {
		return nil
	}
	hs := make([]Handle, len(handles))
	for i, h := range handles {
		hs[i] = Handle{ID: h, Record: h, Shared: true}
	}
	taken, err := s.AddHandles(ctx, tenant, schema, hs)
	if err != nil || len(taken) == 0 {
		return err
	}
	recorded := make([]string, 0, len(taken))
	for i := range taken {
		recorded = append(recorded, handles[i])
	}
	c, err := s.coll(ctx, s.Records, HandlesCollection(tenant, schema))
	if err != nil {
		return err
	}
	_, err = c.UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: recorded}}}}, bson.D{{Key: "$set", Value: bson.D{{Key: "shared", Value: true}}}})
	if err != nil {
		return fmt.Errorf("share handles: %w", err)
	}
	return nil
}

// AddHandles records which record handles belong to. A handle that is
// already recorded is left as it is and reported in taken (by index).
func (s *Store) AddHandles(ctx context.Context, tenant, schema string, hs []Handle) (taken map[int]bool, err error) {
	c, err := s.coll(ctx, s.Records, HandlesCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	if taken, handled, err := s.insertHandlesFast(ctx, c, hs); handled || err != nil {
		return taken, err
	}
	docs := make([]any, len(hs))
	for i, h := range hs {
		docs[i] = handleDoc(h)
	}
	taken = map[int]bool{}
	for start := 0; start < len(docs); start += handlesPerInsert {
		existed, err := insertMany(ctx, c, docs[start:min(start+handlesPerInsert, len(docs))])
		if err != nil {
			return nil, fmt.Errorf("add handles: %w", err)
		}
		for i := range existed {
			taken[start+i] = true
		}
	}
	return taken, nil
}

// handlesPerInsert bounds one insert of handles. On FerretDB/SQLite an
// insert holds its database's one write lock throughout, and the handles
// share the records' database with every tenant's writer: a chunk of
// persons rows with every list full (500 rows, 150,000 handles) in one
// insert stopped all other tenants' writes for seconds. In pieces, theirs
// go in between. An unordered insert is not atomic either way.
const handlesPerInsert = 1000

// insertHandlesFast inserts handles through the embedded FerretDB's
// DocInserter when there is one: through FerretDB's insert, two handles
// per row cost a chunk of new contacts ten times the deduplicator's time
// (BenchmarkDedupChunk). handled is false when it could not.
func (s *Store) insertHandlesFast(ctx context.Context, c *mongo.Collection, hs []Handle) (taken map[int]bool, handled bool, err error) {
	di, ok := s.fast.(DocInserter)
	if !ok || len(hs) == 0 {
		return nil, false, nil
	}
	ids := make([]string, len(hs))
	fields := make([]map[string]any, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
		fields[i] = map[string]any{"record": h.Record, "import": h.Stamp.Import, "row": rowValue(h.Stamp.Row)}
		if h.Shared {
			fields[i]["shared"] = true
		}
	}
	existed, handled, err := di.InsertDocs(ctx, s.Records, c.Name(), ids, fields)
	if err != nil || !handled {
		return nil, handled, err
	}
	taken = map[int]bool{}
	for i, e := range existed {
		if e {
			taken[i] = true
		}
	}
	return taken, true, nil
}

func handleDoc(h Handle) bson.D {
	d := bson.D{{Key: "_id", Value: h.ID}, {Key: "record", Value: h.Record}, {Key: "import", Value: h.Stamp.Import}, {Key: "row", Value: h.Stamp.Row}}
	if h.Shared {
		d = append(d, bson.E{Key: "shared", Value: true})
	}
	return d
}

// BackfillImport is the import a handle recorded by BackfillHandles names.
const BackfillImport = "backfill"

// backfillBatch is how many handles one insert of BackfillHandles holds.
const backfillBatch = 1000

// BackfillHandles gives the records of a tenant's schema that were stored
// without handles for keys (by a version that kept a handle index only for
// persons, or before a key field was added to the schema) their handles:
// handlesOf says which a stored record has. It does so once: the key-use
// marker's Backfilled names the key fields done, and a later call for them
// only reads it. It is idempotent and resumable (a handle already recorded
// is left as it is; Backfilled is written last), so a crash midway is
// finished by the next call. A record's own _id is not recorded
// (HandleOwnership finds it), nor is another record's value that is a
// record's _id: a row keyed as a record was created finds it as before
// even where another record has the same value in another key field.
//
// used are the key fields records' _ids may start with (KeyUse.Used):
// only values of those are asked for as records' _ids. Over the wire each
// is a read of its own: asking for every value made the backfill of
// 100,000 records four times as long (BenchmarkFirstChunkBySecondKey).
func (s *Store) BackfillHandles(ctx context.Context, tenant, schema string, keys, used []string, handlesOf func(rec map[string]any) []string) error {
	use, _, err := s.KeyUse(ctx, tenant, schema)
	if err != nil {
		return err
	}
	if ContainsAll(use.Backfilled, keys) {
		return nil
	}
	rc, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return err
	}
	fields := bson.D{}
	for _, k := range keys {
		fields = append(fields, bson.E{Key: k, Value: 1})
	}
	record := func(hs []Handle) error { return s.RecordStoredHandles(ctx, tenant, schema, used, hs) }
	if err := backfillPass(ctx, rc, fields, handlesOf, record); err != nil {
		return fmt.Errorf("backfill handles of %s: %w", RecordsCollection(tenant, schema), err)
	}
	return s.AddKeyUse(ctx, tenant, schema, KeyUse{Backfilled: keys})
}

// ContainsAll reports whether have holds every one of want.
func ContainsAll(have, want []string) bool {
	return !slices.ContainsFunc(want, func(k string) bool { return !slices.Contains(have, k) })
}

// RecordStoredHandles records handles of records already stored (the
// backfill's, and the writer's for a chunk that passed the deduplicator
// before the index was kept), but those that are a record's _id
// (HandleOwnership finds them); one another record has already is marked
// shared, unless it is that record's _id. Idempotent. used are the key
// fields records' _ids may start with (KeyUse.Used: a record's _id is
// <the key it was created under>:<value>): a value of another field is
// no record's _id, and is not asked for.
func (s *Store) RecordStoredHandles(ctx context.Context, tenant, schema string, used []string, hs []Handle) error {
	var ids []string
	for _, h := range hs {
		if field, _, _ := strings.Cut(h.ID, ":"); slices.Contains(used, field) {
			ids = append(ids, h.ID)
		}
	}
	records, err := s.recordIDs(ctx, tenant, schema, ids)
	if err != nil {
		return err
	}
	hs = slices.DeleteFunc(slices.Clone(hs), func(h Handle) bool { return records[h.ID] })
	if len(hs) == 0 {
		return nil
	}
	taken, err := s.AddHandles(ctx, tenant, schema, hs)
	if err != nil || len(taken) == 0 {
		return err
	}
	ids = make([]string, 0, len(taken))
	for i := range taken {
		ids = append(ids, hs[i].ID)
	}
	owners, err := s.recordedOwners(ctx, tenant, schema, ids)
	if err != nil {
		return err
	}
	var share []string
	for i := range taken {
		if o := owners[hs[i].ID]; o.Record != hs[i].Record && o.Record != hs[i].ID {
			share = append(share, hs[i].ID)
		}
	}
	return s.ShareHandles(ctx, tenant, schema, share)
}

// backfillPass hands record, in batches, the handles handles gives every
// record of rc (read with projection, in _id order).
func backfillPass(ctx context.Context, rc *mongo.Collection, projection bson.D, handles func(map[string]any) []string, record func([]Handle) error) error {
	cur, err := rc.Find(ctx, bson.D{}, options.Find().SetProjection(projection).SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(backfillBatch))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	var batch []Handle
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := record(batch)
		batch = batch[:0]
		return err
	}
	for cur.Next(ctx) {
		d, err := plainDoc(cur.Current)
		if err != nil {
			return err
		}
		id := str(d["_id"])
		if id == "" {
			continue // not a record Intake stored: no row finds it by _id either
		}
		for _, h := range handles(d) {
			if h != id { // its own _id: found as such, and no need to ask
				batch = append(batch, Handle{ID: h, Record: id, Stamp: reconcile.Stamp{Import: BackfillImport}})
			}
		}
		if len(batch) >= backfillBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return err
	}
	return flush()
}
