package partitions

import (
	"context"
	"fmt"
	"testing"

	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

// A new import gets a partition without another import's backlog in the
// writer's stream while there is one; with every partition busy it still
// gets an ID.
func TestNewImportAvoidsPartitionsWithABacklog(t *testing.T) {
	const n = 4
	_, js := streamstest.Start(t, streams.Config{Partitions: n})
	ctx := context.Background()
	// No writer runs: what is published stays, a backlog.
	if _, err := js.Publish(ctx, subjects.For(subjects.Unique, "acme", "imp_big"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	busy := subjects.Partition(subjects.Unique, "acme", "imp_big", n)
	for range 50 {
		id := NewImport(ctx, js, "globex")
		if p := subjects.Partition(subjects.Unique, "globex", id, n); p == busy {
			t.Fatalf("import %s got partition %d, which holds acme's backlog", id, p)
		}
	}
	for i := range 40 {
		if _, err := js.Publish(ctx, subjects.For(subjects.Unique, "acme", fmt.Sprintf("imp_%d", i)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if b, _, err := backlog(ctx, js, subjects.StreamUnique); err != nil || len(b) != n {
		t.Fatalf("busy partitions %v (%v), want all %d", b, err, n)
	}
	if id := NewImport(ctx, js, "globex"); id == "" {
		t.Fatal("no import ID with every partition busy")
	}
}
