// Package undo is the stage that runs undo jobs: it reverses what one
// import wrote. Records the import created are deleted, fields it updated
// are set back to their before-images (saved by the writer when it wrote
// the update), and records its replace deleted are stored again (saved by
// the store's delete). A record another import wrote since is kept as it
// is and named. Every write is conditional on the record being still the
// import's (or still absent), and every write of the undo is stamped with
// the undo's id, so a redelivered job decides each record again from what
// is stored and neither writes nor counts anything twice.
//
// One job is one message on intake.undo.<tenant>.<undo id>
// (envelope.UndoRequest), published by pkg/imports once the undo's summary
// is saved; the job walks the import's before-images in pages of
// PageSize, saving its counts in the undo's summary after each page.
package undo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// Durable is the consumer name shared by all undo instances.
const Durable = "undo"

// Stage names the undo in logs, metrics and dead letters.
const Stage = "undo"

// PageSize is how many records one page of a job reads and writes.
const PageSize = 500

// Config tunes the undo stage.
type Config struct {
	Runner runner.Config
	// Retention is how long before-images are kept (--rows-retention):
	// the stage deletes older ones (sweep); 0 keeps them.
	Retention time.Duration
}

// Store is what an undo needs of the store.
type Store interface {
	GetSummary(ctx context.Context, tenant, id string) (*ledger.Summary, bool, error)
	SaveSummary(ctx context.Context, sum *ledger.Summary) error
	InsertRowDoc(ctx context.Context, d store.RowDoc) error
	RecordsCreatedBy(ctx context.Context, tenant, schema, importID string) ([]store.CreatedRecord, error)
	SaveCreatedImages(ctx context.Context, imgs []store.BeforeImage) error
	BeforeImages(ctx context.Context, tenant, importID, after string, limit int) ([]store.BeforeImage, error)
	GetRecords(ctx context.Context, tenant, schema string, ids []string) (map[string]*reconcile.Existing, error)
	DeleteRecordWrittenBy(ctx context.Context, tenant, schema, id, importID string) (bool, error)
	RestoreFields(ctx context.Context, tenant, schema, id, importID string, set map[string]any, unset []string, by reconcile.Stamp) (bool, error)
	RestoreDeleted(ctx context.Context, tenant, schema string, doc []byte, by reconcile.Stamp) (bool, error)
}

// Run consumes undo requests until ctx ends.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	if cfg.Retention > 0 {
		go sweep(ctx, d, cfg.Retention)
	}
	cons, err := streams.EnsureConsumer(ctx, d.JS, streams.Consumer{Stream: subjects.StreamUndo, Durable: Durable, AckWait: cfg.Runner.AckWait})
	if err != nil {
		return err
	}
	rc := cfg.Runner
	rc.Name = Stage
	rc.Batch = 1
	// A job holds its message while it runs (the runner tells the server
	// it is in progress); a large import's undo takes minutes.
	rc.HandlerTimeout = max(rc.HandlerTimeout, time.Hour)
	j := &jobs{store: storeOf{d.Store}}
	return runner.New(d.JS, cons, rc, j.handle, d.Log).Run(ctx)
}

// sweepEvery is how often the undo stage deletes expired before-images.
const sweepEvery = 10 * time.Minute

// sweep deletes the before-images past the retention, now and every
// sweepEvery, until ctx ends. Every instance sweeps; a delete of what
// another deleted deletes nothing.
func sweep(ctx context.Context, d platform.Deps, retention time.Duration) {
	for {
		n, err := d.Store.DeleteBeforeImagesBefore(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			d.Log.Warn("expired before-images not deleted; trying again later", zap.Error(err))
		case n > 0:
			d.Log.Info("expired before-images deleted", zap.Int64("deleted", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(sweepEvery):
		}
	}
}

// storeOf adapts *store.Store's RestoreDeleted (bson.Raw) to Store.
type storeOf struct{ *store.Store }

func (s storeOf) RestoreDeleted(ctx context.Context, tenant, schema string, doc []byte, by reconcile.Stamp) (bool, error) {
	return s.Store.RestoreDeleted(ctx, tenant, schema, doc, by)
}

type jobs struct {
	store Store
}

func (j *jobs) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var req envelope.UndoRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Undo == "" || req.Original == "" {
		return nil, runner.Permanent(fmt.Errorf("malformed undo request: %v", err))
	}
	sum, found, err := j.store.GetSummary(ctx, req.Tenant, req.Undo)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, runner.Permanent(fmt.Errorf("undo %s has no summary", req.Undo))
	}
	if sum.Status == ledger.StatusFailed {
		return nil, nil // ended by the unsealed-import timeout before it ran: another undo may be asked
	}
	if sum.Status == ledger.StatusProcessing {
		orig, found, err := j.store.GetSummary(ctx, req.Tenant, req.Original)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, runner.Permanent(fmt.Errorf("import %s has no summary", req.Original))
		}
		if err := j.run(ctx, sum, orig); err != nil {
			return nil, err
		}
	}
	// Done (now, or by an earlier delivery): announce it, once per ID.
	total := sum.Total
	ev := envelope.Event{Type: envelope.EventCompleted, Tenant: sum.Tenant, Import: sum.ID, Total: &total,
		Counts: &envelope.Counts{Failed: sum.Counts.Failed}, At: time.Now().UTC()}
	o, err := platform.JSONOutput(subjects.For(subjects.Events, sum.Tenant, sum.ID), subjects.EventID(sum.Tenant, sum.ID, "completed"), ev)
	if err != nil {
		return nil, err
	}
	return []runner.Output{o}, nil
}

// run reverses orig as the undo sum (or, in a dry run, only counts what
// reversing would do) and saves sum completed. It starts from the first
// record every time: what an interrupted delivery already did is found in
// the records, so the counts come out the same.
func (j *jobs) run(ctx context.Context, sum, orig *ledger.Summary) error {
	tenant, schemaName, dry := orig.Tenant, orig.Options.Schema, sum.Options.DryRun
	created, err := j.store.RecordsCreatedBy(ctx, tenant, schemaName, orig.ID)
	if err != nil {
		return err
	}
	createdImgs := make([]store.BeforeImage, len(created))
	for i, c := range created {
		createdImgs[i] = store.BeforeImage{Tenant: tenant, Import: orig.ID, Schema: schemaName, Record: c.ID, Row: c.Row, Kind: store.ImageCreated}
	}
	// A dry run stores nothing: the created records are decided from this
	// list, those with an image (also updated) when their image comes up.
	createdAt := map[string]int{}
	if dry {
		for i, im := range createdImgs {
			createdAt[im.Record] = i
		}
	} else {
		for start := 0; start < len(createdImgs); start += PageSize {
			if err := j.store.SaveCreatedImages(ctx, createdImgs[start:min(start+PageSize, len(createdImgs))]); err != nil {
				return err
			}
		}
	}
	var t tally
	page, after := 0, ""
	for {
		imgs, err := j.store.BeforeImages(ctx, tenant, orig.ID, after, PageSize)
		if err != nil {
			return err
		}
		if len(imgs) == 0 {
			break
		}
		after = store.BeforeImageID(tenant, orig.ID, imgs[len(imgs)-1].Record)
		for i := range imgs {
			if _, ok := createdAt[imgs[i].Record]; ok {
				imgs[i].Kind = store.ImageCreated
				delete(createdAt, imgs[i].Record)
			}
		}
		if err := j.page(ctx, sum, orig, imgs, page, &t); err != nil {
			return err
		}
		page++
	}
	var pending []store.BeforeImage
	for _, im := range createdImgs {
		if _, ok := createdAt[im.Record]; ok {
			pending = append(pending, im)
		}
	}
	for start := 0; start < len(pending); start += PageSize {
		if err := j.page(ctx, sum, orig, pending[start:min(start+PageSize, len(pending))], page, &t); err != nil {
			return err
		}
		page++
	}
	now := time.Now().UTC()
	sum.Status, sum.Sealed, sum.CompletedAt, sum.UpdatedAt = ledger.StatusCompleted, true, &now, now
	return j.store.SaveSummary(ctx, sum)
}

// page decides and writes one page of records, notes the kept and failed
// ones (import_rows, <undo>:undo:<page>) and saves the counts so far.
func (j *jobs) page(ctx context.Context, sum, orig *ledger.Summary, imgs []store.BeforeImage, page int, t *tally) error {
	schemaName := orig.Options.Schema
	ids := make([]string, len(imgs))
	for i, im := range imgs {
		ids[i] = im.Record
	}
	stamps, err := j.store.GetRecords(ctx, orig.Tenant, schemaName, ids)
	if err != nil {
		return err
	}
	var notes []envelope.Outcome
	for _, im := range imgs {
		d, reason, err := j.one(ctx, sum, orig, im, stamps[im.Record])
		if err != nil {
			return err
		}
		t.add(d.result)
		switch d.result {
		case kept:
			notes = append(notes, keptNote(im, d.by))
		case failed:
			notes = append(notes, failedNote(im, reason))
		}
	}
	if len(notes) > 0 {
		id := store.RowDocID(sum.ID, Stage, page)
		if err := j.store.InsertRowDoc(ctx, store.RowDoc{ID: id, Import: sum.ID, Tenant: sum.Tenant, Rows: notes}); err != nil {
			return err
		}
		if !slices.Contains(sum.RowDocs, id) {
			sum.RowDocs = append(sum.RowDocs, id)
		}
	}
	sum.Reversed, sum.Kept, sum.Counts.Failed = t.reversed, t.kept, t.failed
	sum.Total, sum.UpdatedAt = t.reversed+t.kept+t.failed, time.Now().UTC()
	return j.store.SaveSummary(ctx, sum)
}

// one reverses one record (a dry run only decides). A conditional write
// that matches nothing means another write came first: the record is read
// again and decided once more. reason is the database's, for a failed one.
func (j *jobs) one(ctx context.Context, sum, orig *ledger.Summary, im store.BeforeImage, cur *reconcile.Existing) (decision, string, error) {
	d := decide(im, cur, orig.ID, sum.ID)
	if d.act == none || sum.Options.DryRun {
		return d, "", nil
	}
	by := reconcile.Stamp{Import: sum.ID, Row: im.Row}
	schemaName := orig.Options.Schema
	var done bool
	var err error
	switch d.act {
	case remove:
		done, err = j.store.DeleteRecordWrittenBy(ctx, orig.Tenant, schemaName, im.Record, orig.ID)
	case restore:
		done, err = j.store.RestoreFields(ctx, orig.Tenant, schemaName, im.Record, orig.ID, im.Set, im.Unset, by)
	case reinsert:
		done, err = j.store.RestoreDeleted(ctx, orig.Tenant, schemaName, im.Doc, by)
	}
	var refused *store.Refusal
	if errors.As(err, &refused) {
		return decision{result: failed}, refused.Message, nil
	}
	if err != nil || done {
		return d, "", err
	}
	now, err := j.store.GetRecords(ctx, orig.Tenant, schemaName, []string{im.Record})
	if err != nil {
		return decision{}, "", err
	}
	if again := decide(im, now[im.Record], orig.ID, sum.ID); again.act == none {
		return again, "", nil
	}
	return decision{}, "", fmt.Errorf("record %s changed while being reversed; trying again", im.Record)
}
