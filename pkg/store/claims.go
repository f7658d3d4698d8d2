package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/intake/intake/pkg/ids"
)

// claimsCollection holds one import's claim log: claims.<tenant>.<import>,
// so that an import ID another tenant also uses never shares its log.
// Dropped when the import ends.
func claimsCollection(tenant, importID string) string {
	return "claims." + ids.Scoped(tenant, importID)
}

// ClaimEntry is one entry of an import's claim log: the keys first claimed
// while de-duplicating one chunk, and the row that claimed each. Entries are
// numbered 1, 2, 3... in the order they were appended.
type ClaimEntry struct {
	Seq   int      `bson:"-"`
	Chunk int      `bson:"chunk"`
	Keys  []string `bson:"keys,omitempty"` // as entries were stored before claimText
	Rows  []int    `bson:"rows,omitempty"`
}

// claimDoc is a ClaimEntry as stored: keys and rows as one JSON text,
// which FerretDB stores as it is, where two arrays of 500 items each cost
// it a conversion per item (the deduplicator, one chunk at a time, spent
// most of its time there, measured).
type claimDoc struct {
	ID    string `bson:"_id"`
	Chunk int    `bson:"chunk"`
	Text  string `bson:"claims"`
}

type claimText struct {
	Keys []string `json:"keys"`
	Rows []int    `json:"rows"`
}

// claimSeqID is the _id of a log entry: reading the log is reading by _id,
// the one query FerretDB answers from an index.
func claimSeqID(seq int) string { return fmt.Sprintf("%010d", seq) }

// ReadClaims returns the entries of an import's claim log from seq on, in
// order, up to the first that does not exist.
func (s *Store) ReadClaims(ctx context.Context, tenant, importID string, from int) ([]ClaimEntry, error) {
	c, err := s.coll(ctx, s.Dedup, claimsCollection(tenant, importID))
	if err != nil {
		return nil, err
	}
	var out []ClaimEntry
	for seq := from; ; seq++ {
		var stored struct {
			ClaimEntry `bson:",inline"`
			Text       string `bson:"claims"`
		}
		found, err := findByID(ctx, c, claimSeqID(seq), &stored)
		if err != nil {
			return nil, fmt.Errorf("read claims of %s: %w", importID, err)
		}
		if !found {
			return out, nil
		}
		e := stored.ClaimEntry
		if stored.Text != "" {
			var t claimText
			if err := json.Unmarshal([]byte(stored.Text), &t); err != nil {
				return nil, fmt.Errorf("read claims of %s: entry %d: %w", importID, seq, err)
			}
			e.Keys, e.Rows = t.Keys, t.Rows
		}
		e.Seq = seq
		out = append(out, e)
	}
}

// AppendClaims adds entry e.Seq to an import's claim log. taken is true when
// that entry already exists: another deduplicator got there first, and the
// caller must read the log again and redo its chunk.
func (s *Store) AppendClaims(ctx context.Context, tenant, importID string, e ClaimEntry) (taken bool, err error) {
	c, err := s.coll(ctx, s.Dedup, claimsCollection(tenant, importID))
	if err != nil {
		return false, err
	}
	text, err := json.Marshal(claimText{Keys: e.Keys, Rows: e.Rows})
	if err != nil {
		return false, fmt.Errorf("append claims of %s: %w", importID, err)
	}
	dups, err := insertMany(ctx, c, []any{claimDoc{ID: claimSeqID(e.Seq), Chunk: e.Chunk, Text: string(text)}})
	if err != nil {
		return false, fmt.Errorf("append claims of %s: %w", importID, err)
	}
	return dups[0], nil
}

// ClaimedKeys lists every key an import claimed: the keys its rows touched.
func (s *Store) ClaimedKeys(ctx context.Context, tenant, importID string) (map[string]bool, error) {
	entries, err := s.ReadClaims(ctx, tenant, importID, 1)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for _, e := range entries {
		for _, k := range e.Keys {
			keys[k] = true
		}
	}
	return keys, nil
}

// DropClaims forgets an import's claims once it has ended.
func (s *Store) DropClaims(ctx context.Context, tenant, importID string) error {
	name := claimsCollection(tenant, importID)
	if err := s.Dedup.Collection(name).Drop(ctx); err != nil {
		return fmt.Errorf("drop claims of %s: %w", importID, err)
	}
	s.fast.Forget(s.Dedup, name)
	return nil
}
