package store

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/ledger"
)

// staleBatch bounds one StaleImports answer; the next sweep finds the rest.
const staleBatch = 1000

// StaleImports lists imports, of every tenant, that are still processing and
// whose summary was last changed before olderThan: the candidates of the
// reporter's unsealed-import timeout. Only _id, tenant, status, sealed, total
// and updated_at are read. It scans the imports collection (FerretDB answers
// nothing but _id from an index); at most staleBatch summaries are returned.
func (s *Store) StaleImports(ctx context.Context, olderThan time.Time) ([]ledger.Summary, error) {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return nil, err
	}
	filter := bson.D{
		{Key: "status", Value: ledger.StatusProcessing},
		{Key: "updated_at", Value: bson.D{{Key: "$lt", Value: olderThan.UTC()}}},
	}
	proj := bson.D{
		{Key: "_id", Value: 1}, {Key: "tenant", Value: 1}, {Key: "status", Value: 1},
		{Key: "sealed", Value: 1}, {Key: "total", Value: 1}, {Key: "updated_at", Value: 1},
	}
	docs, err := findAll[summaryDoc](ctx, c, "list stale imports", filter, options.Find().SetProjection(proj).SetLimit(staleBatch))
	return summariesOf(docs), err
}
