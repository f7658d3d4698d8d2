package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// claimsCollection holds one import's claims; dropped when the import ends.
func claimsCollection(importID string) string { return "claims." + importID }

type claimDoc struct {
	ID  string `bson:"_id"`
	Row int    `bson:"row"`
}

// Claim records that rows[i] is the first row of an import with keys[i], and
// returns for every row the row that holds the claim: the row itself when it
// is the first (also when it is processed again after a crash), or the
// earlier row it duplicates. Claims live in the database, so any number of
// deduplicator instances agree.
func (s *Store) Claim(ctx context.Context, importID string, keys []string, rows []int) ([]int, error) {
	c, err := s.coll(ctx, s.Dedup, claimsCollection(importID))
	if err != nil {
		return nil, err
	}
	docs := make([]any, len(keys))
	for i := range keys {
		docs[i] = claimDoc{ID: keys[i], Row: rows[i]}
	}
	dups, err := insertMany(ctx, c, docs)
	if err != nil {
		return nil, err
	}
	holders := make([]int, len(keys))
	for i := range keys {
		holders[i] = rows[i]
		if !dups[i] {
			continue
		}
		var d claimDoc
		found, err := findByID(ctx, c, keys[i], &d)
		if err != nil {
			return nil, err
		}
		if found {
			holders[i] = d.Row
		}
	}
	return holders, nil
}

// ClaimedKeys lists every key an import claimed: the keys its rows touched.
func (s *Store) ClaimedKeys(ctx context.Context, importID string) (map[string]bool, error) {
	c, err := s.coll(ctx, s.Dedup, claimsCollection(importID))
	if err != nil {
		return nil, err
	}
	cur, err := c.Find(ctx, bson.D{}, optionsIDOnly())
	if err != nil {
		return nil, fmt.Errorf("read claims of %s: %w", importID, err)
	}
	defer cur.Close(ctx)
	keys := map[string]bool{}
	for cur.Next(ctx) {
		id, _ := cur.Current.Lookup("_id").StringValueOK()
		keys[id] = true
	}
	return keys, cur.Err()
}

// DropClaims forgets an import's claims once it has ended.
func (s *Store) DropClaims(ctx context.Context, importID string) error {
	name := claimsCollection(importID)
	if err := s.Dedup.Collection(name).Drop(ctx); err != nil {
		return fmt.Errorf("drop claims of %s: %w", importID, err)
	}
	s.indexer.Forget(s.Dedup, name)
	return nil
}
