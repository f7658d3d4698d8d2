package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/testenv"
)

type env struct {
	js   jetstream.JetStream
	cons jetstream.Consumer
}

// setup makes streams IN (consumed), OUT (outputs) and DEAD, and a durable on IN.
func setup(t testing.TB) env {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t, nil))
	ctx := context.Background()
	for name, subj := range map[string]string{"IN": "in.>", "OUT": "out.>", "DEAD": "intake.dead.>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj}, Duplicates: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "IN", jetstream.ConsumerConfig{Durable: "test", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1})
	if err != nil {
		t.Fatal(err)
	}
	return env{js: js, cons: cons}
}

func (e env) publish(t testing.TB, subj, data string) {
	t.Helper()
	if _, err := e.js.Publish(context.Background(), subj, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// run starts a runner and returns a stop function that waits for it.
func (e env) run(t testing.TB, cfg Config, h Handler) (stop func()) {
	t.Helper()
	return start(t, New(e.js, e.cons, cfg, h, zaptest.NewLogger(t)).Run)
}

// start runs run until the returned stop function (or the test's end)
// stops it and waits for it.
func start(t testing.TB, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

func streamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func pending(t testing.TB, c jetstream.Consumer) (unacked int, waiting uint64) {
	t.Helper()
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending, info.NumPending
}

func settled(t testing.TB, c jetstream.Consumer) func() error {
	return func() error {
		if unacked, waiting := pending(t, c); unacked != 0 || waiting != 0 {
			return fmt.Errorf("%d unacked, %d waiting", unacked, waiting)
		}
		return nil
	}
}

// waitDeadLettered polls until the one message published is in DEAD and
// the consumer has settled.
func (e env) waitDeadLettered(t testing.TB) {
	t.Helper()
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if streamMsgs(t, e.js, "DEAD") != 1 {
			return errors.New("not dead-lettered yet")
		}
		return settled(t, e.cons)()
	})
}

func TestOutputsStoredThenAcked(t *testing.T) {
	e := setup(t)
	for i := 0; i < 10; i++ {
		e.publish(t, "in.a", fmt.Sprint(i))
	}
	e.run(t, Config{Name: "t"}, func(_ context.Context, m Msg) ([]Output, error) {
		return []Output{
			{Subject: "out.x", MsgID: "x-" + string(m.Data), Data: m.Data},
			{Subject: "out.y", MsgID: "y-" + string(m.Data), Data: m.Data},
		}, nil
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, settled(t, e.cons))
	if n := streamMsgs(t, e.js, "OUT"); n != 20 {
		t.Fatalf("OUT holds %d messages, want 20", n)
	}
}

func TestTransientErrorIsRetriedWithDelay(t *testing.T) {
	e := setup(t)
	e.publish(t, "in.a", "x")
	var calls atomic.Int32
	var first, second atomic.Int64
	e.run(t, Config{Name: "t", Backoff: []time.Duration{300 * time.Millisecond}}, func(_ context.Context, m Msg) ([]Output, error) {
		switch calls.Add(1) {
		case 1:
			first.Store(time.Now().UnixNano())
			return nil, errors.New("database unavailable")
		default:
			second.Store(time.Now().UnixNano())
			if m.NumDelivered != 2 {
				return nil, Permanent(fmt.Errorf("delivery %d, want 2", m.NumDelivered))
			}
			return []Output{{Subject: "out.x", Data: m.Data}}, nil
		}
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if calls.Load() < 2 {
			return errors.New("not retried yet")
		}
		return settled(t, e.cons)()
	})
	if gap := time.Duration(second.Load() - first.Load()); gap < 250*time.Millisecond {
		t.Fatalf("retried after %s, want the 300ms backoff", gap)
	}
	if n := streamMsgs(t, e.js, "OUT"); n != 1 {
		t.Fatalf("OUT holds %d, want 1", n)
	}
	if n := streamMsgs(t, e.js, "DEAD"); n != 0 {
		t.Fatalf("DEAD holds %d, want 0", n)
	}
}

func TestPermanentErrorGoesToDeadLetterWithAccounting(t *testing.T) {
	e := setup(t)
	e.publish(t, "in.a", "poison")
	e.publish(t, "in.a", "fine")
	e.run(t, Config{
		Name: "stage",
		DeadLetter: func(m Msg, reason string) []Output {
			return []Output{{Subject: "out.failed", Data: []byte(string(m.Data) + ": " + reason)}}
		},
	}, func(_ context.Context, m Msg) ([]Output, error) {
		if string(m.Data) == "poison" {
			return nil, Permanent(errors.New("cannot parse"))
		}
		return []Output{{Subject: "out.ok", Data: m.Data}}, nil
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, settled(t, e.cons))
	dead, err := e.js.Stream(context.Background(), "DEAD")
	if err != nil {
		t.Fatal(err)
	}
	m, err := dead.GetLastMsgForSubject(context.Background(), "intake.dead.stage.in.a")
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if string(m.Data) != "poison" || m.Header.Get(HeaderReason) != "cannot parse" {
		t.Fatalf("dead letter = %q reason %q", m.Data, m.Header.Get(HeaderReason))
	}
	out, _ := e.js.Stream(context.Background(), "OUT")
	fm, err := out.GetLastMsgForSubject(context.Background(), "out.failed")
	if err != nil || string(fm.Data) != "poison: cannot parse" {
		t.Fatalf("dead-letter accounting = %v %q", err, fm.Data)
	}
	if _, err := out.GetLastMsgForSubject(context.Background(), "out.ok"); err != nil {
		t.Fatalf("the good message was not processed: %v", err)
	}
}

func TestExhaustedRetriesGoToDeadLetter(t *testing.T) {
	e := setup(t)
	e.publish(t, "in.a", "x")
	var calls atomic.Int32
	e.run(t, Config{Name: "stage", MaxDeliver: 3, Backoff: []time.Duration{10 * time.Millisecond}}, func(context.Context, Msg) ([]Output, error) {
		calls.Add(1)
		return nil, errors.New("always failing")
	})
	e.waitDeadLettered(t)
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want MaxDeliver=3", n)
	}
}

func TestInputNotAckedWhenOutputsCannotBeStored(t *testing.T) {
	e := setup(t)
	e.publish(t, "in.a", "x")
	var calls atomic.Int32
	stop := e.run(t, Config{Name: "t", MaxDeliver: 1000, Backoff: []time.Duration{50 * time.Millisecond}, PublishTimeout: time.Second},
		func(context.Context, Msg) ([]Output, error) {
			calls.Add(1)
			// No stream stores "nowhere.>": JetStream never acknowledges it.
			return []Output{{Subject: "nowhere.x", Data: []byte("x")}}, nil
		})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if calls.Load() < 3 {
			return errors.New("want several attempts")
		}
		return nil
	})
	stop()
	if unacked, waiting := pending(t, e.cons); unacked+int(waiting) != 1 {
		t.Fatalf("the input must stay unacknowledged: %d unacked, %d waiting", unacked, waiting)
	}
}

func TestShutdownHandsBackUnprocessedMessages(t *testing.T) {
	e := setup(t)
	for i := 0; i < 50; i++ {
		e.publish(t, "in.a", fmt.Sprint(i))
	}
	var handled atomic.Int32
	stop := e.run(t, Config{Name: "t", Batch: 50}, func(context.Context, Msg) ([]Output, error) {
		handled.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil, nil
	})
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if handled.Load() < 5 {
			return errors.New("not started")
		}
		return nil
	})
	stop()
	done := handled.Load()
	// A new runner gets the rest promptly, not after AckWait (30s).
	e.run(t, Config{Name: "t"}, func(context.Context, Msg) ([]Output, error) {
		handled.Add(1)
		return nil, nil
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, settled(t, e.cons))
	if n := handled.Load(); n < 50 {
		t.Fatalf("handled %d of 50 (first runner %d)", n, done)
	}
}

func msgsWithIDs(subject func(i int) string, n int) []*nats.Msg {
	var msgs []*nats.Msg
	for i := 0; i < n; i++ {
		m := nats.NewMsg(subject(i))
		m.Data = []byte(fmt.Sprint(i))
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("m%d", i))
		msgs = append(msgs, m)
	}
	return msgs
}

// While a stream has no leader (a cluster electing one) nothing answers a
// publish: PublishAll keeps trying until a stream does, within its timeout.
func TestPublishAllRetriesUntilAStreamAnswers(t *testing.T) {
	e := setup(t)
	go func() {
		time.Sleep(700 * time.Millisecond)
		_, _ = e.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}, Duplicates: time.Minute})
	}()
	msgs := msgsWithIDs(func(int) string { return "late.x" }, 20)
	if err := PublishAll(context.Background(), e.js, msgs, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, e.js, "LATE"); n != 20 {
		t.Fatalf("LATE holds %d messages, want 20", n)
	}
}

// A stream leader that dies takes the messages in flight with it: their
// acknowledgement never comes. PublishAll sends them again; the ones that
// were stored are not stored twice (Nats-Msg-Id).
func TestPublishAllResendsLostMessages(t *testing.T) {
	e := setup(t)
	const stall = 300 * time.Millisecond // instead of AckStall
	ctx := context.Background()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOST", Subjects: []string{"lost.a"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// Messages to lost.b reach a subscriber that never answers: lost.
	nc, err := nats.Connect(e.js.Conn().ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sink, err := nc.Subscribe("lost.b", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	msgs := msgsWithIDs(func(i int) string { return "lost." + string(rune('a'+i%2)) }, 20)
	// The first half reaches the stream once before: sending it again stores nothing.
	if err := publishAll(ctx, e.js, msgs[:10:10], time.Second, stall); err == nil {
		t.Fatal("half the messages are lost, yet all acknowledged")
	}
	go func() {
		time.Sleep(time.Second)
		_ = sink.Unsubscribe()
		_, _ = e.js.UpdateStream(ctx, jetstream.StreamConfig{Name: "LOST", Subjects: []string{"lost.>"}, Duplicates: time.Minute})
	}()
	start := time.Now()
	if err := publishAll(ctx, e.js, msgs, 10*time.Second, stall); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, e.js, "LOST"); n != 20 {
		t.Fatalf("LOST holds %d messages, want 20 (each once)", n)
	}
	t.Logf("stored after %s", time.Since(start).Round(time.Millisecond))
}

// What the stream refuses is not tried again.
func TestPublishAllReturnsARefusalAtOnce(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small.>"}, MaxMsgSize: 10}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m := nats.NewMsg("small.x")
	m.Data = []byte("more than ten bytes")
	err := PublishAll(ctx, e.js, []*nats.Msg{m}, 10*time.Second)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("want an error at once, got %v after %s", err, time.Since(start))
	}
}

func panicCount(t testing.TB, mx *metrics.Metrics, stage string) float64 {
	t.Helper()
	return testutil.ToFloat64(mx.Panics.WithLabelValues(stage))
}

// A handler that panics once is retried; its outputs are published once and
// the panic is counted.
func TestPanicIsRecoveredAndRetried(t *testing.T) {
	e := setup(t)
	e.publish(t, "in.a", "x")
	mx := metrics.New()
	var calls atomic.Int32
	e.run(t, Config{Name: "stage", Metrics: mx, Backoff: []time.Duration{10 * time.Millisecond}}, func(_ context.Context, m Msg) ([]Output, error) {
		if calls.Add(1) == 1 {
			var nilMap map[string]int
			//lint:ignore SA5000 a real runtime panic, on purpose
			nilMap["boom"]++
		}
		return []Output{{Subject: "out.x", MsgID: "x", Data: m.Data}}, nil
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if calls.Load() < 2 {
			return errors.New("not retried yet")
		}
		return settled(t, e.cons)()
	})
	if n := streamMsgs(t, e.js, "OUT"); n != 1 {
		t.Fatalf("OUT holds %d, want 1", n)
	}
	if n := streamMsgs(t, e.js, "DEAD"); n != 0 {
		t.Fatalf("DEAD holds %d, want 0", n)
	}
	if n := panicCount(t, mx, "stage"); n != 1 {
		t.Fatalf("intake_handler_panics_total = %v, want 1", n)
	}
}

// A handler that always panics on one message: after MaxDeliver the message
// is dead-lettered with its accounting, the reason says the stage crashed,
// and the runner goes on with the next message.
func TestAlwaysPanickingMessageIsDeadLettered(t *testing.T) {
	e := setup(t)
	e.publish(t, "in.a", "poison")
	e.publish(t, "in.a", "fine")
	mx := metrics.New()
	var poisonCalls atomic.Int32
	e.run(t, Config{
		Name: "stage", Metrics: mx, MaxDeliver: 3, Backoff: []time.Duration{10 * time.Millisecond},
		DeadLetter: func(m Msg, reason string) []Output {
			return []Output{{Subject: "out.failed", Data: []byte(string(m.Data) + ": " + reason)}}
		},
	}, func(_ context.Context, m Msg) ([]Output, error) {
		if string(m.Data) == "poison" {
			poisonCalls.Add(1)
			panic("cannot cope")
		}
		return []Output{{Subject: "out.ok", Data: m.Data}}, nil
	})
	e.waitDeadLettered(t)
	if n := poisonCalls.Load(); n != 3 {
		t.Fatalf("handler called %d times on the poison, want MaxDeliver=3", n)
	}
	if n := panicCount(t, mx, "stage"); n != 3 {
		t.Fatalf("intake_handler_panics_total = %v, want 3", n)
	}
	dead, _ := e.js.Stream(context.Background(), "DEAD")
	dm, err := dead.GetLastMsgForSubject(context.Background(), "intake.dead.stage.in.a")
	if err != nil {
		t.Fatal(err)
	}
	const reason = "the stage stage crashed: panic: cannot cope"
	if got := dm.Header.Get(HeaderReason); got != reason {
		t.Fatalf("dead-letter reason %q, want %q", got, reason)
	}
	out, _ := e.js.Stream(context.Background(), "OUT")
	fm, err := out.GetLastMsgForSubject(context.Background(), "out.failed")
	if err != nil || string(fm.Data) != "poison: "+reason {
		t.Fatalf("dead-letter accounting = %v %q", err, fm.Data)
	}
	if _, err := out.GetLastMsgForSubject(context.Background(), "out.ok"); err != nil {
		t.Fatalf("the next message was not processed: %v", err)
	}
}
