// Package partitions runs a pipeline stage over a partitioned stream: one
// durable consumer per partition, each with a pinned-client priority
// group, so that exactly one instance at a time receives a partition's
// messages and another takes over when it stops pulling.
//
// Every instance runs a loop on every partition, but not all alike. The
// partitions p with p % Instances == Index are the instance's own: it
// pulls them from the start. The others it only watches: when one has
// messages waiting and no client pinned (its owner stopped pulling for
// the pinned TTL), it pulls them too, until the partition has been idle
// for handBack; then it stops pulling, the pin lapses and the owner, when
// back, gets the partition's next message. Index and Instances only spread the work:
// wrong values make one instance busier, never two receive one partition
// at once (the server's pin decides that).
package partitions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// Config places an instance among the instances of its stage.
type Config struct {
	// Partitions is the streams' (streams.Config.Partitions); 0: the default.
	Partitions int
	// PinnedTTL is how long a pinned instance may go without pulling before
	// another is given its partition: about the fail-over time. 0: DefaultPinnedTTL.
	PinnedTTL time.Duration
	// Index (from 0) and Instances (at least 1) tell which partitions are
	// this instance's own.
	Index, Instances int
}

// DefaultPinnedTTL is Config.PinnedTTL when unset: `intake serve --pinned-ttl`.
const DefaultPinnedTTL = 5 * time.Second

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = streams.DefaultPartitions
	}
	if c.PinnedTTL == 0 {
		c.PinnedTTL = DefaultPinnedTTL
	}
	if c.Instances < 1 {
		c.Instances = 1
	}
	return c
}

// Owns reports whether partition p is the own partition of instance index
// of instances.
func Owns(p, index, instances int) bool { return p%instances == index%instances }

// Stage is what a stage consumes.
type Stage struct {
	Stream        string // a partitioned stream, e.g. subjects.StreamValid
	Subject       string // its stage prefix, e.g. subjects.Valid
	Durable       string // the partition consumers are <Durable>-<p>
	MaxAckPending int    // per partition; 1 keeps each import in stream order
	AckWait       time.Duration
	// Loops is how many runners pull each partition in one instance
	// (default 1; more only with MaxAckPending above 1).
	Loops int
}

// Durable is the name of partition p's consumer.
func Durable(durable string, p int) string { return fmt.Sprintf("%s-%d", durable, p) }

// Consumers lists every partition consumer of a stage, for the metrics.
func Consumers(durable string, partitions int) []string {
	if partitions == 0 {
		partitions = streams.DefaultPartitions
	}
	names := make([]string, partitions)
	for p := range names {
		names[p] = Durable(durable, p)
	}
	return names
}

// Run consumes every partition of st with h until ctx ends. h is called
// concurrently for different partitions, and for one partition one message
// at a time when MaxAckPending is 1.
func Run(ctx context.Context, js jetstream.JetStream, st Stage, cfg Config, rc runner.Config, h runner.Handler, log *zap.Logger) error {
	return run(ctx, js, st, cfg, rc, func(cons jetstream.Consumer, rc runner.Config, log *zap.Logger) consumer {
		return runner.New(js, cons, rc, h, log)
	}, log)
}

// RunBatch is Run with a batch handler (runner.BatchRunner): h gets up to
// st.MaxAckPending messages of one partition at a time, in stream order.
func RunBatch(ctx context.Context, js jetstream.JetStream, st Stage, cfg Config, rc runner.Config, h runner.BatchHandler, log *zap.Logger) error {
	return run(ctx, js, st, cfg, rc, func(cons jetstream.Consumer, rc runner.Config, log *zap.Logger) consumer {
		return runner.NewBatch(js, cons, rc, h, log)
	}, log)
}

// consumer is a runner of one consumer.
type consumer interface {
	Run(ctx context.Context) error
}

// newConsumer makes the runner of one consumer.
type newConsumer func(cons jetstream.Consumer, rc runner.Config, log *zap.Logger) consumer

func run(ctx context.Context, js jetstream.JetStream, st Stage, cfg Config, rc runner.Config, newRun newConsumer, log *zap.Logger) error {
	cfg = cfg.withDefaults()
	if err := drainLegacy(ctx, js, st, rc, newRun, log); err != nil {
		if ctx.Err() != nil {
			return nil // shutting down
		}
		return err
	}
	rc.PriorityGroup = streams.PriorityGroup
	loops := max(st.Loops, 1)
	// The pin lasts while its holder keeps asking: a pull request for no
	// more than the loop may hold, so that the next one follows each
	// message or two, not a batch that takes longer than the pinned TTL.
	rc.Batch = max(1, st.MaxAckPending/loops)
	conss := make([]jetstream.Consumer, cfg.Partitions)
	for p := range conss {
		cons, err := streams.EnsureConsumer(ctx, js, streams.Consumer{Stream: st.Stream, Durable: Durable(st.Durable, p),
			FilterSubject: subjects.PartitionFilter(st.Subject, p), MaxAckPending: st.MaxAckPending, AckWait: st.AckWait, PinnedTTL: cfg.PinnedTTL})
		if err != nil {
			if ctx.Err() != nil {
				return nil // shut down while the consumers were being made
			}
			return err
		}
		conss[p] = cons
	}
	g, gctx := errgroup.WithContext(ctx)
	for p, cons := range conss {
		plog := log.With(zap.Int("partition", p))
		if Owns(p, cfg.Index, cfg.Instances) {
			g.Go(func() error { return newRun(cons, rc, plog).Run(gctx) })
			continue
		}
		g.Go(func() error {
			return standby(gctx, cons, cfg.PinnedTTL, func(ctx context.Context) error { return newRun(cons, rc, plog).Run(ctx) }, plog)
		})
	}
	return g.Wait()
}

// standby watches a partition owned by another instance and runs it (run)
// while it is orphaned: messages waiting and nobody pinned.
func standby(ctx context.Context, cons jetstream.Consumer, ttl time.Duration, run func(context.Context) error, log *zap.Logger) error {
	var (
		cur       *running
		idleSince time.Time
	)
	defer func() { cur.end() }()
	t := time.NewTicker(ttl / 2)
	defer t.Stop()
	for {
		var ended <-chan struct{} // nil, never ready, while nothing runs
		if cur != nil {
			ended = cur.done
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ended:
			// The run stopped by itself: its error ends the standby at
			// once; without one, the next tick looks again.
			if err := cur.end(); err != nil {
				return err
			}
			cur = nil
			continue
		case <-t.C:
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue // the broker is away: keep doing what we do
		}
		waiting := info.NumPending > 0 || info.NumAckPending > 0
		if waiting {
			idleSince = time.Time{}
		} else if idleSince.IsZero() {
			idleSince = time.Now()
		}
		switch {
		case cur == nil && waiting && !pinned(info):
			log.Info("taking over an orphaned partition")
			cur = start(ctx, run)
		case cur != nil && !idleSince.IsZero() && time.Since(idleSince) >= handBack:
			// Idle for a while: stop pulling, so that the pin lapses and
			// the owner, when it pulls, gets the partition back. Not at
			// the first idle moment: between two chunks of an import the
			// partition is often empty for an instant.
			if err := cur.end(); err != nil {
				return err
			}
			cur = nil
		}
	}
}

// running is a standby's run of a partition.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func start(ctx context.Context, run func(context.Context) error) *running {
	rctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); r.err = run(rctx) }()
	return r
}

// end stops the run and waits for it; nil does nothing.
func (r *running) end() error {
	if r == nil {
		return nil
	}
	r.cancel()
	<-r.done
	return r.err
}

// handBack is how long a standby keeps pulling an idle partition it took
// over before it leaves it to its owner.
const handBack = 10 * time.Second

// pinned reports whether a client holds the consumer's pin.
func pinned(info *jetstream.ConsumerInfo) bool {
	for _, g := range info.PriorityGroups {
		if g.PinnedClientID != "" {
			return true
		}
	}
	return false
}

// drainLegacy empties and deletes the stage's one consumer of an earlier
// version (named Durable, on the whole stream or, once streams.Ensure has
// narrowed it, on the unpartitioned subjects). A work-queue stream takes
// no partition consumer beside it, and it may hold messages stored before
// the stream was partitioned: they are handled through it, as that version
// did, until it has none left.
func drainLegacy(ctx context.Context, js jetstream.JetStream, st Stage, rc runner.Config, newRun newConsumer, log *zap.Logger) error {
	cons, err := js.Consumer(ctx, st.Stream, st.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", st.Durable, st.Stream, err)
	}
	if f := cons.CachedInfo().Config.FilterSubject; f != "" && f != subjects.Published(st.Subject) {
		return nil // not one of ours
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- newRun(cons, rc, log.With(zap.String("consumer", st.Durable))).Run(rctx) }()
	defer func() { stop(); <-done }()
	log.Info("draining the consumer of an earlier version before partitioning", zap.String("consumer", st.Durable))
	for {
		info, err := cons.Info(ctx)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil // another instance drained it
		}
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			err := js.DeleteConsumer(ctx, st.Stream, st.Durable)
			if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return fmt.Errorf("delete consumer %s on %s: %w", st.Durable, st.Stream, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
