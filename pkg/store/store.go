// Package store keeps Intake's state in MongoDB: records, import summaries,
// row outcomes and de-duplication claims. It is the only package that
// speaks MongoDB.
//
// Layout. Three databases (so that FerretDB's SQLite backend, which has one
// writer lock per database file, lets the writer, deduplicator and reporter
// write in parallel):
//   - <db>:         imports (summaries), import_rows (row outcomes, one
//     document per outcome chunk)
//   - <db>_records: one collection per tenant and entity, records.<tenant>.<schema>,
//     with _id = reconciliation key ("email:ann@example.com"); for schemas matched on
//     any handle, handles.<tenant>.<schema> (_id = handle, record = the owner's _id)
//   - <db>_dedup:   claims.<import>, the import's claim log (one document per
//     chunk: the keys it claimed first and their rows), dropped when the import ends
//
// The pipeline's reads are by _id (FerretDB answers only _id equality from
// an index). The other queries, and the key fields people query records by,
// have indexes (indexes.go), created at start and when a records collection
// is first written; docs/data-model.md describes every collection.
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// FastPath is how the store works around a database's slow paths. It
// prepares a collection before first use and may also implement
// DocInserter, BatchReader and FieldSetter, which the store then uses
// instead of the database's own insert, find by _id and update commands.
// MongoDB needs none of it (NoFastPath); the embedded FerretDB has one that
// goes straight to its SQLite tables (embedded.SQLiteFastPath), a FerretDB
// over the wire one that reads by _id (IDLookups).
type FastPath interface {
	Ensure(ctx context.Context, db *mongo.Database, coll string) error
	// Forget is told that a collection was dropped.
	Forget(db *mongo.Database, coll string)
}

// NoFastPath is the FastPath for a real MongoDB: the database's own
// commands are fast.
type NoFastPath struct{}

// Ensure does nothing.
func (NoFastPath) Ensure(context.Context, *mongo.Database, string) error { return nil }

// Forget does nothing.
func (NoFastPath) Forget(*mongo.Database, string) {}

// Store is the MongoDB state of Intake.
type Store struct {
	Meta    *mongo.Database
	Records *mongo.Database
	Dedup   *mongo.Database
	fast    FastPath
	indexed sync.Map    // records collections whose key indexes exist (EnsureRecordIndexes)
	refused func(error) // told of indexes the database refuses (ReportRefusedIndexes)
}

// New uses client with database name prefix db, through fast (nil:
// NoFastPath). The store does not close fast: its owner does.
func New(client *mongo.Client, db string, fast FastPath) *Store {
	if fast == nil {
		fast = NoFastPath{}
	}
	return &Store{
		Meta:    client.Database(db, durable()),
		Records: client.Database(db+"_records", durable()),
		Dedup:   client.Database(db+"_dedup", durable()),
		fast:    fast,
	}
}

// durable is what exactly-once asks of a replica set, set explicitly
// whatever the connection string says. Write concern majority (journaled):
// a write is acknowledged only once most members have it on disk, so a
// stamp, a claim or a summary the pipeline relied on (and acked its message
// for) survives a failover. Read concern majority: a read sees only such
// writes, so a redelivered chunk never reads back a stamp that a failover
// then rolls back. FerretDB accepts both (TestStoreConcerns).
func durable() *options.DatabaseOptionsBuilder {
	journaled := true
	return options.Database().SetWriteConcern(&writeconcern.WriteConcern{W: writeconcern.WCMajority, Journal: &journaled}).
		SetReadConcern(readconcern.Majority())
}

func (s *Store) coll(ctx context.Context, db *mongo.Database, name string) (*mongo.Collection, error) {
	if err := s.fast.Ensure(ctx, db, name); err != nil {
		return nil, err
	}
	return db.Collection(name), nil
}

// bsonNow is the time now as a BSON date keeps it (milliseconds, UTC), so
// what a method returns equals what is read back later.
func bsonNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// withRoom copies fields into a new map with room for extra more.
func withRoom(fields map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(fields)+extra)
	for k, v := range fields {
		out[k] = v
	}
	return out
}

// findAll decodes every document of c that filter matches; what names the
// listing in the errors.
func findAll[T any](ctx context.Context, c *mongo.Collection, what string, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	return s.Meta.Client().Ping(ctx, nil)
}

// RecordsCollection names the collection of one tenant's entity.
func RecordsCollection(tenant, schema string) string {
	return "records." + tenant + "." + schema
}

// IsDuplicateKey reports whether a write error is E11000.
func IsDuplicateKey(code int) bool { return code == 11000 || code == 11001 }

// insertMany inserts docs unordered and returns the indexes of the documents
// whose _id already existed. Any other write error is returned.
func insertMany(ctx context.Context, c *mongo.Collection, docs []any) (map[int]bool, error) {
	in, err := insertEach(ctx, c, docs)
	if err != nil {
		return nil, err
	}
	for _, i := range slices.Sorted(maps.Keys(in.Refused)) {
		// This document's own error: the exception's text lists only the
		// first errors of the batch, mostly duplicate keys on a retry.
		return nil, fmt.Errorf("insert into %s: document %d%s: %w", c.Name(), i, idOf(docs, i), in.Refused[i])
	}
	return in.Existed, nil
}

// Inserted is what became of the documents of one unordered insert, by
// their index; the others were written.
type Inserted struct {
	Existed map[int]bool     // the _id was stored already: not written
	Refused map[int]*Refusal // the database refused the document itself: not written
}

// Refusal is the database's reason for not storing one document (a value
// or key it cannot store, a document too large): the same document is
// refused again on every attempt, so it fails alone and the rest stands.
type Refusal struct {
	Code    int    // the database's error code
	Message string // the database's words
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s (code %d)", r.Message, r.Code) }

// insertEach inserts docs unordered and tells, per document, those not
// written. A write error that another attempt may not repeat (the primary
// stepped down, a shutdown, a time limit), and any error of the whole
// command, is returned: the caller tries again.
func insertEach(ctx context.Context, c *mongo.Collection, docs []any) (Inserted, error) {
	in := Inserted{Existed: map[int]bool{}, Refused: map[int]*Refusal{}}
	if len(docs) == 0 {
		return in, nil
	}
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return in, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return Inserted{}, fmt.Errorf("insert into %s: %w", c.Name(), err)
	}
	for _, we := range bwe.WriteErrors {
		switch {
		case IsDuplicateKey(we.Code):
			in.Existed[we.Index] = true
		case transientWriteError(we.Code):
			return Inserted{}, fmt.Errorf("insert into %s: document %d%s: %w", c.Name(), we.Index, idOf(docs, we.Index), we)
		default:
			in.Refused[we.Index] = &Refusal{Code: we.Code, Message: we.Message}
		}
	}
	return in, nil
}

// refusals reads the error of an unordered bulk write: the operations the
// database refused for themselves, by index, or the error when it is
// anything else (the whole command failed, or an operation may succeed if
// tried again).
func refusals(err error) (map[int]*Refusal, error) {
	if err == nil {
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, err
	}
	refused := map[int]*Refusal{}
	for _, we := range bwe.WriteErrors {
		if transientWriteError(we.Code) || IsDuplicateKey(we.Code) {
			return nil, err
		}
		refused[we.Index] = &Refusal{Code: we.Code, Message: we.Message}
	}
	return refused, nil
}

// transientWriteError tells the write errors of a document that say nothing
// about the document: the server could not write anything just then.
func transientWriteError(code int) bool {
	switch code {
	case 6, 7, 24, 46, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11601, 11602, 13435, 13436:
		// HostUnreachable, HostNotFound, LockTimeout, LockBusy, MaxTimeMSExpired,
		// NetworkTimeout, ShutdownInProgress, WriteConflict, PrimarySteppedDown,
		// ExceededTimeLimit, SocketException, NotWritablePrimary,
		// InterruptedAtShutdown, Interrupted, InterruptedDueToReplStateChange,
		// NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
		return true
	}
	return false
}

// idOf names the _id of docs[i] when it has a plain one, for errors.
func idOf(docs []any, i int) string {
	if i < 0 || i >= len(docs) {
		return ""
	}
	if d, ok := docs[i].(bson.M); ok {
		if id, ok := d["_id"].(string); ok {
			return fmt.Sprintf(" (_id %s)", id)
		}
	}
	return ""
}

// findByID decodes the document with _id id into out; found is false if there is none.
func findByID(ctx context.Context, c *mongo.Collection, id string, out any) (found bool, err error) {
	err = c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find %s in %s: %w", id, c.Name(), err)
	}
	return true, nil
}

func optionsIDOnly() *options.FindOptionsBuilder {
	return options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}})
}
