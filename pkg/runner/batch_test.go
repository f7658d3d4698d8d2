package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/testenv"
)

// batches records the batches a handler was given, as their data.
type batches struct {
	mu  sync.Mutex
	got [][]string
}

func (b *batches) add(ms []Msg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var data []string
	for _, m := range ms {
		data = append(data, string(m.Data))
	}
	b.got = append(b.got, data)
}

func (b *batches) all() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// runBatch starts a batch runner and returns a stop function that waits for it.
func (e env) runBatch(t testing.TB, cfg Config, h BatchHandler) (stop func()) {
	t.Helper()
	return start(t, NewBatch(e.js, e.cons, cfg, h, zaptest.NewLogger(t)).Run)
}

// echo outputs one message per input, with the input's data.
func echo(ms []Msg) []Output {
	var outs []Output
	for _, m := range ms {
		outs = append(outs, Output{Subject: "out.x", MsgID: "x-" + string(m.Data), Data: m.Data})
	}
	return outs
}

func publishN(t testing.TB, e env, n int) {
	t.Helper()
	for i := range n {
		e.publish(t, "in.a", fmt.Sprint(i))
	}
}

// Messages already waiting are handed over as one batch, in stream order,
// their outputs stored and every one acked.
func TestBatchOfWaitingMessagesHandledTogether(t *testing.T) {
	e := setup(t)
	publishN(t, e, 10)
	var b batches
	e.runBatch(t, Config{Name: "t", Batch: 64}, func(_ context.Context, ms []Msg) ([]Output, error) {
		b.add(ms)
		return echo(ms), nil
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, settled(t, e.cons))
	if n := streamMsgs(t, e.js, "OUT"); n != 10 {
		t.Fatalf("OUT holds %d messages, want 10", n)
	}
	want := [][]string{{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}
	if got := b.all(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

// A message the handler can never handle is dead-lettered alone; the others
// of its batch are handled (one at a time, after the batch failed) and acked.
func TestPoisonInABatchIsDeadLetteredAlone(t *testing.T) {
	e := setup(t)
	publishN(t, e, 3)
	e.publish(t, "in.a", "poison")
	publishN(t, e, 2)
	e.runBatch(t, Config{Name: "stage", Batch: 64, Backoff: []time.Duration{10 * time.Millisecond},
		DeadLetter: func(m Msg, reason string) []Output {
			return []Output{{Subject: "out.failed", MsgID: "failed", Data: m.Data}}
		}}, func(_ context.Context, ms []Msg) ([]Output, error) {
		for _, m := range ms {
			if string(m.Data) == "poison" {
				return nil, Permanent(errors.New("unreadable"))
			}
		}
		return echo(ms), nil
	})
	e.waitDeadLettered(t)
	// 0, 1, 2 and 0, 1 again (same message IDs): 3 messages, and the failed rows.
	if n := streamMsgs(t, e.js, "OUT"); n != 4 {
		t.Fatalf("OUT holds %d messages, want 4", n)
	}
}

// A batch that panics is handled again one message at a time: the panic is
// counted once, and every message is handled and acked.
func TestPanickingBatchFallsBackToOneAtATime(t *testing.T) {
	e := setup(t)
	publishN(t, e, 5)
	mx := metrics.New()
	var b batches
	e.runBatch(t, Config{Name: "stage", Batch: 64, Metrics: mx}, func(_ context.Context, ms []Msg) ([]Output, error) {
		b.add(ms)
		if len(ms) > 1 {
			panic("too many")
		}
		return echo(ms), nil
	})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, settled(t, e.cons))
	if n := streamMsgs(t, e.js, "OUT"); n != 5 {
		t.Fatalf("OUT holds %d messages, want 5", n)
	}
	if n := panicCount(t, mx, "stage"); n != 1 {
		t.Fatalf("intake_handler_panics_total = %v, want 1", n)
	}
	if got := b.all(); len(got) != 6 {
		t.Fatalf("batches %v, want the batch of 5 and then each alone", got)
	}
}

// A message delivered elsewhere and not yet acknowledged (held by an
// instance that died, say) comes first: the runner does not hand over the
// later messages until it holds that one too, and then hands over all of
// them in stream order.
func TestBatchWaitsForAnEarlierOutstandingMessage(t *testing.T) {
	e := setup(t)
	publishN(t, e, 4)
	first, err := e.cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	held := <-first.Messages()
	if held == nil || string(held.Data()) != "0" {
		t.Fatalf("the other client got %v, want message 0", held)
	}
	var b batches
	e.runBatch(t, Config{Name: "t", Batch: 64}, func(_ context.Context, ms []Msg) ([]Output, error) {
		b.add(ms)
		return echo(ms), nil
	})
	// The runner has taken messages 1 to 3 and keeps them.
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if unacked, waiting := pending(t, e.cons); unacked != 4 || waiting != 0 {
			return fmt.Errorf("%d unacked, %d waiting", unacked, waiting)
		}
		return nil
	})
	if got := b.all(); len(got) != 0 {
		t.Fatalf("handled %v while message 0 was outstanding", got)
	}
	if err := held.Nak(); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, settled(t, e.cons))
	want := [][]string{{"0", "1", "2", "3"}}
	if got := b.all(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}
