package reporter

// The jobs: work that ends imports but must not hold up accounting, run by
// the jobs module from INTAKE_JOBS (a work queue, not partitioned, many
// messages in flight), beside the reporter's ordered handlers.
//
// Replace mode's deletions: once every row of a replace is counted, the
// reporter writes the deletion plan and sends the first step. Each step
// deals with one batch of the plan (store.DeleteBatch records, from the
// plan's progress on), saves the progress and the count in the summary, and
// sends the next step; the last one completes the import. So one import
// has one step in flight at a time, imports' steps take turns, and a
// crash or redelivery redoes at most one batch, whose count is what is
// still stored afterwards, so it comes out the same.
//
// Dropping claims: every finished import's claim log is dropped by a job
// its completion sends, not inside the reporter's handler.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// JobsDurable is the consumer name shared by all jobs instances.
const JobsDurable = "jobs"

// Job kinds.
const (
	jobDelete     = "delete"      // one step of a replace's deletions
	jobDropClaims = "drop-claims" // drop a finished import's claim log
)

// job is a message on intake.jobs.<tenant>.<import>.
type job struct {
	Kind   string `json:"kind"`
	Tenant string `json:"tenant"`
	Import string `json:"import"`
	// From is, for a deletion step, the first record of the plan it deals with.
	From int `json:"from,omitempty"`
}

func jobOutput(j job) (runner.Output, error) {
	return platform.JSONOutput(subjects.For(subjects.Jobs, j.Tenant, j.Import), subjects.MsgID(j.Tenant, j.Import, j.Kind, j.From), j)
}

// deletionStep sends the step of sum's deletions that its progress is at.
func deletionStep(sum *ledger.Summary) ([]runner.Output, error) {
	o, err := jobOutput(job{Kind: jobDelete, Tenant: sum.Tenant, Import: sum.ID, From: sum.DeletePlan.Done})
	if err != nil {
		return nil, err
	}
	return []runner.Output{o}, nil
}

// JobsConfig tunes the jobs module.
type JobsConfig struct {
	Runner    runner.Config
	Retention Retention
}

// RunJobs consumes jobs, and sweeps what outlived its retention, until ctx
// ends.
func RunJobs(ctx context.Context, cfg JobsConfig, d platform.Deps) error {
	cons, err := streams.EnsureConsumer(ctx, d.JS, streams.Consumer{Stream: subjects.StreamJobs, Durable: JobsDurable, AckWait: cfg.Runner.AckWait})
	if err != nil {
		return err
	}
	rc := cfg.Runner
	rc.Name = "jobs"
	if rc.MaxDeliver == 0 {
		// As accounting: a step given up on would leave its import
		// processing for good. Only a permanent error dead-letters.
		rc.MaxDeliver = math.MaxInt
	}
	jr := &jobs{store: d.Store, metrics: d.Metrics, log: d.Log.With(zap.String("component", "jobs")), batch: store.DeleteBatch}
	swept := make(chan struct{})
	defer func() { <-swept }()
	go func() { defer close(swept); sweepRetention(ctx, d.Store, cfg.Retention.withDefaults(), jr.log) }()
	return runner.New(d.JS, cons, rc, jr.handle, d.Log).Run(ctx)
}

type jobs struct {
	store   Store
	metrics *metrics.Metrics
	log     *zap.Logger
	batch   int
}

func (jr *jobs) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var j job
	if err := json.Unmarshal(m.Data, &j); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed job: %w", err))
	}
	if tenant, id, ok := subjects.ImportOf(subjects.Jobs, m.Subject); !ok || tenant != j.Tenant || id != j.Import {
		return nil, runner.Permanent(fmt.Errorf("job for %s/%s on subject %s", j.Tenant, j.Import, m.Subject))
	}
	switch j.Kind {
	case jobDropClaims:
		return nil, jr.store.DropClaims(ctx, j.Tenant, j.Import)
	case jobDelete:
		return jr.deleteStep(ctx, j)
	}
	return nil, runner.Permanent(fmt.Errorf("unknown job kind %q", j.Kind))
}

// deleteStep carries out one step of an import's deletions.
func (jr *jobs) deleteStep(ctx context.Context, j job) ([]runner.Output, error) {
	sum, found, err := jr.store.ReadSummary(ctx, j.Import)
	if err != nil {
		return nil, err
	}
	switch decideStep(sum, found, j, jr.batch) {
	case stepStale:
		return nil, nil
	case stepAnnounce:
		return completionEvent(sum)
	case stepResend:
		return deletionStep(sum)
	case stepFinish:
		return jr.finishDeleting(ctx, sum)
	}
	plan := sum.DeletePlan
	ids, err := jr.store.PlanBatch(ctx, sum.ID, plan, plan.Done, jr.batch)
	if err != nil {
		return nil, err
	}
	kept, err := jr.store.DeleteRecordsUnchangedSince(ctx, sum.Tenant, sum.Options.Schema, sum.ID, ids, sum.CreatedAt)
	if err != nil {
		return nil, err
	}
	prev := plan.Done
	advance(sum, len(ids), kept, time.Now().UTC())
	if err := jr.store.SaveDeletionProgress(ctx, sum, prev); err != nil {
		if errors.Is(err, store.ErrSummaryChanged) {
			return nil, nil // another delivery of this step counted it and sent the next
		}
		return nil, err
	}
	if plan.Done >= plan.Count {
		return jr.finishDeleting(ctx, sum)
	}
	return deletionStep(sum)
}

// finishDeleting completes an import whose deletions are all done.
func (jr *jobs) finishDeleting(ctx context.Context, sum *ledger.Summary) ([]runner.Output, error) {
	prev := sum.DeletePlan.Done
	endDeleting(sum, time.Now().UTC())
	if err := jr.store.SaveDeletionProgress(ctx, sum, prev); err != nil {
		if errors.Is(err, store.ErrSummaryChanged) {
			return nil, nil // another delivery completed it and announces it
		}
		return nil, err
	}
	if err := jr.store.DropPlan(ctx, sum.ID, sum.DeletePlan); err != nil {
		jr.log.Warn("could not drop a finished replace's deletion plan", zap.String("import_id", sum.ID), zap.Error(err))
	}
	if jr.metrics != nil {
		jr.metrics.ImportsFinished.WithLabelValues(sum.Status).Inc()
	}
	logFinished(jr.log, sum)
	return completionEvent(sum)
}
