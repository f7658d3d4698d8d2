package store

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// KeyUse is what the handle index of a tenant's schema with several key
// fields says of itself, in one marker document (_id keyUseMarker): which
// key fields records may have been created under, and whether the index
// is kept. While records were created under one key field only, each
// record's _id is <that field>:<value> and an import by it needs no index
// (the deduplicator's fast path); the index is kept from the first import
// that needs it on.
type KeyUse struct {
	// Used are the key fields records may have been created under: a field
	// is added before any record is created under it.
	Used []string `bson:"used,omitempty"`
	// Indexed are the key fields whose handles are kept. Set before the
	// backfill starts; from then on every chunk records its handles (the
	// deduplicator, or the writer for a chunk that passed before).
	Indexed []string `bson:"indexed,omitempty"`
	// Backfilled are the key fields whose handles every record stored
	// before Indexed was set has (BackfillHandles). Set last.
	Backfilled []string `bson:"backfilled,omitempty"`
}

// keyUseMarker is the _id of a handle index's KeyUse. A handle always
// holds a ":", this _id none.
const keyUseMarker = "keys"

// KeyUse reads the key-use marker of a tenant's schema (one read by _id,
// on the embedded default straight from SQLite: it is read for every
// chunk); found is false when there is none (a new schema, or records
// stored by a version that kept no marker: see UsedKeys).
func (s *Store) KeyUse(ctx context.Context, tenant, schema string) (use KeyUse, found bool, err error) {
	if br, ok := s.fast.(BatchReader); ok {
		docs, err := br.FindByIDs(ctx, s.Records, HandlesCollection(tenant, schema), []string{keyUseMarker})
		d, found := docs[keyUseMarker]
		return KeyUse{Used: strList(d["used"]), Indexed: strList(d["indexed"]), Backfilled: strList(d["backfilled"])}, found, err
	}
	hc, err := s.coll(ctx, s.Records, HandlesCollection(tenant, schema))
	if err != nil {
		return KeyUse{}, false, err
	}
	found, err = findByID(ctx, hc, keyUseMarker, &use)
	return use, found, err
}

// strList is a list of strings as a plain document holds it.
func strList(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		out = append(out, str(it))
	}
	return out
}

// AddKeyUse adds the fields of add to the key-use marker, creating it if
// need be. Idempotent: adding a field twice keeps one.
func (s *Store) AddKeyUse(ctx context.Context, tenant, schema string, add KeyUse) error {
	each := bson.D{}
	for _, l := range []struct {
		name   string
		fields []string
	}{{"used", add.Used}, {"indexed", add.Indexed}, {"backfilled", add.Backfilled}} {
		if len(l.fields) > 0 {
			each = append(each, bson.E{Key: l.name, Value: bson.D{{Key: "$each", Value: l.fields}}})
		}
	}
	if len(each) == 0 {
		return nil
	}
	hc, err := s.coll(ctx, s.Records, HandlesCollection(tenant, schema))
	if err != nil {
		return err
	}
	_, err = hc.UpdateOne(ctx, bson.D{{Key: "_id", Value: keyUseMarker}},
		bson.D{{Key: "$addToSet", Value: each}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("key use of %s: %w", RecordsCollection(tenant, schema), err)
	}
	return nil
}

// UsedKeys are the key fields the stored records of a tenant's schema
// were created under: the prefixes of their _ids ("email" of
// "email:ann@x.io"), read in one pass over the _ids. It stands for the
// marker's Used where records were stored by a version that kept none; an
// empty collection costs one empty read.
func (s *Store) UsedKeys(ctx context.Context, tenant, schema string) ([]string, error) {
	rc, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return nil, err
	}
	cur, err := rc.Find(ctx, bson.D{}, optionsIDOnly().SetBatchSize(backfillBatch))
	if err != nil {
		return nil, fmt.Errorf("keys used in %s: %w", rc.Name(), err)
	}
	defer cur.Close(ctx)
	var used []string
	seen := map[string]bool{}
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if field, _, cut := strings.Cut(id, ":"); ok && cut && !seen[field] {
			seen[field] = true
			used = append(used, field)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("keys used in %s: %w", rc.Name(), err)
	}
	return used, nil
}
