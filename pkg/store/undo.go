package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/reconcile"
)

// Undo keeps, for every record an import changed without creating it, what
// the record was before: the old values of the fields an update set or
// removed, or the whole document a replace deleted. They live in one
// collection, before_images of <db>_records, with _id
// "<tenant>.<import>:<record>"; the first image of a record is the one kept
// (a redelivered chunk's second insert is a duplicate and ignored), so it is
// always the state before the import's first write.
const beforeImagesColl = "before_images"

// Kinds of before-image: what the undo does with it.
const (
	ImageUpdated = "updated" // restore the fields in Set, remove those in Unset
	ImageDeleted = "deleted" // insert Doc again
	ImageCreated = "created" // the import created the record: delete it (saved by the undo's plan, not by the writer)
)

// BeforeImage is a record as it was before an import wrote it.
type BeforeImage struct {
	Tenant string
	Import string
	Schema string
	Record string // the record's _id
	Row    int    // the import's row that wrote it (0: a replace deletion)
	Kind   string
	Set    map[string]any // ImageUpdated: the old values of fields the import changed
	Unset  []string       // ImageUpdated: fields the import added
	Doc    bson.Raw       // ImageDeleted: the whole deleted document
}

type beforeImageDoc struct {
	ID        string         `bson:"_id"`
	Tenant    string         `bson:"tenant"`
	Import    string         `bson:"import"`
	Schema    string         `bson:"schema"`
	Record    string         `bson:"record"`
	Row       int            `bson:"row"`
	Kind      string         `bson:"kind"`
	Set       map[string]any `bson:"set,omitempty"`
	Unset     []string       `bson:"unset,omitempty"`
	Doc       bson.Raw       `bson:"doc,omitempty"`
	WrittenAt time.Time      `bson:"written_at"`
}

// BeforeImageID is the _id of an import's before-image of a record.
func BeforeImageID(tenant, importID, record string) string {
	return tenant + "." + importID + ":" + record
}

// SaveBeforeImages stores before-images; one already stored for the same
// tenant, import and record is kept as it is.
func (s *Store) SaveBeforeImages(ctx context.Context, imgs []BeforeImage) error {
	_, _, err := s.insertImages(ctx, imgs)
	return err
}

func (s *Store) insertImages(ctx context.Context, imgs []BeforeImage) (*mongo.Collection, map[int]bool, error) {
	c, err := s.coll(ctx, s.Records, beforeImagesColl)
	if err != nil || len(imgs) == 0 {
		return c, nil, err
	}
	now := bsonNow()
	docs := make([]any, len(imgs))
	for i, im := range imgs {
		docs[i] = beforeImageDoc{ID: BeforeImageID(im.Tenant, im.Import, im.Record), Tenant: im.Tenant, Import: im.Import,
			Schema: im.Schema, Record: im.Record, Row: im.Row, Kind: im.Kind, Set: im.Set, Unset: im.Unset, Doc: im.Doc, WrittenAt: now}
	}
	existed, err := insertMany(ctx, c, docs)
	return c, existed, err
}

// SaveCreatedImages stores that an import created these records (kind
// ImageCreated), for its undo's plan: the records are then found after the
// undo deleted some of them and was interrupted. A record the import also
// updated (a later row matched it on another handle) has an image already;
// it becomes ImageCreated too, since the record did not exist before.
func (s *Store) SaveCreatedImages(ctx context.Context, imgs []BeforeImage) error {
	c, existed, err := s.insertImages(ctx, imgs)
	if err != nil {
		return err
	}
	for i := range existed {
		im := imgs[i]
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: BeforeImageID(im.Tenant, im.Import, im.Record)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "kind", Value: ImageCreated}}}})
		if err != nil {
			return fmt.Errorf("mark %s created: %w", im.Record, err)
		}
	}
	return nil
}

// BeforeImages reads a page of an import's before-images in _id order,
// after the _id after ("" from the start).
func (s *Store) BeforeImages(ctx context.Context, tenant, importID, after string, limit int) ([]BeforeImage, error) {
	c, err := s.coll(ctx, s.Records, beforeImagesColl)
	if err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "tenant", Value: tenant}, {Key: "import", Value: importID}}
	if after != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	docs, err := findAll[beforeImageDoc](ctx, c, "read before-images", filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	out := make([]BeforeImage, len(docs))
	for i, d := range docs {
		out[i] = BeforeImage{Tenant: d.Tenant, Import: d.Import, Schema: d.Schema, Record: d.Record, Row: d.Row,
			Kind: d.Kind, Set: d.Set, Unset: d.Unset, Doc: d.Doc}
	}
	return out, nil
}

// CreatedRecord is a record an import created, and the row that did.
type CreatedRecord struct {
	ID  string
	Row int
}

// RecordsCreatedBy lists the records of a tenant's entity that importID
// created and that are still stored. It scans the collection (FerretDB
// answers only _id from an index); an undo runs it once.
func (s *Store) RecordsCreatedBy(ctx context.Context, tenant, schema, importID string) ([]CreatedRecord, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	cur, err := c.Find(ctx, bson.D{{Key: CreatedImportField, Value: importID}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: CreatedRowField, Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list records created by %s: %w", importID, err)
	}
	defer cur.Close(ctx)
	var out []CreatedRecord
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			continue
		}
		row, _ := cur.Current.Lookup(CreatedRowField).AsInt64OK()
		out = append(out, CreatedRecord{ID: id, Row: int(row)})
	}
	return out, cur.Err()
}

// writtenBy matches a record whose last write was importID's.
func writtenBy(id, importID string) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: ImportField, Value: importID}}
}

// DeleteRecordWrittenBy deletes a record only if importID is still its last
// writer; deleted is false when it is not (or there is no such record).
func (s *Store) DeleteRecordWrittenBy(ctx context.Context, tenant, schema, id, importID string) (deleted bool, err error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return false, err
	}
	res, err := c.DeleteOne(ctx, writtenBy(id, importID))
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", id, err)
	}
	return res.DeletedCount == 1, nil
}

// RestoreFields sets a record's fields back to set and removes unset, only
// if importID is still its last writer, stamping the write with the undo
// (by, its row); matched is false when importID is not its last writer.
// A value the database refuses is returned as a *Refusal.
func (s *Store) RestoreFields(ctx context.Context, tenant, schema, id, importID string, set map[string]any, unset []string, by reconcile.Stamp) (matched bool, err error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return false, err
	}
	sets := withRoom(set, 3)
	sets[ImportField], sets[RowField], sets[UpdatedAtField] = by.Import, rowValue(by.Row), bsonNow()
	update := bson.D{{Key: "$set", Value: sets}}
	if len(unset) > 0 {
		un := bson.M{}
		for _, f := range unset {
			un[f] = ""
		}
		update = append(update, bson.E{Key: "$unset", Value: un})
	}
	res, err := c.UpdateOne(ctx, writtenBy(id, importID), update)
	if err != nil {
		var we mongo.WriteException
		if errors.As(err, &we) && len(we.WriteErrors) == 1 && we.WriteConcernError == nil && !transientWriteError(we.WriteErrors[0].Code) {
			return false, &Refusal{Code: we.WriteErrors[0].Code, Message: we.WriteErrors[0].Message}
		}
		return false, fmt.Errorf("restore %s: %w", id, err)
	}
	return res.MatchedCount == 1, nil
}

// RestoreDeleted stores a deleted record's document again, stamped as
// written by the undo (by); inserted is false when a record with its _id
// exists (another import created it since, or this undo restored it).
func (s *Store) RestoreDeleted(ctx context.Context, tenant, schema string, doc bson.Raw, by reconcile.Stamp) (inserted bool, err error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return false, err
	}
	var d bson.D
	if err := bson.Unmarshal(doc, &d); err != nil {
		return false, fmt.Errorf("read a deleted record's before-image: %w", err)
	}
	stamps := map[string]any{ImportField: by.Import, RowField: rowValue(by.Row), UpdatedAtField: bsonNow()}
	for i := range d {
		if v, ok := stamps[d[i].Key]; ok {
			d[i].Value = v
			delete(stamps, d[i].Key)
		}
	}
	for k, v := range stamps {
		d = append(d, bson.E{Key: k, Value: v})
	}
	in, err := insertEach(ctx, c, []any{d})
	if err != nil {
		return false, err
	}
	if r := in.Refused[0]; r != nil {
		return false, r
	}
	return !in.Existed[0], nil
}

// sameVersion matches the record id only while it is the version raw
// holds (same last write time): the delete that follows saving raw as a
// before-image keeps a record written between the read and the delete, and
// that image is never used (restoring finds the record stored).
func sameVersion(id string, raw bson.Raw) bson.D {
	same := bson.D{{Key: "_id", Value: id}}
	if at, ok := raw.Lookup(UpdatedAtField).TimeOK(); ok {
		return append(same, bson.E{Key: UpdatedAtField, Value: at})
	}
	return append(same, bson.E{Key: UpdatedAtField, Value: bson.D{{Key: "$exists", Value: false}}})
}

// DeleteBeforeImagesBefore removes the before-images written before
// cutoff: those past the retention (--rows-retention), whose imports can no
// longer be undone. The undo stage sweeps with it (FerretDB v1 has no TTL
// index); it scans the collection.
func (s *Store) DeleteBeforeImagesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	c, err := s.coll(ctx, s.Records, beforeImagesColl)
	if err != nil {
		return 0, err
	}
	res, err := c.DeleteMany(ctx, bson.D{{Key: "written_at", Value: bson.D{{Key: "$lt", Value: cutoff.UTC()}}}})
	if err != nil {
		return 0, fmt.Errorf("delete expired before-images: %w", err)
	}
	return res.DeletedCount, nil
}

// MarkUndone names undoID as the undo of a tenant's import, unless another
// is named already (replacing: unless one other than replacing, a failed
// undo, is): first is the undo named after the call (undoID, or the
// earlier one), so of two undos asked at once only one runs.
func (s *Store) MarkUndone(ctx context.Context, tenant, importID, undoID, replacing string) (first string, err error) {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return "", err
	}
	var named any = bson.D{{Key: "$exists", Value: false}}
	if replacing != "" {
		named = replacing
	}
	res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: importID}, {Key: "tenant", Value: tenant}, {Key: "undone_by", Value: named}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "undone_by", Value: undoID}}}})
	if err != nil {
		return "", fmt.Errorf("mark %s undone: %w", importID, err)
	}
	if res.MatchedCount == 1 {
		return undoID, nil
	}
	sum, found, err := s.GetSummary(ctx, tenant, importID)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("mark %s undone: no such import", importID)
	}
	return sum.UndoneBy, nil
}

// UnmarkUndone forgets undoID as the undo of an import (its job could not
// be stored), so that the undo can be asked again.
func (s *Store) UnmarkUndone(ctx context.Context, tenant, importID, undoID string) error {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return err
	}
	_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: importID}, {Key: "tenant", Value: tenant}, {Key: "undone_by", Value: undoID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "undone_by", Value: ""}}}})
	if err != nil {
		return fmt.Errorf("unmark %s undone: %w", importID, err)
	}
	return nil
}
