// Package streams creates the pipeline's JetStream streams and durable
// consumers. Creation is idempotent, so any number of instances may start at
// the same time. Connect opens a client on them for tools and tests.
package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/subjects"
)

// Connect connects to the servers at url (comma-separated) with opts and
// opens JetStream on the connection; the caller closes the connection.
func Connect(url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// Config sizes the streams.
type Config struct {
	Replicas      int           // 1 for a single server, 3 for a cluster
	RowsRetention time.Duration // how long raw rows are kept for replay
	DupWindow     time.Duration // Nats-Msg-Id de-duplication window
	MaxMsgSize    int32
	// Partitions splits every stage's stream (INTAKE_ROWS, INTAKE_VALID,
	// INTAKE_UNIQUE, INTAKE_OUTCOMES) by tenant or (tenant, import)
	// (subjects.PartitionTransform). It is stored in the
	// streams, so every instance must be given the same value: Ensure
	// refuses another one.
	Partitions int
}

// DefaultPartitions is Config.Partitions when unset: `intake serve --partitions`.
const DefaultPartitions = 16

// Defaults fills unset fields.
func (c Config) Defaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.RowsRetention == 0 {
		c.RowsRetention = DefaultRowsRetention
	}
	if c.DupWindow == 0 {
		c.DupWindow = 10 * time.Minute
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = 8 << 20
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	return c
}

// Configs returns the stream configurations of the pipeline.
func Configs(c Config) []jetstream.StreamConfig {
	c = c.Defaults()
	base := func(name, stage string, ret jetstream.RetentionPolicy, maxAge time.Duration) jetstream.StreamConfig {
		dup := c.DupWindow
		if maxAge > 0 && maxAge < dup {
			dup = maxAge // JetStream refuses a duplicate window longer than the retention
		}
		return jetstream.StreamConfig{
			Name:       name,
			Subjects:   []string{subjects.All(stage)},
			Retention:  ret,
			MaxAge:     maxAge,
			Storage:    jetstream.FileStorage,
			Replicas:   c.Replicas,
			Duplicates: dup,
			MaxMsgSize: c.MaxMsgSize,
			Discard:    jetstream.DiscardOld,
		}
	}
	partitioned := func(sc jetstream.StreamConfig, stage string) jetstream.StreamConfig {
		src, dst := subjects.PartitionTransform(stage, c.Partitions)
		sc.SubjectTransform = &jetstream.SubjectTransformConfig{Source: src, Destination: dst}
		return sc
	}
	// Raw rows are kept (not work-queue) so that imports can be replayed,
	// and partitioned so that a small import is validated beside a large
	// one, not after it. Tenants publish them, so the stream takes only
	// the transform's source (subjects.Published).
	rows := partitioned(base(subjects.StreamRows, subjects.Rows, jetstream.LimitsPolicy, c.RowsRetention), subjects.Rows)
	rows.Subjects = []string{subjects.Published(subjects.Rows)}
	return []jetstream.StreamConfig{
		rows,
		partitioned(base(subjects.StreamValid, subjects.Valid, jetstream.WorkQueuePolicy, 0), subjects.Valid),
		partitioned(base(subjects.StreamUnique, subjects.Unique, jetstream.WorkQueuePolicy, 0), subjects.Unique),
		partitioned(base(subjects.StreamOutcomes, subjects.Outcomes, jetstream.WorkQueuePolicy, 0), subjects.Outcomes),
		base(subjects.StreamEvents, subjects.Events, jetstream.LimitsPolicy, c.RowsRetention),
		base(subjects.StreamDead, subjects.Dead, jetstream.LimitsPolicy, 30*24*time.Hour),
		// Undo jobs, one message each, consumed by the undo module.
		base(subjects.StreamUndo, subjects.Undo, jetstream.WorkQueuePolicy, 0),
		base(subjects.StreamJobs, subjects.Jobs, jetstream.WorkQueuePolicy, 0),
	}
}

// DefaultRowsRetention is how long raw rows (and events) are kept when
// Config.RowsRetention is unset: a week, for replays.
const DefaultRowsRetention = 7 * 24 * time.Hour

// Ensure creates or updates every stream.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	for _, sc := range Configs(c) {
		if err := ensureStream(ctx, js, sc); err != nil {
			return err
		}
	}
	return nil
}

// Await waits until the named streams exist, for a process whose NATS user
// may publish into the streams but not create them (the upstream target
// under deploy/nats/accounts.conf). It reads their info every 250 ms until
// ctx ends.
func Await(ctx context.Context, js jetstream.JetStream, names ...string) error {
	for _, name := range names {
		for {
			_, err := js.Stream(ctx, name)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrStreamNotFound) && ctx.Err() == nil {
				return fmt.Errorf("stream %s: %w", name, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("stream %s: not created by the other services: %w", name, err)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// ErrPartitionsChanged is returned by Ensure when a stream is partitioned
// differently from the configuration: moving messages between partitions
// would break the per-import order, so the value cannot change while the
// streams exist.
var ErrPartitionsChanged = errors.New("partitions differ from the existing stream's")

func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	if err := checkTransform(ctx, js, sc); err != nil {
		return err
	}
	var err error
	// Two instances starting together can race between "not found" and
	// "create"; the loser simply tries again and finds the stream.
	for attempt := 0; attempt < 5; attempt++ {
		if _, err = js.CreateOrUpdateStream(ctx, sc); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	return fmt.Errorf("stream %s: %w", sc.Name, err)
}

// checkTransform refuses to change an existing stream's partitioning. A
// stream without a transform (made by an earlier version) gets one: its
// messages stored before are drained by the stages (partitions.Run), after
// partitionExisting.
func checkTransform(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	if sc.SubjectTransform == nil {
		return nil
	}
	st, err := js.Stream(ctx, sc.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", sc.Name, err)
	}
	have := st.CachedInfo().Config.SubjectTransform
	if have != nil && *have != *sc.SubjectTransform {
		return fmt.Errorf("stream %s stores %s as %s, this instance would store it as %s: %w (give every instance the same --partitions; to change it, stop the pipeline once the stream is empty and delete the stream)",
			sc.Name, have.Source, have.Destination, sc.SubjectTransform.Destination, ErrPartitionsChanged)
	}
	if have == nil {
		return partitionExisting(ctx, js, st, sc)
	}
	return nil
}

// partitionExisting readies an earlier version's unpartitioned stream for
// its transform. Its consumers on the whole stream (the stages' one durable
// consumer each) are narrowed to the unpartitioned subjects: they drain the
// messages stored before and never see a partitioned one, which an
// instance of that version, still running, would refuse as not its
// import's. A stream that is to take only the transform's source
// (subjects.Published) loses the longer subjects it took before: no stage
// ever accepted one (the validator refused a chunk published on any other
// subject than its import's), and kept they would read as partitioned.
func partitionExisting(ctx context.Context, js jetstream.JetStream, st jetstream.Stream, sc jetstream.StreamConfig) error {
	unpartitioned := sc.SubjectTransform.Source
	for name := range st.ConsumerNames(ctx).Name() {
		cons, err := st.Consumer(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: consumer %s: %w", sc.Name, name, err)
		}
		cc := cons.CachedInfo().Config
		if cc.Durable == "" || cc.FilterSubject != "" || len(cc.FilterSubjects) > 0 {
			continue
		}
		cc.FilterSubject = unpartitioned
		if _, err := js.UpdateConsumer(ctx, sc.Name, cc); err != nil {
			return fmt.Errorf("stream %s: narrow consumer %s to %s: %w", sc.Name, name, unpartitioned, err)
		}
	}
	if len(sc.Subjects) == 1 && sc.Subjects[0] == unpartitioned {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(unpartitioned+".>")); err != nil {
			return fmt.Errorf("stream %s: purge subjects longer than %s: %w", sc.Name, unpartitioned, err)
		}
	}
	return nil
}

// Consumer describes one durable pull consumer.
type Consumer struct {
	Stream        string
	Durable       string
	MaxAckPending int // 1 makes the consumer strictly ordered (reporter)
	AckWait       time.Duration
	FilterSubject string // empty: the whole stream
	// PinnedTTL, if set, gives the consumer a pinned-client priority group
	// (PriorityGroup): the server delivers to one client at a time and pins
	// another when the pinned one has not pulled for PinnedTTL.
	PinnedTTL time.Duration
}

// PriorityGroup is the priority group of pinned consumers; the runner pulls
// with it (runner.Config.PriorityGroup).
const PriorityGroup = "intake"

// EnsureConsumer creates or updates a durable pull consumer. Redelivery is
// unlimited at the server: the runner dead-letters after its own MaxDeliver,
// so no message is ever dropped silently.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, c Consumer) (jetstream.Consumer, error) {
	if c.AckWait == 0 {
		c.AckWait = runner.DefaultAckWait
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 256
	}
	cc := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: c.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: c.FilterSubject,
	}
	if c.PinnedTTL > 0 {
		cc.PriorityGroups = []string{PriorityGroup}
		cc.PriorityPolicy = jetstream.PriorityPolicyPinned
		cc.PinnedTTL = c.PinnedTTL
	}
	var (
		cons jetstream.Consumer
		err  error
	)
	for attempt := 0; attempt < 5; attempt++ {
		cons, err = js.CreateOrUpdateConsumer(ctx, c.Stream, cc)
		if err == nil {
			return cons, nil
		}
		if errors.Is(err, context.Canceled) {
			break
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	return nil, fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
}
