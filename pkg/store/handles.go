package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/reconcile"
)

// HandlesCollection holds, for a tenant's entity matched on any handle
// (persons), which record each handle belongs to: _id = handle
// ("usernames:ann"), record = the record's _id.
func HandlesCollection(tenant, schema string) string { return "handles." + tenant + "." + schema }

// Handle says that a handle belongs to a record, and which import row said so first.
type Handle struct {
	ID     string
	Record string
	Stamp  reconcile.Stamp
}

// HandleOwners returns the record each of the handles belongs to; handles
// nobody has are absent.
func (s *Store) HandleOwners(ctx context.Context, tenant, schema string, handles []string) (map[string]string, error) {
	docs, err := s.readByIDs(ctx, s.Records, HandlesCollection(tenant, schema), handles)
	if err != nil {
		return nil, err
	}
	owners := make(map[string]string, len(docs))
	for h, d := range docs {
		owners[h] = str(d["record"])
	}
	return owners, nil
}

// AddHandles records which record handles belong to. A handle that is
// already recorded is left as it is and reported in taken (by index).
func (s *Store) AddHandles(ctx context.Context, tenant, schema string, hs []Handle) (taken map[int]bool, err error) {
	c, err := s.coll(ctx, s.Records, HandlesCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	docs := make([]any, len(hs))
	for i, h := range hs {
		docs[i] = bson.D{{Key: "_id", Value: h.ID}, {Key: "record", Value: h.Record}, {Key: "import", Value: h.Stamp.Import}, {Key: "row", Value: h.Stamp.Row}}
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
