// Package runner is the one consumer loop every service uses.
//
// A handler turns one input message into output messages and never acks.
// The runner publishes the outputs, waits until JetStream has stored every
// one of them, and only then acks the input. Transient errors are retried
// with a growing delay (NakWithDelay); permanent errors, and messages that
// keep failing past MaxDeliver, go to the dead-letter subject and are
// accounted for by the outputs of Config.DeadLetter (failed rows), so an
// import never hangs on a poisoned chunk.
package runner

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/subjects"
)

// Msg is an input message as a handler sees it.
type Msg struct {
	Subject      string
	Data         []byte
	Header       nats.Header
	NumDelivered uint64
	StreamSeq    uint64
}

// Output is a message to publish before the input is acked.
type Output struct {
	Subject string
	MsgID   string // Nats-Msg-Id; a retried publish inside the duplicate window is stored once
	Data    []byte
}

// Handler processes one message.
type Handler func(ctx context.Context, m Msg) ([]Output, error)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that the runner dead-letters the message at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Config tunes a runner.
type Config struct {
	Name       string // the stage, used in logs and dead-letter subjects
	Batch      int    // messages per pull request
	MaxDeliver int    // deliveries before a failing message is dead-lettered
	Backoff    []time.Duration
	// HandlerTimeout bounds one handler call; keep it below the consumer's AckWait
	// or rely on the runner's in-progress signals.
	HandlerTimeout time.Duration
	// DeadLetter returns the outputs that account for a message the runner gives
	// up on (typically an outcome chunk of failed rows). May be nil.
	DeadLetter func(m Msg, reason string) []Output
	// PublishTimeout bounds waiting for JetStream to store the outputs.
	PublishTimeout time.Duration
	// AckWait is the consumer's: how long a delivered message may go
	// unanswered before the server redelivers it, e.g. after a crash
	// (default 30s; set where the consumer is created).
	AckWait time.Duration
	// InProgressEvery tells the server the message is still being worked on,
	// so a slow handler does not cause a redelivery (default AckWait/3).
	InProgressEvery time.Duration
	// Crash is fault injection for tests: called after the handler succeeded,
	// true makes the runner behave as if the process died right then, after
	// the handler's database writes and before its outputs were published
	// and the input acked. The message is redelivered (at once, where a real
	// crash would wait for AckWait).
	Crash func(m Msg) bool
	// Metrics, if set, counts chunks by outcome and times them.
	Metrics *metrics.Metrics
	// PriorityGroup, if set, is the consumer's priority group to pull with
	// (a pinned consumer: one client at a time receives its messages).
	PriorityGroup string
}

// DefaultAckWait is how long a delivered message may go unacknowledged
// before JetStream redelivers it, when Config.AckWait (and a consumer's,
// streams.Consumer.AckWait) is unset: `intake serve --ack-wait`.
const DefaultAckWait = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.Batch == 0 {
		c.Batch = 16
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 10
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = 2 * time.Minute
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 30 * time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.InProgressEvery == 0 {
		c.InProgressEvery = c.AckWait / 3
	}
	return c
}

// fetchWait is how long one pull request waits for messages.
const fetchWait = time.Second

// Runner pulls from one durable consumer and runs one handler.
type Runner struct {
	cfg  Config
	js   jetstream.JetStream
	cons jetstream.Consumer
	h    Handler
	log  *zap.Logger
	// confirmAcks waits for the server to confirm each ack (a batch
	// runner's: it reads the consumer's unacknowledged count next).
	confirmAcks bool
}

// ack acks jm, waiting for the server's confirmation if r.confirmAcks.
func (r *Runner) ack(jm jetstream.Msg) error {
	if !r.confirmAcks {
		return jm.Ack()
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackAnswerWait)
	defer cancel()
	return jm.DoubleAck(ctx)
}

// New builds a runner.
func New(js jetstream.JetStream, cons jetstream.Consumer, cfg Config, h Handler, log *zap.Logger) *Runner {
	cfg = cfg.withDefaults()
	return &Runner{cfg: cfg, js: js, cons: cons, h: h, log: log.With(zap.String("component", cfg.Name))}
}

// Run consumes until ctx is done. A message being handled when ctx ends is
// finished (or naked for redelivery); nothing fetched is left unanswered.
func (r *Runner) Run(ctx context.Context) error {
	pause := 100 * time.Millisecond
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(fetchWait)}
	if r.cfg.PriorityGroup != "" {
		opts = append(opts, jetstream.FetchPriorityGroup(r.cfg.PriorityGroup))
	}
	for ctx.Err() == nil {
		batch, err := r.cons.Fetch(r.cfg.Batch, opts...)
		if err != nil {
			r.log.Warn("fetch failed", zap.Error(err))
			sleep(ctx, pause)
			pause = min(pause*2, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		for m := range batch.Messages() {
			if ctx.Err() != nil {
				// Shutting down: hand it back instead of leaving it to AckWait.
				// A plain Nak would be redelivered straight into this still
				// open pull request; the delay outlasts the request.
				_ = m.NakWithDelay(2 * fetchWait)
				continue
			}
			r.process(ctx, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			r.log.Debug("fetch ended", zap.Error(err))
		}
	}
	return nil
}

// process handles one message. It returns whether the message is to be
// delivered again (retried, or a crash simulated), and after what delay.
func (r *Runner) process(ctx context.Context, jm jetstream.Msg) (again bool, delay time.Duration) {
	m, ok := r.msgOf(jm)
	if !ok {
		return false, 0
	}
	start := time.Now()

	// The handler finishes its chunk even when shutdown starts; its own
	// timeout bounds that.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.HandlerTimeout)
	defer cancel()
	stop := r.keepAlive(jm)
	outs, err := r.call(hctx, m)
	if err == nil && r.cfg.Crash != nil && r.cfg.Crash(m) {
		stop()
		_ = jm.Nak()
		return true, 0
	}
	if err == nil {
		err = r.publish(hctx, outs)
	}
	stop()
	if err == nil {
		if aerr := r.ack(jm); aerr != nil {
			r.log.Warn("ack failed; the message will be redelivered", zap.Error(aerr), zap.String("subject", m.Subject))
		}
		r.countAcked(1, start)
		return false, 0
	}

	if IsPermanent(err) || m.NumDelivered >= uint64(r.cfg.MaxDeliver) {
		return r.deadLetter(hctx, jm, m, err)
	}
	delay = r.cfg.Backoff[min(int(m.NumDelivered)-1, len(r.cfg.Backoff)-1)]
	r.log.Warn("handler failed; will retry", zap.Error(err), zap.String("subject", m.Subject),
		zap.Uint64("delivery", m.NumDelivered), zap.Duration("delay", delay))
	_ = jm.NakWithDelay(delay)
	r.count(func(mx *metrics.Metrics) { mx.Chunks.WithLabelValues(r.cfg.Name, "retried").Inc() })
	return true, delay
}

// msgOf is jm as a handler sees it; a message without metadata (not from a
// consumer) is terminated and ok is false.
func (r *Runner) msgOf(jm jetstream.Msg) (m Msg, ok bool) {
	meta, err := jm.Metadata()
	if err != nil {
		r.log.Error("message without metadata", zap.Error(err))
		_ = jm.Term()
		return Msg{}, false
	}
	// Handlers and dead letters see the subject the message was published
	// on, without the partition a partitioned stream stored it under.
	m = Msg{Subject: subjects.Unpartitioned(jm.Subject()), Data: jm.Data(), Header: jm.Headers(), NumDelivered: meta.NumDelivered, StreamSeq: meta.Sequence.Stream}
	if m.NumDelivered > 1 {
		r.count(func(mx *metrics.Metrics) { mx.Redelivered.WithLabelValues(r.cfg.Name).Inc() })
	}
	return m, true
}

// countAcked counts n messages acked, handled together since start.
func (r *Runner) countAcked(n int, start time.Time) {
	r.count(func(mx *metrics.Metrics) {
		mx.Chunks.WithLabelValues(r.cfg.Name, "acked").Add(float64(n))
		mx.ChunkSeconds.WithLabelValues(r.cfg.Name).Observe(time.Since(start).Seconds())
	})
}

// PanicError is what a handler that panicked returns to the runner: it is
// retried like a transient error (the panic may come from a state that
// passes) and dead-lettered after MaxDeliver like any other.
type PanicError struct {
	Stage string
	Value any
}

func (p PanicError) Error() string {
	return fmt.Sprintf("the %s stage crashed: panic: %v", p.Stage, p.Value)
}

// IsPanic reports whether err comes from a handler that panicked.
func IsPanic(err error) bool {
	var p PanicError
	return errors.As(err, &p)
}

// call runs the handler and turns a panic into a PanicError, so that one
// bad chunk neither kills the process nor, redelivered, kills it again.
func (r *Runner) call(ctx context.Context, m Msg) (outs []Output, err error) {
	defer func() {
		if v := recover(); v != nil {
			outs, err = nil, r.panicked(v, zap.String("subject", m.Subject), zap.Uint64("delivery", m.NumDelivered))
		}
	}()
	return r.h(ctx, m)
}

// panicked logs and counts a handler's recovered panic v and returns it as
// the handler's error.
func (r *Runner) panicked(v any, fields ...zap.Field) error {
	r.log.Error("handler panicked", append(fields, zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))...)
	r.count(func(mx *metrics.Metrics) { mx.Panics.WithLabelValues(r.cfg.Name).Inc() })
	return PanicError{Stage: r.cfg.Name, Value: v}
}

// count updates metrics when there are any.
func (r *Runner) count(f func(*metrics.Metrics)) {
	if r.cfg.Metrics != nil {
		f(r.cfg.Metrics)
	}
}

// keepAlive signals "in progress" for the messages while a handler runs.
func (r *Runner) keepAlive(jms ...jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(r.cfg.InProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, jm := range jms {
					_ = jm.InProgress()
				}
			}
		}
	}()
	return func() { close(done) }
}

// Reason header on dead letters.
const HeaderReason = "Intake-Reason"

// deadLetter publishes m to the dead-letter subject with its accounting and
// acks it; when even that fails, m is naked to be tried again (again true).
func (r *Runner) deadLetter(ctx context.Context, jm jetstream.Msg, m Msg, cause error) (again bool, delay time.Duration) {
	reason := cause.Error()
	dead := &nats.Msg{
		Subject: subjects.DeadFor(r.cfg.Name, m.Subject),
		Data:    m.Data,
		Header:  nats.Header{},
	}
	dead.Header.Set(HeaderReason, reason)
	dead.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dead:%s:%d", r.cfg.Name, m.StreamSeq))
	outs := []Output(nil)
	if r.cfg.DeadLetter != nil {
		outs = r.cfg.DeadLetter(m, reason)
	}
	err := r.publishMsgs(ctx, append([]*nats.Msg{dead}, Msgs(outs)...))
	if err != nil {
		// Could not even record the failure: keep the message and try later.
		r.log.Error("dead-lettering failed; will retry", zap.Error(err), zap.String("subject", m.Subject))
		delay = r.cfg.Backoff[len(r.cfg.Backoff)-1]
		_ = jm.NakWithDelay(delay)
		return true, delay
	}
	r.count(func(mx *metrics.Metrics) { mx.Chunks.WithLabelValues(r.cfg.Name, "dead_lettered").Inc() })
	r.log.Error("message dead-lettered", zap.String("subject", m.Subject), zap.String("reason", reason),
		zap.Uint64("delivery", m.NumDelivered))
	if err := r.ack(jm); err != nil {
		r.log.Warn("ack of dead-lettered message failed", zap.Error(err))
	}
	return false, 0
}

// Msgs turns outputs into messages, with Nats-Msg-Id where they have one.
func Msgs(outs []Output) []*nats.Msg {
	msgs := make([]*nats.Msg, 0, len(outs))
	for _, o := range outs {
		nm := &nats.Msg{Subject: o.Subject, Data: o.Data}
		if o.MsgID != "" {
			nm.Header = nats.Header{}
			nm.Header.Set(jetstream.MsgIDHeader, o.MsgID)
		}
		msgs = append(msgs, nm)
	}
	return msgs
}

func (r *Runner) publish(ctx context.Context, outs []Output) error {
	return r.publishMsgs(ctx, Msgs(outs))
}

// publishMsgs publishes asynchronously and waits until every message is stored.
func (r *Runner) publishMsgs(ctx context.Context, msgs []*nats.Msg) error {
	return PublishAll(ctx, r.js, msgs, r.cfg.PublishTimeout)
}

// PublishAll publishes msgs asynchronously and returns once JetStream has
// stored all of them, or with an error when that did not happen within
// timeout.
//
// A message JetStream did not acknowledge is published again, in the
// original order, until the timeout: on a cluster a stream's leader can die
// with messages in flight (their acknowledgement never comes), no server
// answers while the stream elects a new leader (4 to 9 s), and a client
// whose server died reconnects to another. Every message Intake publishes
// carries a Nats-Msg-Id, so JetStream stores it once however often it is
// sent within the duplicate window. A rejection by the stream itself (a
// message too large, say) is returned at once.
func PublishAll(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg, timeout time.Duration) error {
	return publishAll(ctx, js, msgs, timeout, AckStall)
}

// publishAll is PublishAll with the stall of a lost acknowledgement as a
// parameter (tests shorten it).
func publishAll(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg, timeout, ackStall time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Millisecond
	for {
		left, err := publishOnce(ctx, js, msgs, deadline, timeout, ackStall)
		if err == nil {
			return nil
		}
		if !retryable(err) || ctx.Err() != nil || time.Now().Add(pause).After(deadline) {
			return err
		}
		sleep(ctx, pause)
		pause = min(pause*2, 2*time.Second)
		msgs = left
	}
}

// AckStall is how long PublishAll waits for the next acknowledgement before
// it takes the messages still unacknowledged for lost and sends them again.
const AckStall = 5 * time.Second

// errNoAck is a message whose acknowledgement did not come in time.
var errNoAck = errors.New("no acknowledgement")

// publishOnce publishes msgs and waits for their acknowledgements. On
// failure it returns the messages not known to be stored, in order, and
// the first error (the first one retrying cannot cure, if any).
func publishOnce(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg, deadline time.Time, timeout, ackStall time.Duration) ([]*nats.Msg, error) {
	var (
		futures []jetstream.PubAckFuture
		first   error
		left    []*nats.Msg
	)
	for i, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			first = fmt.Errorf("publish %s: %w", m.Subject, err)
			left = msgs[i:]
			break
		}
		futures = append(futures, f)
	}
	var failed []*nats.Msg
	stall := time.NewTimer(ackStall)
	defer stall.Stop()
	end := time.NewTimer(time.Until(deadline))
	defer end.Stop()
	stalled := false
	for _, f := range futures {
		var err error
		if stalled {
			// Given up waiting: count only what is already acknowledged.
			select {
			case <-f.Ok():
			default:
				err = errNoAck
			}
		} else {
			select {
			case <-f.Ok():
				stall.Reset(ackStall)
			case err = <-f.Err():
			case <-stall.C:
				stalled, err = true, fmt.Errorf("%w within %s", errNoAck, ackStall)
			case <-end.C:
				stalled, err = true, fmt.Errorf("%w within %s", errNoAck, timeout)
			case <-ctx.Done():
				return nil, fmt.Errorf("publish %s: %w", f.Msg().Subject, ctx.Err())
			}
		}
		if err != nil {
			failed = append(failed, f.Msg())
			// Report the first error, or the first that retrying cannot cure.
			if first == nil || retryable(first) && !retryable(err) {
				first = fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
			}
		}
	}
	if first == nil {
		return nil, nil
	}
	return append(failed, left...), first
}

// retryable tells apart what publishing again may cure (no leader yet, a
// lost connection or acknowledgement) from what it cannot (the stream
// refused the message, the connection is closed for good).
func retryable(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code >= 500
	}
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
