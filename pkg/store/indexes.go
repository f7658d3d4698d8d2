package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Index is an index the store keeps on one of its collections.
type Index struct {
	Coll string
	Name string
	Keys bson.D
}

// metaIndexes are the indexes of the <db> collections, one for every query
// there that is not by _id. The claim logs (claims.*) and the handles
// collections are read by _id only and need none.
var metaIndexes = []Index{
	{importsColl, "tenant_created_at", bson.D{{Key: "tenant", Value: 1}, {Key: "created_at", Value: -1}}}, // ListSummaries
	{importsColl, "tenant_status", bson.D{{Key: "tenant", Value: 1}, {Key: "status", Value: 1}}},          // CountProcessing
	{importsColl, "status_updated_at", bson.D{{Key: "status", Value: 1}, {Key: "updated_at", Value: 1}}},  // StaleImports
	{importsColl, "completed_at", bson.D{{Key: "completed_at", Value: 1}}},                                // RemoveRowNotes, RemoveSummaries
	{rowsColl, "import", bson.D{{Key: "import", Value: 1}}},                                               // an import's row notes
	{schemasColl, "tenant", bson.D{{Key: "tenant", Value: 1}}},                                            // SchemaNames
	{keysColl, "tenant", bson.D{{Key: "tenant", Value: 1}}},                                               // ListKeys of a tenant
}

// MetaIndexes lists the indexes EnsureIndexes creates (for docs and tests).
func MetaIndexes() []Index { return append([]Index(nil), metaIndexes...) }

// ReportRefusedIndexes sends the indexes the database refuses to create to
// report (for the log); without it they are skipped silently.
func (s *Store) ReportRefusedIndexes(report func(error)) { s.refused = report }

// EnsureIndexes creates the indexes of the <db> collections that are not
// there yet; it is idempotent and run at every start. An index the database
// refuses is reported (ReportRefusedIndexes) and skipped: queries on it then
// scan, but nothing else changes, so a database without some index kind
// still starts. Only a database that does not answer is an error.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for _, ix := range metaIndexes {
		if err := s.createIndex(ctx, s.Meta, ix); err != nil {
			return err
		}
	}
	return nil
}

// RecordIndexName names the index of a key field of a records collection.
func RecordIndexName(field string) string { return "key_" + field }

// EnsureRecordIndexes gives a tenant's records collection of schema an
// index on each of its key fields, so that finding a record by email (or
// any key) does not scan. It creates them once per process and field list
// (the writer asks before every chunk, the catalog when a schema is
// registered); refusals are reported and skipped as in EnsureIndexes.
func (s *Store) EnsureRecordIndexes(ctx context.Context, tenant, schema string, keys []string) error {
	coll := RecordsCollection(tenant, schema)
	memo := coll + "\x00" + strings.Join(keys, "\x00")
	if _, done := s.indexed.Load(memo); done {
		return nil
	}
	for _, k := range keys {
		ix := Index{Coll: coll, Name: RecordIndexName(k), Keys: bson.D{{Key: k, Value: 1}}}
		if err := s.createIndex(ctx, s.Records, ix); err != nil {
			return err
		}
	}
	s.indexed.Store(memo, true)
	return nil
}

// createIndex creates one index (createIndexes of an existing identical
// index is a no-op). It returns an error only when the database did not
// answer; a refusal is reported.
func (s *Store) createIndex(ctx context.Context, db *mongo.Database, ix Index) error {
	c, err := s.coll(ctx, db, ix.Coll)
	if err != nil {
		return err
	}
	_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.Keys, Options: options.Index().SetName(ix.Name)})
	var ce mongo.CommandError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("create index %s on %s: %w", ix.Name, ix.Coll, err)
	case errors.As(err, &ce) || mongo.IsDuplicateKeyError(err):
		if s.refused != nil {
			s.refused(fmt.Errorf("index %s on %s.%s refused, queries on it scan instead: %w", ix.Name, db.Name(), ix.Coll, err))
		}
		return nil
	}
	return fmt.Errorf("create index %s on %s: %w", ix.Name, ix.Coll, err)
}

// IndexNames lists the names of a collection's indexes (listIndexes).
func IndexNames(ctx context.Context, c *mongo.Collection) ([]string, error) {
	specs, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", c.Name(), err)
	}
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.Name
	}
	return names, nil
}
