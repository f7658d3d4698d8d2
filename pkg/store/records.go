package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/reconcile"
)

// stampField holds, in every record, the import and row that created it and
// that last wrote it; that is what makes a redelivered chunk report the same
// outcome as its first delivery.
const stampField = "_intake"

type stampDoc struct {
	Import        string    `bson:"import"`
	Row           int       `bson:"row"`
	CreatedImport string    `bson:"created_import"`
	CreatedRow    int       `bson:"created_row"`
	CreatedAt     time.Time `bson:"created_at"`
	UpdatedAt     time.Time `bson:"updated_at"`
}

// NewRecord is a record to create.
type NewRecord struct {
	ID     string
	Fields map[string]any
	Stamp  reconcile.Stamp
}

// InsertRecords creates records, unordered, and returns the indexes of those
// whose key already exists (they were not written).
func (s *Store) InsertRecords(ctx context.Context, tenant, schema string, recs []NewRecord) (map[int]bool, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	docs := make([]any, len(recs))
	for i, r := range recs {
		d := make(bson.M, len(r.Fields)+2)
		for k, v := range r.Fields {
			d[k] = v
		}
		d["_id"] = r.ID
		d[stampField] = stampDoc{Import: r.Stamp.Import, Row: r.Stamp.Row, CreatedImport: r.Stamp.Import, CreatedRow: r.Stamp.Row, CreatedAt: now, UpdatedAt: now}
		docs[i] = d
	}
	return insertMany(ctx, c, docs)
}

// GetRecord reads one record by key.
func (s *Store) GetRecord(ctx context.Context, tenant, schema, id string) (*reconcile.Existing, bool, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return nil, false, err
	}
	var doc bson.M
	found, err := findByID(ctx, c, id, &doc)
	if err != nil || !found {
		return nil, found, err
	}
	e := &reconcile.Existing{Fields: map[string]any{}}
	for k, v := range doc {
		switch k {
		case "_id":
		case stampField:
			raw, _ := bson.Marshal(v)
			var st stampDoc
			_ = bson.Unmarshal(raw, &st)
			e.Last = reconcile.Stamp{Import: st.Import, Row: st.Row}
			e.Created = reconcile.Stamp{Import: st.CreatedImport, Row: st.CreatedRow}
		default:
			e.Fields[k] = v
		}
	}
	return e, true, nil
}

// SetRecordFields updates some fields of an existing record and stamps it
// with the import and row that wrote them. Fields not named are left alone.
func (s *Store) SetRecordFields(ctx context.Context, tenant, schema, id string, set map[string]any, stamp reconcile.Stamp) error {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return err
	}
	upd := make(bson.M, len(set)+3)
	for k, v := range set {
		upd[k] = v
	}
	upd[stampField+".import"] = stamp.Import
	upd[stampField+".row"] = stamp.Row
	upd[stampField+".updated_at"] = time.Now().UTC()
	res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: upd}})
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("update %s: the record disappeared", id)
	}
	return nil
}

// RecordIDs lists the keys of every record of a tenant's entity.
func (s *Store) RecordIDs(ctx context.Context, tenant, schema string) ([]string, error) {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	cur, err := c.Find(ctx, bson.D{}, optionsIDOnly())
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

// DeleteRecord removes one record by key; deleting a missing one is not an error.
func (s *Store) DeleteRecord(ctx context.Context, tenant, schema, id string) error {
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return err
	}
	if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}
