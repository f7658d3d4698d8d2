// Package reporter is the stage that keeps every import's summary: it counts
// each row's outcome exactly once, stores the rows that were skipped or
// failed with their reasons, and completes the import when every row of the
// sealed source is accounted for.
//
// Exactly once: INTAKE_OUTCOMES is partitioned by import, with one consumer
// per partition (pinned to one instance at a time: pkg/partitions), read by
// a batch runner (runner.BatchRunner) that hands over the messages waiting
// in stream order and only once every earlier one is acked, so an import's
// accounting messages are applied strictly in stream order while other
// imports' are applied in parallel, by this or other instances. A batch's
// messages change each import's summary in memory, written once. Each summary remembers the stream sequence of the last
// message applied to it. A redelivered message (crash after the summary
// was saved, before the ack) has a sequence not above that mark and is not
// counted again. Every save is conditional on the sequence the handler
// read (store.SaveSummaryIf), so two instances briefly handling one
// partition (a fail-over) cannot both apply a message.
package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// Durable is the consumer name shared by all reporter instances.
const Durable = "reporter"

// Config tunes the reporter.
type Config struct {
	Runner     runner.Config
	Partitions partitions.Config
	// UnsealedTimeout fails an import that is still processing and has made
	// no progress (no accounting message applied to it) for this long: opened
	// and never sealed, or sealed with rows that never all arrive. 0 means
	// DefaultUnsealedTimeout; negative turns the timeout off. Every reporter
	// instance should be given the same value.
	UnsealedTimeout time.Duration
	// SweepEvery is how often the reporter looks for such imports (default
	// DefaultSweepEvery: a quarter of the timeout, at most a minute).
	SweepEvery time.Duration
	// Batch is how many accounting messages of a partition, already
	// waiting, are applied together, with one summary write per import
	// (0: DefaultBatch; 1: one message at a time). It is the partition
	// consumers' MaxAckPending.
	Batch int
}

// DefaultBatch is Config.Batch when unset: `intake serve --accounting-batch`.
const DefaultBatch = 64

// DefaultUnsealedTimeout is Config.UnsealedTimeout when unset.
const DefaultUnsealedTimeout = time.Hour

// DefaultSweepEvery is Config.SweepEvery when unset: a quarter of the
// timeout, between a second and a minute, so an import ends within about
// 1.5 times the timeout of its last progress.
func DefaultSweepEvery(timeout time.Duration) time.Duration {
	return min(time.Minute, max(timeout/4, time.Second))
}

// Run consumes accounting messages until ctx ends.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	rc := cfg.Runner
	rc.Name = envelope.StageReport
	if rc.MaxDeliver == 0 {
		// Accounting is never given up on: a message dead-lettered here
		// would be rows never counted and an import that never ends. While
		// the database is down the reporter retries (every 5 s at most,
		// the longest backoff) for as long as it takes; only a message that
		// can never be applied (runner.Permanent) is dead-lettered.
		rc.MaxDeliver = math.MaxInt
	}
	rp := &reporter{store: d.Store, metrics: d.Metrics, log: d.Log.With(zap.String("component", envelope.StageReport)), timeout: cfg.UnsealedTimeout}
	if rp.timeout == 0 {
		rp.timeout = DefaultUnsealedTimeout
	}
	if rp.timeout > 0 {
		every := cfg.SweepEvery
		if every <= 0 {
			every = DefaultSweepEvery(rp.timeout)
		}
		swept := make(chan struct{})
		defer func() { <-swept }()
		go func() { defer close(swept); rp.sweep(ctx, d.JS, every) }()
	}
	batch := cfg.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	// The batch runner hands over a partition's messages in stream order
	// and only with every earlier one applied, whatever MaxAckPending is.
	st := partitions.Stage{Stream: subjects.StreamOutcomes, Subject: subjects.Outcomes, Durable: Durable, MaxAckPending: batch, AckWait: cfg.Runner.AckWait}
	if batch == 1 {
		// One at a time: the consumer's MaxAckPending of 1 keeps the order.
		one := func(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
			return rp.handleBatch(ctx, []runner.Msg{m})
		}
		return partitions.Run(ctx, d.JS, st, cfg.Partitions, rc, one, d.Log)
	}
	return partitions.RunBatch(ctx, d.JS, st, cfg.Partitions, rc, rp.handleBatch, d.Log)
}

// Store is what the reporter and its jobs need of the store: summaries, the
// row notes of skipped and failed rows, the imports that stopped making
// progress, the claims (what replace mode's rows touched, dropped at the
// end), and the records replace mode deletes with their deletion plan.
type Store interface {
	ReadSummary(ctx context.Context, id string) (*ledger.Summary, bool, error)
	SaveSummaryIf(ctx context.Context, sum *ledger.Summary, prevSeq uint64) error
	InsertRowDoc(ctx context.Context, d store.RowDoc) error
	StaleImports(ctx context.Context, olderThan time.Time) ([]ledger.Summary, error)
	ClaimedKeys(ctx context.Context, tenant, importID string) (map[string]bool, error)
	DropClaims(ctx context.Context, tenant, importID string) error
	RecordIDsUnchangedSince(ctx context.Context, tenant, schema string, since time.Time) ([]string, error)
	WritePlan(ctx context.Context, importID string, ids []string) (*ledger.DeletePlan, error)
	PlanBatch(ctx context.Context, importID string, plan *ledger.DeletePlan, from, n int) ([]string, error)
	DeleteRecordsUnchangedSince(ctx context.Context, tenant, schema, importID string, ids []string, since time.Time) (kept int, err error)
	SaveDeletionProgress(ctx context.Context, sum *ledger.Summary, prevDone int) error
	DropPlan(ctx context.Context, importID string, plan *ledger.DeletePlan) error
}

type reporter struct {
	store   Store
	metrics *metrics.Metrics
	log     *zap.Logger
	timeout time.Duration // unsealed-import timeout; <= 0: off
	stored  storedSeqs
}

// storedSeqs are, per import being handled, the accounting sequence of its
// summary as stored (0: none yet): every save is conditional on it
// (SaveSummaryIf), so that of two instances briefly handling one import's
// messages (a partition failing over) only one applies each message. The
// other's handler fails, and the redelivered message is decided again on
// the summary as it now is. Partitions are handled concurrently, one
// message of an import at a time.
type storedSeqs struct {
	mu    sync.Mutex
	bySum map[string]uint64
}

func (s *storedSeqs) set(id string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bySum == nil {
		s.bySum = map[string]uint64{}
	}
	s.bySum[id] = seq
}

func (s *storedSeqs) get(id string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bySum[id]
}

func (s *storedSeqs) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bySum, id)
}

// save writes sum if its stored version is still the one this handler read
// or last wrote.
func (rp *reporter) save(ctx context.Context, sum *ledger.Summary) error {
	if err := rp.store.SaveSummaryIf(ctx, sum, rp.stored.get(sum.ID)); err != nil {
		return err
	}
	rp.stored.set(sum.ID, sum.LastSeq)
	if rp.metrics != nil {
		rp.metrics.SummaryWrites.Inc()
	}
	return nil
}

// batch is what a batch of accounting messages works on: each import's
// summary, read once and changed in memory by its messages in stream order.
type batch struct {
	sums    map[string]*batchSum
	imports []string // in the order of their first message
}

type batchSum struct {
	sum   *ledger.Summary
	found bool // stored, or made by an earlier message of the batch
}

// summary is the import's summary as the batch has it, read at its first message.
func (rp *reporter) summary(ctx context.Context, b *batch, id string) (*batchSum, error) {
	if bs, ok := b.sums[id]; ok {
		return bs, nil
	}
	sum, found, err := rp.store.ReadSummary(ctx, id)
	if err != nil {
		return nil, err
	}
	if found {
		rp.stored.set(id, sum.LastSeq)
	} else {
		rp.stored.set(id, 0)
	}
	bs := &batchSum{sum: sum, found: found}
	b.sums[id] = bs
	b.imports = append(b.imports, id)
	return bs, nil
}

// handleBatch applies accounting messages of one partition, in stream
// order, and writes each import's summary once at the end, unless the
// messages changed nothing of it (all applied before: a redelivered
// batch). What ends an import (completion, expiry, unreadable rows, replace
// mode's plan) writes when it happens, as with one message, so that its
// event is published only after the summary says so. An error fails the
// whole batch, none of whose messages is then acked; the runner then goes
// through them one at a time, where each is decided again on the summary as
// stored (the sequence check makes what this batch wrote a no-op).
func (rp *reporter) handleBatch(ctx context.Context, ms []runner.Msg) ([]runner.Output, error) {
	b := &batch{sums: map[string]*batchSum{}}
	defer func() {
		for _, id := range b.imports {
			rp.stored.forget(id)
		}
	}()
	var outs []runner.Output
	for _, m := range ms {
		o, err := rp.handle(ctx, b, m)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o...)
	}
	for _, id := range b.imports {
		if sum := b.sums[id].sum; sum != nil && sum.LastSeq != rp.stored.get(id) {
			if err := rp.save(ctx, sum); err != nil {
				return nil, err
			}
		}
	}
	return uniqueOutputs(outs), nil
}

// handle applies one accounting message to its import's summary in b;
// writing it is left to handleBatch unless the message ends the import.
func (rp *reporter) handle(ctx context.Context, b *batch, m runner.Msg) ([]runner.Output, error) {
	var acc envelope.Accounting
	if err := json.Unmarshal(m.Data, &acc); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed accounting message: %w", err))
	}
	if acc.Import == "" || acc.Tenant == "" {
		return nil, runner.Permanent(fmt.Errorf("accounting message without tenant or import"))
	}
	bs, err := rp.summary(ctx, b, acc.Import)
	if err != nil {
		return nil, err
	}
	sum, found := bs.sum, bs.found
	now := time.Now().UTC()
	switch routeOf(sum, found, &acc, m.StreamSeq) {
	case routeExpire:
		action, reason := decideExpire(sum, found, &acc, m.StreamSeq, rp.timeout)
		return rp.endNow(ctx, sum, action, reason, m.StreamSeq, "import timed out")
	case routeUnreadable:
		action, reason := decideUnreadable(sum, found, &acc, m.StreamSeq)
		return rp.endNow(ctx, sum, action, reason, m.StreamSeq, "import failed: rows could not be read")
	case routeForeign:
		return nil, runner.Permanent(fmt.Errorf("import %s belongs to another tenant", acc.Import))
	case routeAnnounce:
		return completionEvent(sum) // applied before a crash
	case routeResumeFinish:
		return rp.finish(ctx, sum) // applied before a crash, replace mode's ending left undone
	case routeDeleting:
		// The deletion job writes the summary until its deletions end;
		// every row is counted, so a late message changes nothing.
		rp.log.Info("accounting message for an import whose deletions are under way; ignored", zap.String("import_id", acc.Import), zap.String("kind", acc.Kind))
		return nil, nil
	}
	if !found {
		sum = &ledger.Summary{ID: acc.Import, Tenant: acc.Tenant, Status: ledger.StatusProcessing, CreatedAt: now}
		bs.sum, bs.found = sum, true
	}
	wasDone := sum.Status != ledger.StatusProcessing
	if err := rp.apply(ctx, sum, &acc, m.StreamSeq); err != nil {
		return nil, err
	}
	sum.LastSeq = m.StreamSeq
	sum.UpdatedAt = now
	if completes(wasDone, sum) {
		return rp.finish(ctx, sum)
	}
	return completionEvent(sum)
}

// uniqueOutputs drops the outputs whose message ID an earlier one has (the
// end of an import, announced by each of its later messages in a batch):
// JetStream would store only the first anyway.
func uniqueOutputs(outs []runner.Output) []runner.Output {
	seen := map[string]bool{}
	kept := outs[:0]
	for _, o := range outs {
		if o.MsgID != "" && seen[o.MsgID] {
			continue
		}
		seen[o.MsgID] = true
		kept = append(kept, o)
	}
	return kept
}

// finish ends an import whose rows are all accounted for: it decides the
// final status and announces it, or hands replace mode's deletions to the
// deletion job, which ends the import when they are done.
func (rp *reporter) finish(ctx context.Context, sum *ledger.Summary) ([]runner.Output, error) {
	e := decideEnding(sum)
	// Replace mode deletes while the summary still says processing: its
	// plan is saved first, and no reader may see the import completed
	// before its deletions are done and counted.
	if e.deleteUntouched {
		if err := rp.plan(ctx, sum); err != nil {
			return nil, err
		}
		if sum.Deleting() && sum.DeletePlan.Count > 0 {
			return deletionStep(sum) // the job ends the import
		}
	}
	sum.Status, sum.Reason, sum.Notice = e.status, e.reason, e.notice
	if err := rp.complete(ctx, sum, time.Now().UTC()); err != nil {
		return nil, err
	}
	logFinished(rp.log, sum)
	return completionEvent(sum)
}

func logFinished(log *zap.Logger, sum *ledger.Summary) {
	log.Info("import finished", zap.String("import_id", sum.ID), zap.String("tenant", sum.Tenant),
		zap.String("status", sum.Status), zap.Int("total", sum.Total), zap.Int("created", sum.Counts.Created),
		zap.Int("updated", sum.Counts.Updated), zap.Int("skipped", sum.Counts.Skipped), zap.Int("failed", sum.Counts.Failed),
		zap.Int("deleted", sum.Deleted))
}

// complete saves sum as completed at now and counts the import finished.
// Its claims (the deduplicator's, no longer needed) are dropped by the job
// completionEvent sends.
func (rp *reporter) complete(ctx context.Context, sum *ledger.Summary, now time.Time) error {
	sum.CompletedAt = &now
	sum.UpdatedAt = now
	if err := rp.save(ctx, sum); err != nil {
		return err
	}
	if rp.metrics != nil {
		rp.metrics.ImportsFinished.WithLabelValues(sum.Status).Inc()
	}
	return nil
}

// plan writes down, once, the tenant's records of the entity that replace
// mode removes: those that existed when the import started, that no row of
// it touched and that no import has written since (a record another import
// creates or changes while the replace runs is kept). The list is written
// (and the summary saved with it) before anything is deleted, so the
// deletion job, however often interrupted, works through the same list. A
// dry run counts and deletes nothing.
func (rp *reporter) plan(ctx context.Context, sum *ledger.Summary) error {
	if sum.DeletePlan == nil {
		touched, err := rp.store.ClaimedKeys(ctx, sum.Tenant, sum.ID)
		if err != nil {
			return err
		}
		before, err := rp.store.RecordIDsUnchangedSince(ctx, sum.Tenant, sum.Options.Schema, sum.CreatedAt)
		if err != nil {
			return err
		}
		plan, err := rp.store.WritePlan(ctx, sum.ID, untouched(before, touched))
		if err != nil {
			return err
		}
		sum.DeletePlan = plan
		if err := rp.save(ctx, sum); err != nil {
			return err
		}
	}
	if sum.Options.DryRun {
		sum.Deleted = sum.DeletePlan.Count
	}
	return nil
}

// apply applies acc to sum, storing the row notes of an outcomes message.
func (rp *reporter) apply(ctx context.Context, sum *ledger.Summary, acc *envelope.Accounting, seq uint64) error {
	a, err := apply(sum, acc, seq)
	if err != nil {
		return err
	}
	if a.duplicate {
		rp.log.Warn("outcomes already counted; ignored", zap.String("import_id", acc.Import),
			zap.String("stage", acc.Stage), zap.Int("chunk", acc.Chunk))
		return nil
	}
	if rp.metrics != nil && acc.Kind == envelope.KindOutcomes {
		for _, o := range acc.Outcomes {
			rp.metrics.Rows.WithLabelValues(a.slot, o.Result).Inc()
		}
	}
	if len(a.noted) > 0 {
		id := store.RowDocID(acc.Import, acc.Stage, acc.Chunk)
		if err := rp.store.InsertRowDoc(ctx, store.RowDoc{ID: id, Import: acc.Import, Tenant: acc.Tenant, Rows: a.noted}); err != nil {
			return err
		}
		sum.MarkNoted(acc.Stage, acc.Chunk)
	}
	return nil
}

// completionEvent announces a finished import on intake.events, and sends
// the job that drops its claims; their message IDs make announcing twice
// harmless.
func completionEvent(sum *ledger.Summary) ([]runner.Output, error) {
	typ := eventType(sum.Status)
	if typ == "" {
		return nil, nil
	}
	total := sum.Total
	counts := sum.Counts
	ev := envelope.Event{Type: typ, Tenant: sum.Tenant, Import: sum.ID, Total: &total, Counts: &counts, Reason: sum.Reason, At: time.Now().UTC()}
	o, err := platform.JSONOutput(subjects.For(subjects.Events, sum.Tenant, sum.ID), subjects.EventID(sum.Tenant, sum.ID, typ), ev)
	if err != nil {
		return nil, err
	}
	drop, err := jobOutput(job{Kind: jobDropClaims, Tenant: sum.Tenant, Import: sum.ID})
	if err != nil {
		return nil, err
	}
	return []runner.Output{o, drop}, nil
}

// The unsealed-import timeout.
//
// The reporter changes summaries only in its ordered handler, so the timeout
// is a message too: every SweepEvery, each reporter instance lists the
// imports still processing whose summary has not changed for the timeout and
// publishes an "expire" accounting message for each onto the import's own
// outcomes subject. The handler applies it in stream order like any other
// message: if the summary has still not changed for the timeout before the
// message's At, the import ends failed with a reason. Outcomes queued ahead
// of the expire message are applied first and count as progress, so a busy
// reporter does not expire imports whose rows are merely waiting in line.
// The decision depends only on the stored summary and the message, so a
// redelivered expire message decides the same way. Instances sweeping at the
// same time publish the same Nats-Msg-Id (At is truncated to SweepEvery), so
// JetStream stores one.

// sweep publishes expire messages until ctx ends.
func (rp *reporter) sweep(ctx context.Context, js jetstream.JetStream, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := time.Now().UTC().Truncate(every)
		stale, err := rp.store.StaleImports(ctx, at.Add(-rp.timeout))
		if err != nil {
			if ctx.Err() == nil {
				rp.log.Warn("unsealed-import timeout: cannot list stale imports", zap.Error(err))
			}
			continue
		}
		if len(stale) == 0 {
			continue
		}
		msgs := make([]*nats.Msg, 0, len(stale))
		for _, sum := range stale {
			o, err := expireMsg(sum.Tenant, sum.ID, at)
			if err != nil {
				continue
			}
			msgs = append(msgs, o)
		}
		if err := runner.PublishAll(ctx, js, msgs, 30*time.Second); err != nil && ctx.Err() == nil {
			rp.log.Warn("unsealed-import timeout: cannot publish expire checks", zap.Error(err), zap.Int("imports", len(msgs)))
		}
	}
}

// expireMsg is the expire check of one import; its ID is the same for every
// instance sweeping in the same interval.
func expireMsg(tenant, id string, at time.Time) (*nats.Msg, error) {
	acc := envelope.Accounting{Kind: envelope.KindExpire, Tenant: tenant, Import: id, At: at}
	o, err := platform.JSONOutput(subjects.For(subjects.Outcomes, tenant, id), subjects.MsgID(tenant, id, "expire", int(at.UnixMilli())), acc)
	if err != nil {
		return nil, err
	}
	m := &nats.Msg{Subject: o.Subject, Data: o.Data, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, o.MsgID)
	return m, nil
}

// endNow carries out what an expire check (decideExpire) or the news of
// unreadable rows (decideUnreadable) decided: nothing, the end announced
// again, or the import failed now with reason.
func (rp *reporter) endNow(ctx context.Context, sum *ledger.Summary, action endAction, reason string, seq uint64, what string) ([]runner.Output, error) {
	switch action {
	case endNothing:
		return nil, nil
	case endAnnounce:
		return completionEvent(sum) // applied before a crash
	}
	sum.Status = ledger.StatusFailed
	sum.Reason = reason
	sum.LastSeq = seq
	if err := rp.complete(ctx, sum, time.Now().UTC()); err != nil {
		return nil, err
	}
	rp.log.Warn(what, zap.String("import_id", sum.ID), zap.String("tenant", sum.Tenant),
		zap.String("reason", sum.Reason), zap.Bool("sealed", sum.Sealed), zap.Int("total", sum.Total),
		zap.Int("accounted", sum.Counts.Sum()))
	return completionEvent(sum)
}
