package partitions

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

// handled records, per import, the stream sequences handled, in order.
type handled struct {
	mu       sync.Mutex
	byImport map[string][]uint64
	count    int
	by       map[int]int // messages per instance
	seen     map[uint64]bool
}

func (h *handled) handler(instance int) runner.Handler {
	return func(_ context.Context, m runner.Msg) ([]runner.Output, error) {
		time.Sleep(2 * time.Millisecond)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.byImport[m.Subject] = append(h.byImport[m.Subject], m.StreamSeq)
		h.seen[m.StreamSeq] = true
		h.count++
		h.by[instance]++
		return nil, nil
	}
}

// batchHandler handles a batch as handler does each of its messages.
func (h *handled) batchHandler(instance int) runner.BatchHandler {
	one := h.handler(instance)
	return func(ctx context.Context, ms []runner.Msg) ([]runner.Output, error) {
		for _, m := range ms {
			if _, err := one(ctx, m); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
}

func (h *handled) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Two instances share the partitions; one stops in the middle, the other
// takes its partitions over. Every message is handled, each import's in
// stream order, none twice.
func TestFailOverKeepsEveryImportInOrder(t *testing.T) {
	failOver(t, Stage{Stream: subjects.StreamOutcomes, Subject: subjects.Outcomes, Durable: "reporter", MaxAckPending: 1}, true, false)
}

// The same with the reporter's batches: many in flight, handed over in order.
func TestFailOverInBatchesKeepsEveryImportInOrder(t *testing.T) {
	failOver(t, Stage{Stream: subjects.StreamOutcomes, Subject: subjects.Outcomes, Durable: "reporter", MaxAckPending: 16}, true, true)
}

// The same with the writer's settings: several loops, several in flight,
// no order to keep.
func TestFailOverWithLoops(t *testing.T) {
	failOver(t, Stage{Stream: subjects.StreamUnique, Subject: subjects.Unique, Durable: "writer", MaxAckPending: 4, Loops: 2}, false, false)
}

func failOver(t *testing.T, st Stage, ordered, batches bool) {
	const parts = 4
	_, js := streamstest.Start(t, streams.Config{Partitions: parts})
	ctx := context.Background()
	const imports, perImport = 8, 60
	for range perImport {
		for imp := range imports {
			if _, err := js.Publish(ctx, subjects.For(st.Subject, "acme", fmt.Sprintf("imp_%d", imp)), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := &handled{byImport: map[string][]uint64{}, by: map[int]int{}, seen: map[uint64]bool{}}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	var stops []func()
	for i := range 2 {
		ictx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			cfg := Config{Partitions: parts, PinnedTTL: time.Second, Index: i, Instances: 2}
			if batches {
				done <- RunBatch(ictx, js, st, cfg, runner.Config{}, h.batchHandler(i), log)
				return
			}
			done <- Run(ictx, js, st, cfg, runner.Config{}, h.handler(i), log)
		}()
		stops = append(stops, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		})
	}
	defer func() { stops[1]() }()
	waitFor(t, func() bool { return h.total() >= imports*perImport/4 })
	stops[0]()
	waitFor(t, func() bool { return h.total() >= imports*perImport })

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count != imports*perImport || len(h.seen) != imports*perImport {
		t.Fatalf("%d messages handled, want %d", h.count, imports*perImport)
	}
	for imp, seqs := range h.byImport {
		if !ordered {
			break
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("%s: sequence %d handled after %d", imp, seqs[i], seqs[i-1])
			}
		}
	}
	if h.by[0] == 0 || h.by[1] == 0 {
		t.Fatalf("messages per instance %v: both should have worked", h.by)
	}
	t.Logf("messages per instance: %v", h.by)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Streams and a consumer made by an earlier version, unpartitioned: the
// messages stored before are handled first, in order, through the old
// consumer, which is then deleted; the new ones through the partitions.
func TestDrainsTheConsumerOfAnEarlierVersion(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t, nil))
	ctx := context.Background()
	for _, sc := range streams.Configs(streams.Config{}) {
		sc.SubjectTransform = nil
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := streams.EnsureConsumer(ctx, js, streams.Consumer{Stream: subjects.StreamOutcomes, Durable: "reporter", MaxAckPending: 1}); err != nil {
		t.Fatal(err)
	}
	publish := func(n int) {
		for range n {
			if _, err := js.Publish(ctx, subjects.For(subjects.Outcomes, "acme", "imp_1"), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(5)
	if err := streams.Ensure(ctx, js, streams.Config{Partitions: 4}); err != nil {
		t.Fatalf("partitioning the streams of an earlier version: %v", err)
	}
	publish(5)

	h := &handled{byImport: map[string][]uint64{}, by: map[int]int{}, seen: map[uint64]bool{}}
	st := Stage{Stream: subjects.StreamOutcomes, Subject: subjects.Outcomes, Durable: "reporter", MaxAckPending: 1}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, js, st, Config{Partitions: 4}, runner.Config{}, h.handler(0), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	}()
	waitFor(t, func() bool {
		p := subjects.Partition(subjects.Outcomes, "acme", "imp_1", 4)
		_, err := js.Consumer(ctx, subjects.StreamOutcomes, Durable("reporter", p))
		return h.total() >= 10 && err == nil
	})
	publish(2) // through the partition now
	waitFor(t, func() bool { return h.total() >= 12 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	seqs := h.byImport[subjects.For(subjects.Outcomes, "acme", "imp_1")]
	for i := range seqs {
		if seqs[i] != uint64(i+1) {
			t.Fatalf("handled sequences %v, want 1 to 12 in order", seqs)
		}
	}
	if _, err := js.Consumer(ctx, subjects.StreamOutcomes, "reporter"); err == nil {
		t.Fatal("the earlier version's consumer is still there")
	}
	p := subjects.Partition(subjects.Outcomes, "acme", "imp_1", 4)
	if _, err := js.Consumer(ctx, subjects.StreamOutcomes, Durable("reporter", p)); err != nil {
		t.Fatalf("partition consumer: %v", err)
	}
}
