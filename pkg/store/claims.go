package store

import "context"

const claimsColl = "claims"

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
	c, err := s.coll(ctx, s.Dedup, claimsColl)
	if err != nil {
		return nil, err
	}
	docs := make([]any, len(keys))
	for i := range keys {
		docs[i] = claimDoc{ID: importID + "|" + keys[i], Row: rows[i]}
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
		found, err := findByID(ctx, c, importID+"|"+keys[i], &d)
		if err != nil {
			return nil, err
		}
		if found {
			holders[i] = d.Row
		}
	}
	return holders, nil
}
