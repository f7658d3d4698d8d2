package validator

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

// A tenant's 10-row import, published just after another tenant's large
// one, is validated while the large one's chunks are still waiting: its
// rows are not queued behind the other's backlog in INTAKE_ROWS.
func TestSmallImportIsValidatedBesideAnotherTenantsBacklog(t *testing.T) {
	const n, bigChunks = 4, 300
	_, js := streamstest.Start(t, streams.Config{Partitions: n})
	ctx := context.Background()
	publish := func(tenant, id string, chunk, rows int) {
		ch := contactsChunk([]string{"name", "email", "phone", "company"}, rows)
		ch.Tenant, ch.Import, ch.Chunk = tenant, id, chunk
		data, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subjects.For(subjects.Rows, tenant, id), data); err != nil {
			t.Fatal(err)
		}
	}
	big := "imp_big"
	for c := range bigChunks {
		publish("acme", big, c, 1000)
	}
	small := ""
	for i := 0; small == ""; i++ {
		if id := fmt.Sprintf("imp_small%d", i); subjects.Partition(subjects.Rows, "globex", id, n) != subjects.Partition(subjects.Rows, "acme", big, n) {
			small = id
		}
	}
	publish("globex", small, 0, 10)

	reg := schema.NewRegistry()
	reg.Put(builtinSchema(t, "contacts"))
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, Config{Partitions: partitions.Config{Partitions: n}},
			platform.Deps{JS: js, Schemas: catalog.New(reg, nil), Log: zaptest.NewLogger(t)})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	// Both imports' validated chunks are counted in one reading of the
	// stream, so the count is of the moment the small one was done.
	st, err := js.Stream(ctx, subjects.StreamValid)
	if err != nil {
		t.Fatal(err)
	}
	smallValid := subjects.Stored(subjects.Valid, "globex", small, n)
	bigValid := subjects.Stored(subjects.Valid, "acme", big, n)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subjects.All(subjects.Valid)))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Subjects[smallValid] == 1 {
			if got := info.State.Subjects[bigValid]; got >= bigChunks {
				t.Fatalf("the small import was validated after all %d chunks of the large one, published before it", got)
			} else {
				t.Logf("the small import was validated when %d of the large one's %d chunks were", got, bigChunks)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the small import was not validated within 2 minutes: %v", info.State.Subjects)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
