package streams

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
		{subjects.StreamValid, subjects.Valid}, {subjects.StreamUnique, subjects.Unique}, {subjects.StreamOutcomes, subjects.Outcomes},
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
