package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// directBatch is the direct loader's InsertMany size.
const directBatch = 1000

// directLoad is the database's limit for the same work: tenants clients at
// once, each inserting rows new contacts straight into a collection of its
// own through the same proxy, unordered InsertMany of directBatch. It
// returns the time taken.
func directLoad(ctx context.Context, uri string, tenants, rows int) (time.Duration, error) {
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return 0, fmt.Errorf("direct loader: %w", err)
	}
	defer func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }()
	db := c.Database("scale_direct")
	start := time.Now()
	errs := make([]error, tenants)
	var wg sync.WaitGroup
	for t := range tenants {
		coll := db.Collection(fmt.Sprintf("contacts_%d", t+1))
		wg.Go(func() { errs[t] = insertContacts(ctx, coll, rows) })
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("direct loader: %w", err)
		}
	}
	return took, nil
}

// insertContacts inserts rows contacts like contactsCSV's rows, keyed by
// email, and checks that the collection then holds exactly them.
func insertContacts(ctx context.Context, coll *mongo.Collection, rows int) error {
	batch := make([]any, 0, directBatch)
	for i := range rows {
		email := fmt.Sprintf("person%d@example.com", i)
		batch = append(batch, bson.D{{Key: "_id", Value: email}, {Key: "name", Value: fmt.Sprintf("Person %d", i)},
			{Key: "email", Value: email}, {Key: "phone", Value: fmt.Sprintf("+1 201 555 %04d", i%10000)},
			{Key: "company", Value: fmt.Sprintf("Company %d", i%97)}})
		if len(batch) == directBatch || i == rows-1 {
			if _, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return err
	}
	if n != int64(rows) {
		return fmt.Errorf("%s holds %d documents, want %d", coll.Name(), n, rows)
	}
	return nil
}
