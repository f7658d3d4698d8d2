package streams

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/subjects"
)

// A message published on intake.<stage>.<tenant>.<import> is stored under
// the partition subjects.Partition computes: the one the server's
// {{partition(...)}} gives it, so readers can find it by subject.
func TestPartitionedStreamsStoreWhereSubjectsSays(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t, nil))
	ctx := context.Background()
	const n = 7
	if err := Ensure(ctx, js, Config{Partitions: n}); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []struct{ stream, prefix string }{
		{subjects.StreamRows, subjects.Rows}, {subjects.StreamValid, subjects.Valid},
		{subjects.StreamUnique, subjects.Unique}, {subjects.StreamOutcomes, subjects.Outcomes},
	} {
		seen := map[int]bool{}
		for i := range 40 {
			tenant, imp := fmt.Sprintf("tenant%d", i%5), fmt.Sprintf("imp_%d", i)
			ack, err := js.Publish(ctx, subjects.For(stage.prefix, tenant, imp), []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			st, _ := js.Stream(ctx, stage.stream)
			m, err := st.GetMsg(ctx, ack.Sequence)
			if err != nil {
				t.Fatal(err)
			}
			if want := subjects.Stored(stage.prefix, tenant, imp, n); m.Subject != want {
				t.Fatalf("%s: stored as %s, subjects.Stored says %s", stage.stream, m.Subject, want)
			}
			if got := subjects.Unpartitioned(m.Subject); got != subjects.For(stage.prefix, tenant, imp) {
				t.Fatalf("Unpartitioned(%s) = %s", m.Subject, got)
			}
			seen[subjects.Partition(stage.prefix, tenant, imp, n)] = true
		}
		if len(seen) < 3 {
			t.Fatalf("%s: 40 imports of 5 tenants fell into %d of %d partitions", stage.stream, len(seen), n)
		}
	}
}

// Every instance must be given the same number of partitions: an instance
// with another one is refused with a clear error, and the streams keep
// their partitioning.
func TestEnsureRefusesOtherPartitions(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t, nil))
	ctx := context.Background()
	if err := Ensure(ctx, js, Config{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ctx, js, Config{Partitions: 4}); err != nil {
		t.Fatalf("same partitions again: %v", err)
	}
	err := Ensure(ctx, js, Config{Partitions: 8})
	if !errors.Is(err, ErrPartitionsChanged) {
		t.Fatalf("other partitions: %v, want ErrPartitionsChanged", err)
	}
	t.Log(err)
	st, _ := js.Stream(ctx, subjects.StreamValid)
	_, want := subjects.PartitionTransform(subjects.Valid, 4)
	if got := st.CachedInfo().Config.SubjectTransform.Destination; got != want {
		t.Fatalf("stream transform now %s, want %s", got, want)
	}
}

// Tenants publish rows, and tenant "3" may publish on intake.rows.3.>: the
// rows stream refuses intake.rows.3.acme.imp_1, which it would otherwise
// keep as it is, where it reads as acme's chunk stored in partition 3.
func TestRowsStreamRefusesPartitionedLookingSubjects(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t, nil))
	ctx := context.Background()
	if err := Ensure(ctx, js, Config{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "intake.rows.3.acme.imp_1", []byte("x")); err == nil {
		t.Fatal("the rows stream stored a message published on intake.rows.3.acme.imp_1")
	}
	if _, err := js.Publish(ctx, subjects.For(subjects.Rows, "acme", "imp_1"), []byte("x")); err != nil {
		t.Fatalf("acme's own subject: %v", err)
	}
}

// A rows stream of an earlier version (unpartitioned, its validator's one
// consumer on the whole stream) is partitioned in place: the rows it holds
// stay and are found with the rows stored since (subjects.Filters), its
// consumer is narrowed to them so that it drains them and never sees a
// partitioned subject, and the longer subjects it took before, which no
// stage ever accepted, are gone.
func TestEnsurePartitionsAnEarlierRowsStream(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t, nil))
	ctx := context.Background()
	old := Configs(Config{})[0]
	old.Subjects, old.SubjectTransform = []string{subjects.All(subjects.Rows)}, nil
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, subjects.StreamRows, jetstream.ConsumerConfig{Durable: "validator", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{subjects.For(subjects.Rows, "acme", "imp_1"), "intake.rows.3.acme.imp_1"} {
		if _, err := js.Publish(ctx, subject, []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	if err := Ensure(ctx, js, Config{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, subjects.For(subjects.Rows, "acme", "imp_1"), []byte("after")); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, subjects.StreamRows, "validator")
	if err != nil {
		t.Fatal(err)
	}
	if f := cons.CachedInfo().Config.FilterSubject; f != subjects.Published(subjects.Rows) {
		t.Fatalf("the earlier consumer filters %q, want %q", f, subjects.Published(subjects.Rows))
	}
	if info, _ := cons.Info(ctx); info.NumPending != 1 {
		t.Fatalf("the earlier consumer has %d messages pending, want the 1 stored before", info.NumPending)
	}
	oc, err := js.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{FilterSubjects: subjects.Filters(subjects.Rows, "acme", "imp_1")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, m.Subject()+" "+string(m.Data()))
	}
	want := []string{"intake.rows.acme.imp_1 before", subjects.Stored(subjects.Rows, "acme", "imp_1", 4) + " after"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("acme's imp_1 reads %q, want %q", got, want)
	}
	st, _ := js.Stream(ctx, subjects.StreamRows)
	if info, _ := st.Info(ctx); info.State.Msgs != 2 {
		t.Fatalf("%d messages kept, want acme's 2 (the one published on intake.rows.3.acme.imp_1 purged)", info.State.Msgs)
	}
}
