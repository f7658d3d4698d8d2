package reporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/pkg/testenv"
)

// countingStore is the real store, counting summary writes.
type countingStore struct {
	*store.Store
	writes atomic.Int32
	// beforeSave, if set, runs before a write: another instance's work
	// between this one's read and its write.
	beforeSave func()
}

func (c *countingStore) SaveSummaryIf(ctx context.Context, sum *ledger.Summary, prevSeq uint64) error {
	c.writes.Add(1)
	if c.beforeSave != nil {
		c.beforeSave()
	}
	return c.Store.SaveSummaryIf(ctx, sum, prevSeq)
}

// accountingMsgs turns the accounting messages among outs into messages as
// the runner hands them over, at stream sequences from seq on.
func accountingMsgs(outs []runner.Output, seq uint64) []runner.Msg {
	var ms []runner.Msg
	for _, o := range outs {
		if strings.HasPrefix(o.Subject, subjects.Outcomes+".") {
			ms = append(ms, runner.Msg{Subject: o.Subject, Data: o.Data, NumDelivered: 1, StreamSeq: seq})
			seq++
		}
	}
	return ms
}

// chunks are n outcome chunks of 5 created rows each.
func (e *testEnv) chunks(tenant, id string, n int) []runner.Output {
	var outs []runner.Output
	for c := range n {
		r := 2 + 5*c
		outs = append(outs, e.outcomes(envelope.StageWrite, tenant, id, c, created(r, r+1, r+2, r+3, r+4)))
	}
	return outs
}

func (e *testEnv) summaryOf(id string) *ledger.Summary {
	e.t.Helper()
	sum, found, err := e.store.ReadSummary(context.Background(), id)
	if err != nil || !found {
		e.t.Fatalf("summary of %s: found %v, %v", id, found, err)
	}
	return sum
}

// A batch applies every message to its import's summary in memory and
// writes each summary once (an import that completes: when it completes);
// the same batch delivered again writes nothing, changes nothing, and
// announces the completed import again.
func TestBatchWritesEachSummaryOnce(t *testing.T) {
	e := newEnv(t)
	cs := &countingStore{Store: e.store}
	rp := &reporter{store: cs, log: zaptest.NewLogger(t), timeout: DefaultUnsealedTimeout}
	var outs []runner.Output
	outs = append(outs, e.opened("acme", "imp_big")...)
	outs = append(outs, e.chunks("acme", "imp_big", 50)...)
	outs = append(outs, e.opened("acme", "imp_small")...) // the same partition's other import, in between
	outs = append(outs, e.chunks("acme", "imp_big", 100)[50:]...)
	outs = append(outs, e.outcomes(envelope.StageWrite, "acme", "imp_small", 0, created(2, 3)))
	outs = append(outs, e.sealed("acme", "imp_big", 500)...)
	ms := accountingMsgs(outs, 1)

	got, err := rp.handleBatch(context.Background(), ms)
	if err != nil {
		t.Fatal(err)
	}
	big, small := e.summaryOf("imp_big"), e.summaryOf("imp_small")
	if big.Status != ledger.StatusCompleted || big.Counts != (envelope.Counts{Created: 500}) || big.Total != 500 {
		t.Fatalf("imp_big %+v, want completed with 500 created", big)
	}
	if small.Status != ledger.StatusProcessing || small.Counts != (envelope.Counts{Created: 2}) {
		t.Fatalf("imp_small %+v, want processing with 2 created", small)
	}
	if n := cs.writes.Load(); n != 2 {
		t.Fatalf("%d summary writes for %d messages of 2 imports, want 2", n, len(ms))
	}
	completed := func(outs []runner.Output) int {
		n := 0
		for _, o := range outs {
			if o.MsgID == subjects.EventID("acme", "imp_big", envelope.EventCompleted) {
				n++
			}
		}
		return n
	}
	if n := completed(got); n != 1 {
		t.Fatalf("the completion is announced %d times, want once", n)
	}

	cs.writes.Store(0)
	again, err := rp.handleBatch(context.Background(), ms)
	if err != nil {
		t.Fatal(err)
	}
	if n := cs.writes.Load(); n != 0 {
		t.Fatalf("the redelivered batch wrote %d summaries, want none", n)
	}
	if b := e.summaryOf("imp_big"); b.Counts != big.Counts || b.LastSeq != big.LastSeq || !b.CompletedAt.Equal(*big.CompletedAt) {
		t.Fatalf("imp_big changed on redelivery: %+v, was %+v", b, big)
	}
	if s := e.summaryOf("imp_small"); s.Counts != small.Counts || s.LastSeq != small.LastSeq {
		t.Fatalf("imp_small changed on redelivery: %+v, was %+v", s, small)
	}
	if n := completed(again); n != 1 {
		t.Fatalf("the redelivered batch announces the completion %d times, want once", n)
	}
}

// Two instances briefly on one partition: the other applied more of the
// import's messages between this batch's read and its write. The write
// loses its compare-and-swap and the batch fails; decided again one at a
// time on the summary as stored, its messages are found applied, and every
// row is counted once.
func TestBatchThatLostItsWriteIsDecidedAgain(t *testing.T) {
	e := newEnv(t)
	var outs []runner.Output
	outs = append(outs, e.opened("acme", "imp_race")...)
	outs = append(outs, e.chunks("acme", "imp_race", 20)...)
	ms := accountingMsgs(outs, 1)
	other := &reporter{store: e.store, log: zaptest.NewLogger(t)}
	if _, err := other.handleBatch(context.Background(), ms[:6]); err != nil {
		t.Fatal(err)
	}

	cs := &countingStore{Store: e.store}
	rp := &reporter{store: cs, log: zaptest.NewLogger(t)}
	cs.beforeSave = func() {
		cs.beforeSave = nil
		if _, err := other.handleBatch(context.Background(), ms[6:]); err != nil {
			t.Error(err)
		}
	}
	if _, err := rp.handleBatch(context.Background(), ms[6:16]); !errors.Is(err, store.ErrSummaryChanged) {
		t.Fatalf("the batch that lost the race: %v, want ErrSummaryChanged", err)
	}
	for _, m := range ms[6:16] { // as the runner does after a failed batch
		if _, err := rp.handleBatch(context.Background(), []runner.Msg{m}); err != nil {
			t.Fatal(err)
		}
	}
	if sum := e.summaryOf("imp_race"); sum.Counts != (envelope.Counts{Created: 100}) || sum.LastSeq != ms[len(ms)-1].StreamSeq {
		t.Fatalf("summary %+v, want 100 created up to the last message", sum)
	}
}

// Accounting messages that wait for the reporter are applied many to a
// summary write, and every row is counted once.
func TestWaitingAccountingSharesSummaryWrites(t *testing.T) {
	e := newEnv(t)
	e.publish(e.opened("acme", "imp_many")...)
	e.publish(e.chunks("acme", "imp_many", 200)...)
	e.publish(e.sealed("acme", "imp_many", 1000)...)
	e.startReporter(Config{})

	sum := e.finished("imp_many", time.Minute)
	if sum.Status != ledger.StatusCompleted || sum.Counts != (envelope.Counts{Created: 1000}) {
		t.Fatalf("summary %+v, want completed with 1000 created", sum)
	}
	acked := testutil.ToFloat64(e.metrics.Chunks.WithLabelValues(envelope.StageReport, "acked"))
	writes := testutil.ToFloat64(e.metrics.SummaryWrites)
	t.Logf("%v accounting messages, %v summary writes", acked, writes)
	if acked != 202 || writes > acked/10 {
		t.Fatalf("%v accounting messages acked with %v summary writes, want 202 with at most a tenth as many", acked, writes)
	}
}

// A batch whose summary was written but whose messages were not acked (the
// process died) is delivered again and changes nothing: every row is
// counted once and the import completes once.
func TestRedeliveredBatchChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.publish(e.opened("acme", "imp_crash")...)
	e.publish(e.chunks("acme", "imp_crash", 100)...)
	e.publish(e.sealed("acme", "imp_crash", 500)...)
	var crashed atomic.Bool
	e.startReporter(Config{Runner: runner.Config{Crash: func(m runner.Msg) bool {
		var acc envelope.Accounting
		return json.Unmarshal(m.Data, &acc) == nil && acc.Kind == envelope.KindSealed && crashed.CompareAndSwap(false, true)
	}}})

	sum := e.finished("imp_crash", time.Minute)
	if !crashed.Load() {
		t.Fatal("the batch with the seal was never crashed")
	}
	if sum.Status != ledger.StatusCompleted || sum.Counts != (envelope.Counts{Created: 500}) {
		t.Fatalf("summary %+v, want completed with 500 created", sum)
	}
	// The crash kept the completed event from being published: it comes
	// with the batch delivered again.
	events, err := e.js.Stream(context.Background(), subjects.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		m, err := events.GetLastMsgForSubject(context.Background(), subjects.For(subjects.Events, "acme", "imp_crash"))
		if err != nil {
			return err
		}
		var ev envelope.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Type != envelope.EventCompleted {
			return fmt.Errorf("last event %s (%v), want completed", m.Data, err)
		}
		return nil
	})
	if n := testutil.ToFloat64(e.metrics.Redelivered.WithLabelValues(envelope.StageReport)); n == 0 {
		t.Fatal("nothing was delivered again after the crash")
	}
	// Delivered again, the batch must not count its rows a second time
	// (the import would end failed with an accounting error) nor end the
	// import again.
	if n := testutil.ToFloat64(e.metrics.ImportsFinished.WithLabelValues(ledger.StatusCompleted)); n != 1 {
		t.Fatalf("the import was counted finished %v times, want once", n)
	}
}

// A message of an import that can never be applied, amid others of its
// batch, is dead-lettered alone; the others are counted and the import
// completes.
func TestPoisonInABatchIsDeadLetteredAlone(t *testing.T) {
	e := newEnv(t)
	e.publish(e.opened("acme", "imp_poison")...)
	all := e.chunks("acme", "imp_poison", 10)
	e.publish(all[:5]...)
	e.publish(runner.Output{Subject: subjects.For(subjects.Outcomes, "acme", "imp_poison"), MsgID: "poison", Data: []byte("{not json")})
	e.publish(all[5:]...)
	e.publish(e.sealed("acme", "imp_poison", 50)...)
	e.startReporter(Config{})

	sum := e.finished("imp_poison", time.Minute)
	if sum.Status != ledger.StatusCompleted || sum.Counts != (envelope.Counts{Created: 50}) {
		t.Fatalf("summary %+v, want completed with 50 created", sum)
	}
	n, m := e.deadLetters()
	if n != 1 || m == nil {
		t.Fatalf("%d dead letters, want the poison alone", n)
	}
	if string(m.Data) != "{not json" || !strings.Contains(m.Header.Get(runner.HeaderReason), "malformed accounting message") {
		t.Fatalf("dead letter %s", describe(m))
	}
}

// BenchmarkAccountingBacklog times the reporter through a backlog of one
// import's accounting messages (opened, 2,000 chunks, sealed: a
// 1,000,000-row import's worth in chunks of 500), one at a time and in
// batches: how fast accounting catches up once it is behind.
func BenchmarkAccountingBacklog(b *testing.B) {
	for _, batch := range []int{1, DefaultBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				e := newEnv(b)
				e.publish(e.opened("acme", "imp_backlog")...)
				e.publish(e.chunks("acme", "imp_backlog", 2000)...)
				e.publish(e.sealed("acme", "imp_backlog", 10_000)...)
				b.StartTimer()
				start := time.Now()
				e.startReporter(Config{Batch: batch})
				sum := e.finished("imp_backlog", 10*time.Minute)
				took := time.Since(start)
				b.StopTimer()
				if sum.Status != ledger.StatusCompleted || sum.Counts.Created != 10_000 {
					b.Fatalf("summary %+v", sum)
				}
				b.ReportMetric(2002/took.Seconds(), "msgs/s")
				b.ReportMetric(testutil.ToFloat64(e.metrics.SummaryWrites), "writes")
				e.stopRep()
			}
		})
	}
}
