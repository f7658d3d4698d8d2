// Package writer is the stage that stores records and says, for every row,
// whether it created, updated or skipped a record, or failed.
//
// The write path is insert-first: every record of a chunk is inserted with
// its deterministic _id in one unordered InsertMany (on the embedded
// FerretDB, one SQLite transaction: see pkg/embedded). Only the rows whose
// key already exists are then read, all at once, and those that really
// change something are updated with $set (bulk writes; on the embedded
// FerretDB, one transaction for the changes that keep each field's type).
// Once most of an import's keys turn out to exist (a re-import), its chunks
// are read first and only the new rows inserted: a failed insert costs
// FerretDB as much as a successful one. Update mode and dry runs read first
// instead; a dry run writes nothing and reports what would happen.
// Each record carries the import and row that created it and that last
// wrote it, so a redelivered chunk reports exactly what it reported before.
package writer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// Durable is the consumer name shared by all writer instances.
const Durable = "writer"

// Config tunes the writer.
type Config struct {
	Runner runner.Config
	// Workers is how many chunks of one partition one instance writes at
	// once (default 2): while one waits for the database, the next is
	// decoded and prepared, and the database gets its next command without
	// a round trip's pause.
	Workers    int
	Partitions partitions.Config
}

// DefaultWorkers is Config.Workers when unset.
const DefaultWorkers = 2

// Run consumes unique record chunks until ctx ends.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	w := &writer{store: d.Store, schemas: d.Schemas}
	workers := cfg.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	// INTAKE_UNIQUE is partitioned by import: a small import's chunks wait
	// for their own partition's loops, not behind a large import's backlog.
	// Each loop pulls 8 chunks at a time, so that the next is at hand when
	// one is written (2 in flight per partition made a 200,000-row import
	// slower than the whole stream's 256, measured).
	st := partitions.Stage{Stream: subjects.StreamUnique, Subject: subjects.Unique, Durable: Durable,
		MaxAckPending: 8 * workers, Loops: workers}
	return partitions.RunStage(ctx, d.JS, st, partitions.StageConfig{Runner: cfg.Runner, Partitions: cfg.Partitions},
		partitions.Handling{Name: envelope.StageWrite, Handler: w.handle, DeadLetter: platform.RecordDeadLetter(envelope.StageWrite)}, d.Log)
}

// Store is what the writer needs of the store: whether an import was
// cancelled, and the records of a tenant's entity, indexed on its key
// fields, read by key, inserted and updated; and the before-images of the
// updates, for an undo.
type Store interface {
	EnsureRecordIndexes(ctx context.Context, tenant, schema string, keys []string) error
	Cancelled(ctx context.Context, tenant, importID string) (bool, error)
	GetRecords(ctx context.Context, tenant, schema string, keys []string) (map[string]*reconcile.Existing, error)
	InsertRecords(ctx context.Context, tenant, schema string, recs []store.NewRecord) (store.Inserted, error)
	UpdateRecords(ctx context.Context, tenant, schema string, ups []store.FieldUpdate) (refused map[int]*store.Refusal, err error)
	SaveBeforeImages(ctx context.Context, imgs []store.BeforeImage) error
	KeyUse(ctx context.Context, tenant, schema string) (store.KeyUse, bool, error)
	RecordStoredHandles(ctx context.Context, tenant, schema string, used []string, hs []store.Handle) error
}

// Schemas is what the writer needs of the schema catalog: a tenant's
// schema by name.
type Schemas interface {
	Get(ctx context.Context, tenant, name string) (*schema.Schema, bool, error)
}

type writer struct {
	store   Store
	schemas Schemas

	mu       sync.Mutex
	existing map[string]float64 // by ids.Scoped(tenant, import): share of rows whose key existed in its last chunk
}

// mostlyExisting reports whether most rows of an import's last chunk had
// existing keys, so reading first is cheaper than inserting first.
func (w *writer) mostlyExisting(scoped string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.existing[scoped] > 0.5
}

func (w *writer) noteExisting(scoped string, existing, total int) {
	if total == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.existing == nil || len(w.existing) > 10_000 {
		w.existing = map[string]float64{} // forget old imports; one chunk relearns
	}
	w.existing[scoped] = float64(existing) / float64(total)
}

func (w *writer) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var ch envelope.RecordChunk
	if err := json.Unmarshal(m.Data, &ch); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed record chunk: %w", err))
	}
	outcomes, err := w.write(ctx, &ch)
	if err != nil {
		return nil, err
	}
	o, err := platform.OutcomeOutput(envelope.StageWrite, ch.Tenant, ch.Import, ch.Chunk, outcomes)
	if err != nil {
		return nil, err
	}
	return []runner.Output{o}, nil
}

func (w *writer) write(ctx context.Context, ch *envelope.RecordChunk) ([]envelope.Outcome, error) {
	opts := ch.Options
	switch opts.Mode {
	case envelope.ModeInsert, envelope.ModeUpsert, envelope.ModeReplace, envelope.ModeUpdate:
	default:
		return nil, runner.Permanent(fmt.Errorf("unsupported mode %q", opts.Mode))
	}
	sch, ok, err := w.schemas.Get(ctx, ch.Tenant, opts.Schema)
	if catalog.Permanent(err) {
		return nil, runner.Permanent(err)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, runner.Permanent(fmt.Errorf("unknown schema %q", opts.Schema))
	}
	if err := w.store.EnsureRecordIndexes(ctx, ch.Tenant, opts.Schema, sch.Keys); err != nil {
		return nil, err
	}
	if cancelled, err := w.store.Cancelled(ctx, ch.Tenant, ch.Import); err != nil {
		return nil, err
	} else if cancelled {
		return cancelledOutcomes(ch.Records), nil
	}
	outcomes := make([]envelope.Outcome, len(ch.Records))
	existing := make([]bool, len(ch.Records))
	// Rows lacking what creating a record needs may still update one.
	cannotCreate := make([][]schema.FieldError, len(ch.Records))
	for i := range ch.Records {
		// JSON turned int64 into float64, lists into []any; dates are
		// stored as dates (UTC midnight), not as the strings they travel as.
		ch.Records[i].Fields = sch.StoredDates(sch.Restore(ch.Records[i].Fields))
		cannotCreate[i] = sch.CheckCreate(ch.Records[i].Fields)
	}
	// found holds the records read so far; rows marked existing but not in
	// it are read below.
	found := map[string]*reconcile.Existing{}
	creating := creates(opts)
	if creating && w.mostlyExisting(ids.Scoped(ch.Tenant, ch.Import)) {
		// Re-imports: most keys exist, and a failed insert costs FerretDB
		// as much as a real one. Read the chunk first, insert only the new.
		keys := make([]string, len(ch.Records))
		for i, r := range ch.Records {
			keys[i] = r.Key
		}
		if found, err = w.store.GetRecords(ctx, ch.Tenant, opts.Schema, keys); err != nil {
			return nil, err
		}
		storedDates(sch, found)
	}
	if creating {
		var recs []store.NewRecord
		var at []int // recs[j] is ch.Records[at[j]]
		for i, r := range ch.Records {
			if !insertable(found[r.Key], cannotCreate[i]) {
				existing[i] = true
				continue
			}
			recs = append(recs, store.NewRecord{ID: r.Key, Fields: r.Fields, Stamp: stampOf(ch.Import, r)})
			at = append(at, i)
		}
		in, err := w.store.InsertRecords(ctx, ch.Tenant, opts.Schema, recs)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			existing[i] = in.Existed[j]
			switch {
			case in.Refused[j] != nil:
				outcomes[i] = refusedOutcome(ch.Records[i].Row, in.Refused[j])
			case !in.Existed[j]:
				outcomes[i] = envelope.Outcome{Row: ch.Records[i].Row, Result: envelope.Created}
			}
		}
	} else {
		for i := range existing {
			existing[i] = true // to be looked up
		}
	}

	var unread []string
	existingRows := 0
	for i, r := range ch.Records {
		if existing[i] {
			existingRows++
			if found[r.Key] == nil {
				unread = append(unread, r.Key)
			}
		}
	}
	w.noteExisting(ids.Scoped(ch.Tenant, ch.Import), existingRows, len(ch.Records))
	more, err := w.store.GetRecords(ctx, ch.Tenant, opts.Schema, unread)
	if err != nil {
		return nil, err
	}
	storedDates(sch, more)
	for k, e := range more {
		found[k] = e
	}
	var updates []store.FieldUpdate
	var updated []int // updates[j] is ch.Records[updated[j]]'s
	for i, r := range ch.Records {
		if !existing[i] {
			continue
		}
		o, up, err := decideRow(opts, ch.Import, r, cannotCreate[i], found[r.Key])
		if err != nil {
			return nil, err
		}
		outcomes[i] = o
		if up != nil {
			updates, updated = append(updates, *up), append(updated, i)
		}
	}
	// The records' state before the import, for an undo: stored before the
	// update, so no update is ever written without its before-image.
	if err := w.store.SaveBeforeImages(ctx, beforeImages(ch.Tenant, opts.Schema, ch.Import, sch, updates, found)); err != nil {
		return nil, err
	}
	refused, err := w.store.UpdateRecords(ctx, ch.Tenant, opts.Schema, updates)
	if err != nil {
		return nil, err
	}
	for j, r := range refused {
		i := updated[j]
		outcomes[i] = refusedOutcome(ch.Records[i].Row, r)
	}
	if err := w.recordDeferredHandles(ctx, ch, sch, outcomes); err != nil {
		return nil, err
	}
	return outcomes, nil
}

// storedDates reads the dates of records as read back (a BSON date in the
// form each read path gives it, or a string stored by an earlier version)
// as the time.Time incoming records carry, so the same day compares equal.
func storedDates(sch *schema.Schema, found map[string]*reconcile.Existing) {
	for _, e := range found {
		if e != nil {
			e.Fields = sch.StoredDates(e.Fields)
		}
	}
}

// recordDeferredHandles records the handles of the records a chunk that
// passed the deduplicator without the handle index (HandlesDeferred)
// created or updated, if the index has been started since (the marker's
// Indexed), as the backfill records a stored record's. The marker is read
// after the writes: either they came before the index was started, and
// the backfill's scan, which starts after, sees them; or this read comes
// after, and sees it started. Idempotent, so a redelivery does it again.
func (w *writer) recordDeferredHandles(ctx context.Context, ch *envelope.RecordChunk, sch *schema.Schema, outcomes []envelope.Outcome) error {
	if !ch.HandlesDeferred || ch.Options.DryRun {
		return nil
	}
	use, _, err := w.store.KeyUse(ctx, ch.Tenant, ch.Options.Schema)
	if err != nil || len(use.Indexed) == 0 {
		return err
	}
	key, err := sch.ResolveKey(ch.Options.Key)
	if err != nil {
		return runner.Permanent(err)
	}
	return w.store.RecordStoredHandles(ctx, ch.Tenant, ch.Options.Schema, use.Used, writtenHandles(ch, sch, key, outcomes))
}

// writtenHandles are the handles of the rows of a chunk that created or
// updated their record (outcomes[i] is ch.Records[i]'s), as that record's:
// its key fields' values (the deduplicator passes a deferred chunk on
// without the rows' handles, which would only make it longer).
func writtenHandles(ch *envelope.RecordChunk, sch *schema.Schema, key string, outcomes []envelope.Outcome) []store.Handle {
	var hs []store.Handle
	for i, r := range ch.Records {
		if res := outcomes[i].Result; res != envelope.Created && res != envelope.Updated {
			continue
		}
		for _, h := range sch.KeyHandles(key, r.Fields) {
			if h != r.Key { // the record's own _id: found as such
				hs = append(hs, store.Handle{ID: h, Record: r.Key, Stamp: reconcile.Stamp{Import: ch.Import, Row: r.Row}})
			}
		}
	}
	return hs
}
