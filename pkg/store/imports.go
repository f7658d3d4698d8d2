package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
)

const (
	importsColl   = "imports"
	rowsColl      = "import_rows"
	deletionsColl = "import_deletions"
)

const planDocSize = 10_000

type planDoc struct {
	ID  string   `bson:"_id"`
	IDs []string `bson:"ids"`
}

// WritePlan stores the records to delete and returns the plan.
func (s *Store) WritePlan(ctx context.Context, importID string, ids []string) (*ledger.DeletePlan, error) {
	c, err := s.coll(ctx, s.Meta, deletionsColl)
	if err != nil {
		return nil, err
	}
	plan := &ledger.DeletePlan{Count: len(ids)}
	for start := 0; start < len(ids); start += planDocSize {
		end := min(start+planDocSize, len(ids))
		d := planDoc{ID: fmt.Sprintf("%s:%d", importID, plan.Docs), IDs: ids[start:end]}
		if _, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true)); err != nil {
			return nil, fmt.Errorf("write delete plan: %w", err)
		}
		plan.Docs++
	}
	return plan, nil
}

// ErrOtherTenant is FindSummary's answer for an import ID that another
// tenant's import holds.
var ErrOtherTenant = errors.New("the import belongs to another tenant")

// GetSummary reads one of a tenant's imports: another tenant's is not found.
// Every read on behalf of a tenant goes through here or FindSummary.
func (s *Store) GetSummary(ctx context.Context, tenant, id string) (*ledger.Summary, bool, error) {
	sum, found, err := s.FindSummary(ctx, tenant, id)
	if errors.Is(err, ErrOtherTenant) {
		return nil, false, nil
	}
	return sum, found, err
}

// FindSummary is GetSummary for callers that look further when an import
// has no summary yet (its opened event, the rows stream): for another
// tenant's import it answers ErrOtherTenant, so that they answer "not
// found" at once instead of asking a broker that may be unavailable.
func (s *Store) FindSummary(ctx context.Context, tenant, id string) (*ledger.Summary, bool, error) {
	sum, found, err := s.ReadSummary(ctx, id)
	switch {
	case err != nil || !found:
		return nil, false, err
	case sum.Tenant != tenant:
		return nil, false, ErrOtherTenant
	}
	return sum, true, nil
}

// ReadSummary reads an import's summary whichever tenant it belongs to: for
// the reporter, which must see that an import ID is taken before it
// creates a summary, and refuses another tenant's accounting for it.
func (s *Store) ReadSummary(ctx context.Context, id string) (*ledger.Summary, bool, error) {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return nil, false, err
	}
	var d summaryDoc
	found, err := findByID(ctx, c, id, &d)
	if err != nil || !found {
		return nil, found, err
	}
	return d.summary(), true, nil
}

// Cancelled reports whether one of a tenant's imports was cancelled
// (another tenant's import of the same ID never is). The writer asks before
// every chunk, so on the embedded FerretDB it is one indexed SQL read, not a
// find command (0.1 against 2 ms on a busy machine, measured).
func (s *Store) Cancelled(ctx context.Context, tenant, importID string) (bool, error) {
	docs, err := s.readByIDs(ctx, s.Meta, importsColl, []string{importID})
	if err != nil {
		return false, fmt.Errorf("read import %s: %w", importID, err)
	}
	doc := docs[importID]
	if t, _ := doc["tenant"].(string); t != tenant {
		return false, nil
	}
	c, _ := doc["cancelled"].(bool)
	return c, nil
}

// SaveSummary writes an import's summary whole.
func (s *Store) SaveSummary(ctx context.Context, sum *ledger.Summary) error {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return err
	}
	_, err = c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: sum.ID}}, summaryDocOf(sum), options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("save summary %s: %w", sum.ID, err)
	}
	return nil
}

// ErrSummaryChanged is SaveSummaryIf's answer when the stored summary is not
// the one the caller read: another reporter applied a message to it first.
var ErrSummaryChanged = errors.New("summary changed since it was read")

// SaveSummaryIf writes an import's summary whole if the stored one is still
// at accounting sequence prevSeq (0: if there is none yet), else fails with
// ErrSummaryChanged: of two reporters briefly applying messages to one
// import (a partition failing over), only the first write counts, and the
// other reads the summary again.
func (s *Store) SaveSummaryIf(ctx context.Context, sum *ledger.Summary, prevSeq uint64) error {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return err
	}
	filter := bson.D{{Key: "_id", Value: sum.ID}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "_accounting.last_seq", Value: int64(prevSeq)}},
		// stored by an earlier version, without _accounting
		bson.D{{Key: "_accounting", Value: bson.D{{Key: "$exists", Value: false}}}, {Key: "last_seq", Value: int64(prevSeq)}},
	}}}
	// With prevSeq 0 the summary may not exist yet: an upsert, which fails
	// on the _id when another writer created it meanwhile.
	res, err := c.ReplaceOne(ctx, filter, summaryDocOf(sum), options.Replace().SetUpsert(prevSeq == 0))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("save summary %s: %w", sum.ID, ErrSummaryChanged)
	}
	if err != nil {
		return fmt.Errorf("save summary %s: %w", sum.ID, err)
	}
	if res.MatchedCount == 0 && res.UpsertedCount == 0 {
		return fmt.Errorf("save summary %s at sequence %d: %w", sum.ID, prevSeq, ErrSummaryChanged)
	}
	return nil
}

// ListSummaries lists a tenant's imports, newest first.
func (s *Store) ListSummaries(ctx context.Context, tenant string, limit int) ([]ledger.Summary, error) {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return nil, err
	}
	proj := bson.D{}
	for _, f := range projectNoAccounting {
		proj = append(proj, bson.E{Key: f, Value: 0})
	}
	docs, err := findAll[summaryDoc](ctx, c, "list imports", bson.D{{Key: "tenant", Value: tenant}}, options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}}).SetLimit(int64(limit)).SetProjection(proj))
	return summariesOf(docs), err
}

// RowDoc is one outcome chunk's notes: the rows that were skipped or failed, with why.
type RowDoc struct {
	ID     string
	Import string
	Tenant string
	Rows   []envelope.Outcome
}

// rowDoc is a RowDoc as stored: the notes as groups of rows with the same
// result and problems, {result, problems: [{field, message}], rows: [...]},
// so that mongosh can find an import's failed rows. Not one sub-document per
// row: FerretDB converts documents field by field, and a re-import whose
// rows are mostly "unchanged" notes every one of them: 1,000 such rows cost
// 29 ms of CPU as sub-documents, 4.0 as groups and 4.1 as the JSON text of
// earlier versions (BenchmarkRowNotes).
type rowDoc struct {
	ID     string      `bson:"_id"`
	Import string      `bson:"import"`
	Tenant string      `bson:"tenant"`
	Notes  []noteGroup `bson:"notes"`
}

// noteGroup is the rows of a chunk that have the same result and problems.
type noteGroup struct {
	Result   string             `bson:"result"`
	Problems []envelope.Problem `bson:"problems,omitempty"`
	Rows     []int              `bson:"rows"`
}

// groupNotes groups outcomes by result and problems, in the order of their
// first row.
func groupNotes(rows []envelope.Outcome) []noteGroup {
	var groups []noteGroup
	at := map[string]int{}
	for _, o := range rows {
		k, _ := json.Marshal(struct {
			R string
			P []envelope.Problem
		}{o.Result, o.Problems})
		i, ok := at[string(k)]
		if !ok {
			i = len(groups)
			at[string(k)] = i
			groups = append(groups, noteGroup{Result: o.Result, Problems: o.Problems})
		}
		groups[i].Rows = append(groups[i].Rows, o.Row)
	}
	return groups
}

// storedRowDoc reads notes in either form: groups, or the JSON text of
// earlier versions.
type storedRowDoc struct {
	ID    string        `bson:"_id"`
	Notes bson.RawValue `bson:"notes"`
}

func (d storedRowDoc) outcomes() ([]envelope.Outcome, error) {
	if text, ok := d.Notes.StringValueOK(); ok {
		var rows []envelope.Outcome
		err := json.Unmarshal([]byte(text), &rows)
		return rows, err
	}
	var groups []noteGroup
	if err := d.Notes.Unmarshal(&groups); err != nil {
		return nil, err
	}
	var rows []envelope.Outcome
	for _, g := range groups {
		for _, r := range g.Rows {
			rows = append(rows, envelope.Outcome{Row: r, Result: g.Result, Problems: g.Problems})
		}
	}
	return rows, nil
}

// InsertRowDoc stores a chunk's row notes once; a second insert of the same
// chunk (redelivery) is ignored.
func (s *Store) InsertRowDoc(ctx context.Context, d RowDoc) error {
	c, err := s.coll(ctx, s.Meta, rowsColl)
	if err != nil {
		return err
	}
	_, err = insertMany(ctx, c, []any{rowDoc{ID: d.ID, Import: d.Import, Tenant: d.Tenant, Notes: groupNotes(d.Rows)}})
	return err
}

// RowNotes returns the noted rows of an import (skipped and failed), by row
// number. result filters by result when not empty.
func (s *Store) RowNotes(ctx context.Context, sum *ledger.Summary, result string) ([]envelope.Outcome, error) {
	c, err := s.coll(ctx, s.Meta, rowsColl)
	if err != nil {
		return nil, err
	}
	ids := append([]string(nil), sum.RowDocs...)
	sum.NotedChunks(func(stage string, chunk int) { ids = append(ids, RowDocID(sum.ID, stage, chunk)) })
	return readRowNotes(ctx, c, ids, result)
}

// ChunkRowNotes returns the noted rows of one chunk of an import (every
// stage's notes for that chunk number), by row number: what a reader that
// walks an import chunk by chunk needs, without holding the whole import's
// notes. result filters by result when not empty. Notes named only in
// sum.RowDocs (summaries of earlier versions) are not included.
func (s *Store) ChunkRowNotes(ctx context.Context, sum *ledger.Summary, chunk int, result string) ([]envelope.Outcome, error) {
	c, err := s.coll(ctx, s.Meta, rowsColl)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, stage := range sum.NotedStages(chunk) {
		ids = append(ids, RowDocID(sum.ID, stage, chunk))
	}
	return readRowNotes(ctx, c, ids, result)
}

// readRowNotes reads row-notes documents by id (missing ones are skipped),
// keeps the outcomes with result (all when empty) and sorts them by row.
func readRowNotes(ctx context.Context, c *mongo.Collection, ids []string, result string) ([]envelope.Outcome, error) {
	var out []envelope.Outcome
	for _, id := range ids {
		var d storedRowDoc
		found, err := findByID(ctx, c, id, &d)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		rows, err := d.outcomes()
		if err != nil {
			return nil, fmt.Errorf("row notes %s: %w", id, err)
		}
		for _, o := range rows {
			if result == "" || o.Result == result {
				out = append(out, o)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Row < out[j].Row })
	return out, nil
}

// RowDocID names the import_rows document of a stage's chunk.
func RowDocID(importID, stage string, chunk int) string {
	return fmt.Sprintf("%s:%s:%d", importID, stage, chunk)
}

// CountProcessing counts a tenant's imports still processing (a scan of the
// imports collection: FerretDB answers only _id from an index).
func (s *Store) CountProcessing(ctx context.Context, tenant string) (int, error) {
	c, err := s.coll(ctx, s.Meta, importsColl)
	if err != nil {
		return 0, err
	}
	n, err := c.CountDocuments(ctx, bson.D{{Key: "tenant", Value: tenant}, {Key: "status", Value: ledger.StatusProcessing}})
	if err != nil {
		return 0, fmt.Errorf("count imports: %w", err)
	}
	return int(n), nil
}
