package reporter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

// testEnv is an in-process nats-server with the pipeline's streams, a
// FerretDB that can be stopped and started again on the same files and
// address, and a reporter with quick retries.
type testEnv struct {
	t       testing.TB
	dir     string
	addr    string // FerretDB's
	ferret  *embedded.Ferret
	nc      *nats.Conn
	js      jetstream.JetStream
	store   *store.Store
	metrics *metrics.Metrics
	stopRep func()
}

func startEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newEnv(t)
	e.startReporter(Config{})
	return e
}

// newEnv is the broker and the database, without a reporter.
func newEnv(t testing.TB) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), metrics: metrics.New()}
	e.nc, e.js = streamstest.Start(t, streams.Config{})
	e.startFerret("127.0.0.1:0")
	t.Cleanup(func() { e.ferret.Stop() })
	e.addr = strings.TrimSuffix(strings.TrimPrefix(e.ferret.URI(), "mongodb://"), "/")
	// A short server selection: while the database is down each attempt
	// fails within 200 ms, so the reporter goes through many deliveries.
	mc, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + e.addr + "/?serverSelectionTimeoutMS=200"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	e.store = store.New(mc, "intake", nil)
	return e
}

// startReporter runs a reporter with cfg, quick retries and a short AckWait.
func (e *testEnv) startReporter(cfg Config) {
	t := e.t
	if len(cfg.Runner.Backoff) == 0 {
		cfg.Runner.Backoff = []time.Duration{10 * time.Millisecond}
	}
	if cfg.Runner.AckWait == 0 {
		cfg.Runner.AckWait = 5 * time.Second
	}
	cfg.Runner.Metrics = e.metrics // as app does
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	go func() {
		done <- Run(ctx, cfg, platform.Deps{NC: e.nc, JS: e.js, Store: e.store, Metrics: e.metrics, Log: log})
	}()
	e.stopRep = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reporter: %v", err)
		}
	})
	t.Cleanup(e.stopRep)
}

func (e *testEnv) startFerret(addr string) {
	e.t.Helper()
	f, err := embedded.StartFerret(e.dir, addr, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ferret = f
}

// publish sends accounting messages of one import, in order.
func (e *testEnv) publish(outs ...runner.Output) {
	e.t.Helper()
	if err := runner.PublishAll(context.Background(), e.js, runner.Msgs(outs), 10*time.Second); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) opened(tenant, id string) []runner.Output {
	e.t.Helper()
	outs, err := platform.OpenedOutputs(envelope.Accounting{Tenant: tenant, Import: id, Options: &envelope.Options{Schema: "contacts", Mode: envelope.ModeUpsert}})
	if err != nil {
		e.t.Fatal(err)
	}
	return outs
}

func (e *testEnv) sealed(tenant, id string, total int) []runner.Output {
	e.t.Helper()
	outs, err := platform.SealedOutputs(tenant, id, total, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return outs
}

func (e *testEnv) outcomes(stage, tenant, id string, chunk int, outcomes []envelope.Outcome) runner.Output {
	e.t.Helper()
	o, err := platform.OutcomeOutput(stage, tenant, id, chunk, outcomes)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// finished waits until the import is no longer processing.
func (e *testEnv) finished(id string, limit time.Duration) *ledger.Summary {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		sum, found, err := e.store.ReadSummary(context.Background(), id)
		if err == nil && found && sum.Status != ledger.StatusProcessing {
			return sum
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("import %s not finished within %s: %+v (found %v, err %v)", id, limit, sum, found, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func created(rows ...int) []envelope.Outcome {
	out := make([]envelope.Outcome, len(rows))
	for i, r := range rows {
		out[i] = envelope.Outcome{Row: r, Result: envelope.Created}
	}
	return out
}

// Rows a stage gave up on (dead-lettered) are counted failed with their
// reason, and the import ends failed, saying how many and why; an import
// whose rows failed only for their content still completes.
func TestDeadLetteredRowsFailTheImport(t *testing.T) {
	e := startEnv(t)
	const tenant = "acme"
	reason := "could not be processed (write stage): insert into records.acme.contacts: connection refused"
	e.publish(e.opened(tenant, "imp_dead")...)
	e.publish(e.outcomes(envelope.StageWrite, tenant, "imp_dead", 0, created(2, 3)),
		e.outcomes("dead-"+envelope.StageWrite, tenant, "imp_dead", 1, envelope.FailedRows([]int{4, 5}, envelope.CodeDeadLetter, reason)),
		// The writer's own outcome for the same chunk, published before the
		// dead letter was acknowledged: counted once, by the first.
		e.outcomes(envelope.StageWrite, tenant, "imp_dead", 1, created(4, 5)))
	e.publish(e.outcomes(envelope.StageValidate, tenant, "imp_dead", 2, envelope.FailedRows([]int{6}, envelope.CodeValidation, "email: not an email address")))
	e.publish(e.sealed(tenant, "imp_dead", 5)...)

	e.publish(e.opened(tenant, "imp_fine")...)
	e.publish(e.outcomes(envelope.StageWrite, tenant, "imp_fine", 0, created(2)),
		e.outcomes(envelope.StageValidate, tenant, "imp_fine", 1, envelope.FailedRows([]int{3}, envelope.CodeValidation, "email: not an email address")))
	e.publish(e.sealed(tenant, "imp_fine", 2)...)

	sum := e.finished("imp_dead", 30*time.Second)
	if sum.Status != ledger.StatusFailed || sum.Counts != (envelope.Counts{Created: 2, Failed: 3}) || sum.DeadRows != 2 {
		t.Fatalf("summary %+v, want failed with 2 created, 3 failed (2 given up on)", sum)
	}
	if !strings.Contains(sum.Reason, "2 rows were given up on after repeated attempts") || !strings.Contains(sum.Reason, reason) {
		t.Fatalf("reason %q does not say how many rows were given up on and why", sum.Reason)
	}
	notes, err := e.store.RowNotes(context.Background(), sum, envelope.Failed)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, n := range notes {
		got[n.Row] = n.Problems[0].Message
	}
	if len(got) != 3 || got[4] != reason || got[5] != reason || got[6] != "email: not an email address" {
		t.Fatalf("failed rows %v", got)
	}
	if fine := e.finished("imp_fine", 30*time.Second); fine.Status != ledger.StatusCompleted || fine.Reason != "" {
		t.Fatalf("an import with only invalid rows failed: %+v", fine)
	}
}

// While the database is down the reporter keeps every accounting message
// and retries it, far past the runner's usual MaxDeliver; once the
// database is back every row is counted, nothing was dead-lettered.
func TestReporterWaitsOutADatabaseOutage(t *testing.T) {
	e := startEnv(t)
	const tenant = "acme"
	e.publish(e.opened(tenant, "imp_before")...)
	e.publish(e.outcomes(envelope.StageWrite, tenant, "imp_before", 0, created(2, 3)))
	e.publish(e.sealed(tenant, "imp_before", 2)...)
	e.finished("imp_before", 30*time.Second)

	e.ferret.Stop()
	e.publish(e.opened(tenant, "imp_outage")...)
	var rows []int
	for chunk := range 20 {
		e.publish(e.outcomes(envelope.StageWrite, tenant, "imp_outage", chunk, created(2+2*chunk, 3+2*chunk)))
		rows = append(rows, 2+2*chunk, 3+2*chunk)
	}
	e.publish(e.sealed(tenant, "imp_outage", len(rows))...)
	// Each delivery fails within the 200 ms server selection and is retried
	// 10 ms later. Wait until the message in hand was delivered more often
	// than the runner's usual MaxDeliver (10): the consumer is strictly
	// ordered, so every delivery since the last ack is of that one message.
	deadline := time.Now().Add(time.Minute)
	for {
		p := subjects.Partition(subjects.Outcomes, tenant, "imp_outage", streams.DefaultPartitions)
		cons, err := e.js.Consumer(context.Background(), subjects.StreamOutcomes, partitions.Durable(Durable, p))
		if err != nil {
			t.Fatal(err)
		}
		info := cons.CachedInfo()
		if info.Delivered.Consumer > info.AckFloor.Consumer+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the message was delivered %d times in a minute, want more than 10", info.Delivered.Consumer-info.AckFloor.Consumer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.startFerret(e.addr)

	sum := e.finished("imp_outage", time.Minute)
	if sum.Status != ledger.StatusCompleted || sum.Total != 40 || sum.Counts != (envelope.Counts{Created: 40}) {
		t.Fatalf("summary after the outage %+v, want completed with 40 created", sum)
	}
	if n, first := e.deadLetters(); n != 0 {
		t.Fatalf("%d dead letters, the first: %v", n, describe(first))
	}
}

// deadLetters are how many messages INTAKE_DEAD holds, and the first.
func (e *testEnv) deadLetters() (uint64, *jetstream.RawStreamMsg) {
	e.t.Helper()
	st, err := e.js.Stream(context.Background(), subjects.StreamDead)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	m, _ := st.GetMsg(context.Background(), info.State.FirstSeq)
	return info.State.Msgs, m
}

func describe(m *jetstream.RawStreamMsg) string {
	if m == nil {
		return "?"
	}
	return fmt.Sprintf("%s (%s)", m.Subject, m.Header.Get(runner.HeaderReason))
}

// An import that never ends is failed within about 1.5 times the timeout,
// however short: the sweep runs every quarter of it.
func TestSweepFollowsTheTimeout(t *testing.T) {
	for timeout, want := range map[time.Duration]time.Duration{
		time.Hour: time.Minute, 20 * time.Second: 5 * time.Second, time.Second: time.Second,
	} {
		if got := DefaultSweepEvery(timeout); got != want {
			t.Errorf("DefaultSweepEvery(%s) = %s, want %s", timeout, got, want)
		}
	}
}
