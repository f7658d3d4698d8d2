package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/reconcile"
)

// Every record carries, in six top-level fields, the import and row that
// created it and that last wrote it, and when; that is what makes a
// redelivered chunk report the same outcome as its first delivery. The
// import and the row are separate fields so that mongosh can find an
// import's records ({_intake_import: "imp_..."}). Flat fields, not one
// sub-document: on FerretDB a sub-document of six fields made each insert
// cost 40% more CPU (measured: 58 against 42 us a record).
//
// Records stored by earlier versions carry the stamps as "<import>/<row>" strings
// (LegacyLastField, LegacyCreatedField); they are still read, and an update
// of such a record over the database's own command removes the stale one.
const (
	ImportField        = "_intake_import"
	RowField           = "_intake_row"
	CreatedImportField = "_intake_created_import"
	CreatedRowField    = "_intake_created_row"
	CreatedAtField     = "_intake_created_at"
	UpdatedAtField     = "_intake_updated_at"

	LegacyLastField    = "_intake_last"
	LegacyCreatedField = "_intake_created"
)

// Stamps reads the stamps of a stored record, in either form, from a
// document decoded by the driver (int32, int64) or from JSON (json.Number);
// a missing or malformed stamp is the zero one.
func Stamps(doc map[string]any) (last, created reconcile.Stamp) {
	return stampOf(doc, ImportField, RowField, LegacyLastField), stampOf(doc, CreatedImportField, CreatedRowField, LegacyCreatedField)
}

func stampOf(doc map[string]any, importField, rowField, legacyField string) reconcile.Stamp {
	if imp, ok := doc[importField].(string); ok {
		if row, ok := rowNumber(doc[rowField]); ok {
			return reconcile.Stamp{Import: imp, Row: row}
		}
	}
	text, _ := doc[legacyField].(string)
	s, _ := reconcile.ParseStamp(text)
	return s
}

// rowValue is a row number as records store it: a 32-bit integer, which
// mongosh shows as a plain number (a 64-bit one shows as Long("42")), and
// which every row of an import within --max-rows is.
func rowValue(row int) any {
	if row >= math.MinInt32 && row <= math.MaxInt32 {
		return int32(row)
	}
	return int64(row)
}

func rowNumber(v any) (int, bool) {
	switch n := v.(type) {
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

// isStampField reports whether a field is one of the store's own, not the record's data.
func isStampField(k string) bool {
	switch k {
	case ImportField, RowField, CreatedImportField, CreatedRowField, CreatedAtField, UpdatedAtField, LegacyLastField, LegacyCreatedField:
		return true
	}
	return false
}

// NewRecord is a record to create.
type NewRecord struct {
	ID     string
	Fields map[string]any
	Stamp  reconcile.Stamp
}

// InsertRecords creates records, unordered, and tells which were not
// written: those whose key already exists, and those the database refused
// (with its reason); the others were.
func (s *Store) InsertRecords(ctx context.Context, tenant, schema string, recs []NewRecord) (Inserted, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return Inserted{}, err
	}
	now := bsonNow()
	fields := make([]map[string]any, len(recs))
	for i, r := range recs {
		d := withRoom(r.Fields, 6)
		imp, row := r.Stamp.Import, rowValue(r.Stamp.Row)
		d[ImportField], d[RowField], d[CreatedImportField], d[CreatedRowField] = imp, row, imp, row
		d[CreatedAtField], d[UpdatedAtField] = now, now
		fields[i] = d
	}
	if di, ok := s.fast.(DocInserter); ok && len(recs) > 0 {
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		existed, handled, err := di.InsertDocs(ctx, s.Records, c.Name(), ids, fields)
		if err != nil {
			return Inserted{}, err
		}
		if handled {
			in := Inserted{Existed: map[int]bool{}, Refused: map[int]*Refusal{}}
			for i, e := range existed {
				if e {
					in.Existed[i] = true
				}
			}
			return in, nil
		}
		// Something in the chunk it does not encode: the database itself
		// says what it stores and what it refuses.
	}
	docs := make([]any, len(recs))
	for i, r := range recs {
		d := bson.M(fields[i])
		d["_id"] = r.ID
		docs[i] = d
	}
	return insertEach(ctx, c, docs)
}

// DocInserter inserts documents without the database's insert command,
// reporting those whose _id existed, or handled false if it cannot encode
// them. The embedded FerretDB has one (embedded.SQLiteFastPath); see there for why.
type DocInserter interface {
	InsertDocs(ctx context.Context, db *mongo.Database, coll string, ids []string, docs []map[string]any) (existed []bool, handled bool, err error)
}

// unchangedSince matches the records no write has touched at or after
// since: those written before it, and those without a write time (stored
// by something other than Intake). Write times are kept to the
// millisecond, so since is too: a record written in since's millisecond
// counts as changed, which keeps it rather than deleting it.
func unchangedSince(since time.Time) bson.D {
	since = since.UTC().Truncate(time.Millisecond)
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: UpdatedAtField, Value: bson.D{{Key: "$lt", Value: since}}}},
		bson.D{{Key: UpdatedAtField, Value: bson.D{{Key: "$exists", Value: false}}}},
	}}}
}

// RecordIDsUnchangedSince lists the keys of a tenant's records of an
// entity that no write has touched since since (replace mode's candidates:
// records that existed when the replace started and that no import has
// written since).
func (s *Store) RecordIDsUnchangedSince(ctx context.Context, tenant, schema string, since time.Time) ([]string, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	cur, err := c.Find(ctx, unchangedSince(since), optionsIDOnly())
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	defer cur.Close(ctx)
	var ids []string
	for cur.Next(ctx) {
		if id, ok := cur.Current.Lookup("_id").StringValueOK(); ok {
			ids = append(ids, id)
		}
	}
	return ids, cur.Err()
}

// DeleteRecordUnchangedSince removes one record by key, for importID (a
// replace), unless a write has touched it since since; deleting a missing
// one is not an error: DeleteRecordsUnchangedSince for one key.
func (s *Store) DeleteRecordUnchangedSince(ctx context.Context, tenant, schema, importID, id string, since time.Time) error {
	_, err := s.DeleteRecordsUnchangedSince(ctx, tenant, schema, importID, []string{id}, since)
	return err
}

// CountRecords counts how many of ids are stored, in batches (a replace's
// plan may hold millions).
func (s *Store) CountRecords(ctx context.Context, tenant, schema string, ids []string) (int, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return 0, err
	}
	const batch = 10_000
	total := 0
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		n, err := c.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: part}}}})
		if err != nil {
			return 0, fmt.Errorf("count records: %w", err)
		}
		total += int(n)
	}
	return total, nil
}

// BatchReader reads many documents by _id in one go. The embedded FerretDB
// provides one (embedded.SQLiteFastPath); otherwise the store uses find $in.
type BatchReader interface {
	FindByIDs(ctx context.Context, db *mongo.Database, coll string, ids []string) (map[string]map[string]any, error)
}

// GetRecords reads the records with the given keys; missing keys are absent
// from the result.
func (s *Store) GetRecords(ctx context.Context, tenant, schema string, ids []string) (map[string]*reconcile.Existing, error) {
	docs, err := s.readByIDs(ctx, s.Records, RecordsCollection(tenant, schema), ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*reconcile.Existing, len(docs))
	for id, d := range docs {
		out[id] = existingFrom(d)
	}
	return out, nil
}

// readByIDs reads documents of a collection by _id, as plain JSON-like
// maps: in one indexed SQL query on the embedded FerretDB, else with $in.
func (s *Store) readByIDs(ctx context.Context, db *mongo.Database, name string, ids []string) (map[string]map[string]any, error) {
	if br, ok := s.fast.(BatchReader); ok {
		return br.FindByIDs(ctx, db, name, ids)
	}
	c, err := s.coll(ctx, db, name)
	if err != nil {
		return nil, err
	}
	return findPlainByIDs(ctx, c, ids)
}

// findPlainByIDs reads documents by _id as plain JSON-like maps, the shape
// the embedded reader gives, so both paths compare values the same way.
func findPlainByIDs(ctx context.Context, c *mongo.Collection, ids []string) (map[string]map[string]any, error) {
	out := make(map[string]map[string]any, len(ids))
	if len(ids) == 0 {
		return out, nil // and a nil slice would be sent as $in: null, which MongoDB refuses
	}
	cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		d, err := plainDoc(cur.Current)
		if err != nil {
			return nil, err
		}
		if id, ok := d["_id"].(string); ok {
			out[id] = d
		}
	}
	return out, cur.Err()
}

// plainDoc is a document as a plain JSON-like map (numbers as json.Number).
func plainDoc(raw bson.Raw) (map[string]any, error) {
	ext, err := bson.MarshalExtJSON(raw, false, false)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(ext))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	return d, nil
}

func existingFrom(d map[string]any) *reconcile.Existing {
	e := &reconcile.Existing{Fields: map[string]any{}}
	e.Last, e.Created = Stamps(d)
	for k, v := range d {
		if k != "_id" && !isStampField(k) {
			e.Fields[k] = v
		}
	}
	return e
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// FieldUpdate is a $set of some fields of one record, stamped with the row that wrote it.
type FieldUpdate struct {
	ID    string
	Set   map[string]any
	Unset []string
	Stamp reconcile.Stamp
}

// FieldSetter applies $sets of existing fields without the database's
// update command, reporting which it applied (an empty one never is). The
// embedded FerretDB has one (embedded.SQLiteFastPath); see there for why.
type FieldSetter interface {
	SetFields(ctx context.Context, db *mongo.Database, coll string, ids []string, sets []map[string]any) ([]bool, error)
}

// UpdateRecords applies $set (and $unset) updates: on the embedded FerretDB
// those it can in one SQL transaction, the others in unordered bulk writes.
// It returns, by index in ups, the updates the database refused (a value it
// cannot store); the others were applied.
func (s *Store) UpdateRecords(ctx context.Context, tenant, schema string, ups []FieldUpdate) (map[int]*Refusal, error) {
	refused := map[int]*Refusal{}
	if len(ups) == 0 {
		return refused, nil
	}
	name := RecordsCollection(tenant, schema)
	c, err := s.coll(ctx, s.Records, name)
	if err != nil {
		return nil, err
	}
	at := make([]int, len(ups)) // ups[j] is the caller's ups[at[j]]
	for i := range at {
		at[i] = i
	}
	now := bsonNow()
	sets := make([]map[string]any, len(ups))
	for i, u := range ups {
		set := withRoom(u.Set, 3)
		set[ImportField], set[RowField] = u.Stamp.Import, rowValue(u.Stamp.Row)
		set[UpdatedAtField] = now
		sets[i] = set
	}
	if fs, ok := s.fast.(FieldSetter); ok {
		ids := make([]string, len(ups))
		tried := make([]map[string]any, len(ups)) // nil (not applied) where fields are also removed
		for i, u := range ups {
			ids[i] = u.ID
			if len(u.Unset) == 0 {
				tried[i] = sets[i]
			}
		}
		applied, err := fs.SetFields(ctx, s.Records, name, ids, tried)
		if err != nil {
			return nil, err
		}
		var rest []FieldUpdate
		var restSets []map[string]any
		var restAt []int
		for i, u := range ups {
			if !applied[i] {
				rest, restSets, restAt = append(rest, u), append(restSets, sets[i]), append(restAt, at[i])
			}
		}
		ups, sets, at = rest, restSets, restAt
	}
	models := make([]mongo.WriteModel, len(ups))
	for i, u := range ups {
		// A record stored in the legacy form loses its stale last-write
		// stamp here (the fast path never applies to it: it checks the new
		// fields' types).
		unset := bson.M{LegacyLastField: ""}
		for _, f := range u.Unset {
			unset[f] = ""
		}
		update := bson.D{{Key: "$set", Value: sets[i]}, {Key: "$unset", Value: unset}}
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: u.ID}}).SetUpdate(update)
	}
	for start := 0; start < len(models); start += updatesPerCommand {
		part := models[start:min(start+updatesPerCommand, len(models))]
		res, err := c.BulkWrite(ctx, part, options.BulkWrite().SetOrdered(false))
		partRefused, err := refusals(err)
		if err != nil {
			return nil, fmt.Errorf("update records: %w", err)
		}
		if len(partRefused) > 0 {
			// Which operation a bulk write's error names, and what it
			// counted, are not to be relied on (FerretDB names the first and
			// counts none): apply the part's updates one by one, which
			// changes nothing for those already applied.
			for i, m := range part {
				one, err := c.BulkWrite(ctx, []mongo.WriteModel{m}, options.BulkWrite().SetOrdered(false))
				r, err := refusals(err)
				if err != nil {
					return nil, fmt.Errorf("update records: %w", err)
				}
				switch {
				case r[0] != nil:
					refused[at[start+i]] = r[0]
				case one.MatchedCount != 1:
					return nil, fmt.Errorf("update records: %s disappeared while importing", ups[start+i].ID)
				}
			}
			continue
		}
		if int(res.MatchedCount) != len(part) {
			return nil, fmt.Errorf("update records: %d of %d records found; some disappeared while importing", res.MatchedCount, len(part))
		}
	}
	return refused, nil
}

// updatesPerCommand bounds the statements of one update command. FerretDB
// v1 keeps one SQLite connection open per statement until the whole command
// ends, from a pool of 100 per database: two writers sending 95 statements
// each deadlocked waiting for connections (seen in the two-instance test).
const updatesPerCommand = 16
