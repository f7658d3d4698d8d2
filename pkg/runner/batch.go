package runner

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// BatchHandler processes messages of one consumer as one unit, in stream
// order: the runner publishes its outputs, then acks every message. It is
// also called with one message at a time (see BatchRunner), so that what
// it does to a batch must be what it does to its messages one by one.
type BatchHandler func(ctx context.Context, ms []Msg) ([]Output, error)

// BatchRunner pulls from one durable consumer and hands its handler up to
// Config.Batch messages at a time: those already waiting when the first
// arrives (it never waits for a batch to fill). It is for a consumer whose
// messages must be handled strictly in stream order (the reporter's, whose
// MaxAckPending is the batch size):
//
//   - A batch is handed over only when it holds every message of the
//     consumer that is delivered and not yet acknowledged, sorted by stream
//     sequence. Otherwise an earlier message is outstanding elsewhere (the
//     batch of an instance that died, waiting out AckWait; one naked with a
//     delay), and handling the later ones first would break the order: the
//     runner keeps what it has, pulls what comes, and waits for it.
//   - When the handler fails on a batch (or panics), the runner handles the
//     batch again one message at a time, as Runner does: a message that can
//     never be handled is dead-lettered alone and the next one goes on; a
//     transient failure hands back that message and every later one of the
//     batch with the same delay, so that none of them is handled before it.
type BatchRunner struct {
	r  *Runner
	bh BatchHandler
}

// NewBatch builds a batch runner.
func NewBatch(js jetstream.JetStream, cons jetstream.Consumer, cfg Config, h BatchHandler, log *zap.Logger) *BatchRunner {
	one := func(ctx context.Context, m Msg) ([]Output, error) { return h(ctx, []Msg{m}) }
	r := New(js, cons, cfg, one, log)
	r.confirmAcks = true
	return &BatchRunner{r: r, bh: h}
}

// gatherWait bounds the pull for the messages the first one's metadata says
// are waiting: they are delivered at once, unless the consumer has no room
// for them (messages outstanding elsewhere).
const gatherWait = 50 * time.Millisecond

// Run consumes until ctx is done, as Runner.Run does.
func (b *BatchRunner) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		held := b.collect(ctx)
		if len(held) == 0 {
			continue
		}
		if ctx.Err() != nil {
			handBack(held)
			continue
		}
		b.handle(ctx, held)
	}
	return nil
}

// collect returns the next batch in stream order, or nothing (nothing
// waiting, shutting down, or the batch handed back).
func (b *BatchRunner) collect(ctx context.Context) []jetstream.Msg {
	r := b.r
	held := b.fetch(ctx, 1, fetchWait)
	if len(held) == 0 {
		return nil
	}
	if meta, err := held[0].Metadata(); err == nil && meta.NumPending > 0 && r.cfg.Batch > 1 {
		held = append(held, b.fetch(ctx, int(min(uint64(r.cfg.Batch-1), meta.NumPending)), gatherWait)...)
	}
	deadline := time.Now().Add(2 * r.cfg.AckWait)
	lastAlive := time.Now()
	for {
		info, err := r.cons.Info(ctx)
		if err == nil && info.NumAckPending <= len(held) {
			return inStreamOrder(held)
		}
		if ctx.Err() != nil {
			handBack(held)
			return nil
		}
		if time.Now().After(deadline) {
			// Given up waiting (or a standby that also waits for ours):
			// hand everything back; whoever pulls next gathers it all.
			r.log.Warn("earlier messages stayed outstanding; handing the batch back", zap.Int("held", len(held)))
			for _, jm := range held {
				_ = jm.NakWithDelay(r.cfg.Backoff[len(r.cfg.Backoff)-1])
			}
			return nil
		}
		if time.Since(lastAlive) >= r.cfg.InProgressEvery {
			for _, jm := range held {
				_ = jm.InProgress()
			}
			lastAlive = time.Now()
		}
		if room := r.cfg.Batch - len(held); room > 0 {
			held = append(held, b.fetch(ctx, room, fetchWait/4)...)
		} else {
			sleep(ctx, fetchWait/4)
		}
	}
}

// fetch pulls up to n messages, waiting at most wait.
func (b *BatchRunner) fetch(ctx context.Context, n int, wait time.Duration) []jetstream.Msg {
	r := b.r
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(wait)}
	if r.cfg.PriorityGroup != "" {
		opts = append(opts, jetstream.FetchPriorityGroup(r.cfg.PriorityGroup))
	}
	batch, err := r.cons.Fetch(n, opts...)
	if err != nil {
		r.log.Warn("fetch failed", zap.Error(err))
		sleep(ctx, 100*time.Millisecond)
		return nil
	}
	var got []jetstream.Msg
	for jm := range batch.Messages() {
		got = append(got, jm)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
		r.log.Debug("fetch ended", zap.Error(err))
	}
	return got
}

// inStreamOrder sorts held by stream sequence and keeps one delivery of
// each message (one that outlived AckWait may have come again).
func inStreamOrder(held []jetstream.Msg) []jetstream.Msg {
	seq := func(jm jetstream.Msg) uint64 {
		if meta, err := jm.Metadata(); err == nil {
			return meta.Sequence.Stream
		}
		return 0
	}
	slices.SortStableFunc(held, func(a, b jetstream.Msg) int { return cmp.Compare(seq(a), seq(b)) })
	kept := held[:0]
	for i, jm := range held {
		if i+1 < len(held) && seq(held[i+1]) == seq(jm) {
			continue // the later delivery is the one to answer
		}
		kept = append(kept, jm)
	}
	return kept
}

// handBack returns messages fetched but not handled, as Runner.Run does on
// shutdown: the delay outlasts the still open pull request.
func handBack(held []jetstream.Msg) {
	for _, jm := range held {
		_ = jm.NakWithDelay(2 * fetchWait)
	}
}

// handle handles one batch, falling back to one message at a time when the
// handler fails on it.
func (b *BatchRunner) handle(ctx context.Context, held []jetstream.Msg) {
	r := b.r
	if len(held) == 1 {
		r.process(ctx, held[0])
		return
	}
	ms := make([]Msg, 0, len(held))
	kept := held[:0]
	for _, jm := range held {
		if m, ok := r.msgOf(jm); ok {
			ms, kept = append(ms, m), append(kept, jm)
		}
	}
	held = kept
	if len(held) == 0 {
		return
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.HandlerTimeout)
	defer cancel()
	stop := r.keepAlive(held...)
	outs, err := b.call(hctx, ms)
	if err == nil && r.cfg.Crash != nil && slices.ContainsFunc(ms, r.cfg.Crash) {
		stop()
		for _, jm := range held {
			_ = jm.Nak()
		}
		return
	}
	if err == nil {
		err = r.publish(hctx, outs)
	}
	stop()
	if err == nil {
		b.ackAll(held)
		r.countAcked(len(held), start)
		return
	}
	r.log.Info("batch failed; handling its messages one at a time", zap.Error(err), zap.Int("messages", len(held)))
	for i, jm := range held {
		if again, delay := r.process(ctx, jm); again {
			for _, later := range held[i+1:] {
				_ = later.NakWithDelay(delay)
			}
			return
		}
	}
}

// ackAll acks the batch; the last ack waits for the server's answer, so
// that the consumer's count of unacknowledged messages, read before the
// next batch, no longer holds these (acks of one connection are applied in
// order).
func (b *BatchRunner) ackAll(held []jetstream.Msg) {
	r := b.r
	for i, jm := range held {
		ack := jm.Ack
		if i == len(held)-1 {
			ack = func() error { return r.ack(jm) }
		}
		if err := ack(); err != nil {
			r.log.Warn("ack failed; the message will be redelivered", zap.Error(err), zap.String("subject", jm.Subject()))
		}
	}
}

// ackAnswerWait bounds waiting for the server to confirm a batch's acks.
const ackAnswerWait = 5 * time.Second

// call runs the batch handler and turns a panic into a PanicError.
func (b *BatchRunner) call(ctx context.Context, ms []Msg) (outs []Output, err error) {
	defer func() {
		if v := recover(); v != nil {
			outs, err = nil, b.r.panicked(v, zap.Int("batch", len(ms)))
		}
	}()
	return b.bh(ctx, ms)
}
