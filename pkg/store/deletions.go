package store

// What replace mode's deletion job needs: its plan a batch at a time, a
// batch of conditional deletes, and its progress saved only by the step
// that made it.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/ledger"
)

// DeleteBatch is how many planned records one step of the deletion job
// deals with. It divides planDocSize, so a batch is read from one plan
// document.
const DeleteBatch = 1_000

// PlanBatch reads the planned record keys from the from-th on: at most n,
// and never past the end of the plan document holding the from-th (a
// shorter batch), so a step reads one document whatever the plan's size.
func (s *Store) PlanBatch(ctx context.Context, importID string, plan *ledger.DeletePlan, from, n int) ([]string, error) {
	if from < 0 || from >= plan.Count {
		return nil, nil
	}
	c, err := s.coll(ctx, s.Meta, deletionsColl)
	if err != nil {
		return nil, err
	}
	var d planDoc
	id := fmt.Sprintf("%s:%d", importID, from/planDocSize)
	found, err := findByID(ctx, c, id, &d)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("delete plan %s missing", id)
	}
	off := from % planDocSize
	if off >= len(d.IDs) {
		return nil, fmt.Errorf("delete plan %s holds %d keys, not the %d-th", id, len(d.IDs), off)
	}
	return d.IDs[off:min(off+n, len(d.IDs))], nil
}

// DropPlan removes a finished replace's plan documents.
func (s *Store) DropPlan(ctx context.Context, importID string, plan *ledger.DeletePlan) error {
	c, err := s.coll(ctx, s.Meta, deletionsColl)
	if err != nil {
		return err
	}
	for n := range plan.Docs {
		if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%d", importID, n)}}); err != nil {
			return fmt.Errorf("drop delete plan of %s: %w", importID, err)
		}
	}
	return nil
}

// DeleteRecordsUnchangedSince removes, for importID (a replace), those of
// the tenant's records with the keys ids that no write has touched since
// since, and answers how many of ids are still stored afterwards (kept:
// written since, or deleted by nobody). Answering what is still stored,
// not what this call deleted, keeps the count the same when a step is
// redone after a crash.
//
// Each record is read first (by _id: FerretDB answers _id equality from an
// index and scans for $in) and saved as importID's before-image of kind
// ImageDeleted, so that an undo of the import can store it again; then one
// unordered delete command removes them, each statement conditional on the
// record still being the version saved (sameVersion), so a record another
// import writes meanwhile is kept.
func (s *Store) DeleteRecordsUnchangedSince(ctx context.Context, tenant, schema, importID string, ids []string, since time.Time) (kept int, err error) {
	if len(ids) == 0 {
		return 0, nil
	}
	c, err := s.coll(ctx, s.Records, RecordsCollection(tenant, schema))
	if err != nil {
		return 0, err
	}
	var (
		images []BeforeImage
		models []mongo.WriteModel
	)
	for _, id := range ids {
		// By _id alone: FerretDB answers that from its index, and scanned
		// the collection for every record with the condition added.
		raw, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // gone already
		}
		if err != nil {
			return 0, fmt.Errorf("read %s before deleting it: %w", id, err)
		}
		if !rawUnchangedSince(raw, since) {
			continue // written since: kept
		}
		images = append(images, BeforeImage{Tenant: tenant, Import: importID, Schema: schema, Record: id, Kind: ImageDeleted, Doc: raw})
		models = append(models, mongo.NewDeleteOneModel().SetFilter(sameVersion(id, raw)))
	}
	if len(models) > 0 {
		if err := s.SaveBeforeImages(ctx, images); err != nil {
			return 0, err
		}
		if _, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
			return 0, fmt.Errorf("delete %d records: %w", len(models), err)
		}
	}
	left, err := s.readByIDs(ctx, s.Records, RecordsCollection(tenant, schema), ids)
	if err != nil {
		return 0, err
	}
	return len(left), nil
}

// rawUnchangedSince is unchangedSince for a record read: no write time, or
// one before since's millisecond.
func rawUnchangedSince(raw bson.Raw, since time.Time) bool {
	v, err := raw.LookupErr(UpdatedAtField)
	if err != nil {
		return true
	}
	at, ok := v.TimeOK()
	return ok && at.Before(since.UTC().Truncate(time.Millisecond))
}

// SaveDeletionProgress saves the summary of an import whose deletions are
// under way, if it is still as the deletion step read it: the same
// accounting sequence and the progress prevDone. Of two deliveries of one
// step (a redelivery while the first is still at work) only one counts its
// batch; the other gets ErrSummaryChanged and finds the step done.
func (s *Store) SaveDeletionProgress(ctx context.Context, sum *ledger.Summary, prevDone int) error {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return err
	}
	done := bson.A{bson.D{{Key: "_accounting.delete_plan.done", Value: prevDone}}}
	if prevDone == 0 { // a plan saved by an earlier version has no progress
		done = append(done, bson.D{{Key: "_accounting.delete_plan.done", Value: bson.D{{Key: "$exists", Value: false}}}})
	}
	filter := bson.D{{Key: "_id", Value: sum.ID}, {Key: "_accounting.last_seq", Value: int64(sum.LastSeq)}, {Key: "$or", Value: done}}
	res, err := c.ReplaceOne(ctx, filter, summaryDocOf(sum))
	if err != nil {
		return fmt.Errorf("save deletion progress of %s: %w", sum.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("save deletion progress of %s at %d: %w", sum.ID, prevDone, ErrSummaryChanged)
	}
	return nil
}
