package store

// Retention: what finished imports leave behind, removed after a while by
// the jobs module's sweep (in batches, by the completed_at index). Not TTL
// indexes: FerretDB 1.24 refuses expireAfterSeconds ("not implemented").

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// notesRemovedField marks a summary whose row notes the retention removed.
const notesRemovedField = "notes_removed"

// finishedBefore matches the imports that finished before t.
func finishedBefore(t time.Time) bson.D {
	return bson.D{{Key: "completed_at", Value: bson.D{{Key: "$lt", Value: t.UTC()}}}}
}

// finishedIDs lists up to limit IDs of imports matching filter.
func (s *Store) finishedIDs(ctx context.Context, filter bson.D, limit int) ([]string, error) {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return nil, err
	}
	docs, err := findAll[struct {
		ID string `bson:"_id"`
	}](ctx, c, "list finished imports", filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, err
}

// RemoveRowNotes removes the row notes of up to limit imports that finished
// before t and marks their summaries (GET .../errors then says the notes
// are gone); it answers how many imports it dealt with.
func (s *Store) RemoveRowNotes(ctx context.Context, t time.Time, limit int) (int, error) {
	filter := append(finishedBefore(t), bson.E{Key: notesRemovedField, Value: bson.D{{Key: "$ne", Value: true}}})
	return s.removeNotesThen(ctx, filter, limit, func(c *mongo.Collection, id string) error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: notesRemovedField, Value: true}}}})
		return err
	})
}

// RemoveSummaries removes up to limit summaries of imports that finished
// before t, with their row notes; it answers how many it removed.
func (s *Store) RemoveSummaries(ctx context.Context, t time.Time, limit int) (int, error) {
	return s.removeNotesThen(ctx, finishedBefore(t), limit, func(c *mongo.Collection, id string) error {
		_, err := c.DeleteOne(ctx, append(bson.D{{Key: "_id", Value: id}}, finishedBefore(t)...))
		return err
	})
}

// removeNotesThen removes the row notes of up to limit imports matching
// filter, then calls then with the imports collection for each of them.
func (s *Store) removeNotesThen(ctx context.Context, filter bson.D, limit int, then func(c *mongo.Collection, id string) error) (int, error) {
	ids, err := s.finishedIDs(ctx, filter, limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if err := s.deleteRowNotes(ctx, ids); err != nil {
		return 0, err
	}
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := then(c, id); err != nil {
			return 0, fmt.Errorf("retention of summary %s: %w", id, err)
		}
	}
	return len(ids), nil
}

// deleteRowNotes removes the row notes of the imports ids (by the import index).
func (s *Store) deleteRowNotes(ctx context.Context, ids []string) error {
	c, err := s.coll(ctx, s.Meta, rowsColl)
	if err != nil {
		return err
	}
	if _, err := c.DeleteMany(ctx, bson.D{{Key: "import", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return fmt.Errorf("remove row notes: %w", err)
	}
	return nil
}

// ClaimLog names an import's claim log.
type ClaimLog struct{ Tenant, Import string }

// ClaimLogs lists the claim logs that exist: those of imports processing,
// and of finished ones whose drop was lost.
func (s *Store) ClaimLogs(ctx context.Context) ([]ClaimLog, error) {
	names, err := s.Dedup.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list claim logs: %w", err)
	}
	var out []ClaimLog
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, "claims.")
		if tenant, id, ok2 := strings.Cut(rest, "."); ok && ok2 {
			out = append(out, ClaimLog{Tenant: tenant, Import: id})
		}
	}
	return out, nil
}
