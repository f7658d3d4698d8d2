package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/subjects"
)

// BenchmarkDurability measures what the JetStream durability setting costs:
// row chunks published to INTAKE_ROWS the way ingest publishes an upload
// (500-row chunks of about 80 KB, async in windows of 64, each window waited
// for), on file storage, on one server with R1 streams and on a three-node
// cluster on loopback with R3 streams, with the file store's default sync
// (fsync every 2 minutes) and with sync_interval: always (fsync before
// every acknowledgement). The three servers of the cluster run in this
// process and talk over loopback TCP routes, as three processes on one
// machine would. It reports rows/s (and MB/s).
//
//	go test -run '^$' -bench BenchmarkDurability -benchtime 1000x ./pkg/streams
func BenchmarkDurability(b *testing.B) {
	chunk := benchChunk(500)
	for _, replicas := range []int{1, 3} {
		for _, always := range []bool{false, true} {
			sync := "2m"
			if always {
				sync = "always"
			}
			b.Run(fmt.Sprintf("R%d/sync=%s", replicas, sync), func(b *testing.B) {
				urls := natstest.StartCluster(b, replicas, server.Options{SyncAlways: always})
				nc, err := nats.Connect(urls)
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if err := Ensure(ctx, js, Config{Replicas: replicas}); err != nil {
					b.Fatal(err)
				}
				subject := subjects.For(subjects.Rows, "default", "imp_bench")
				b.SetBytes(int64(len(chunk)))
				b.ResetTimer()
				start := time.Now()
				var window []*nats.Msg
				for i := 0; i < b.N; i++ {
					m := nats.NewMsg(subject)
					m.Data = chunk
					m.Header.Set(jetstream.MsgIDHeader, subjects.MsgID("bench", "imp_bench", "rows", i))
					window = append(window, m)
					if len(window) == 64 || i == b.N-1 {
						if err := runner.PublishAll(ctx, js, window, time.Minute); err != nil {
							b.Fatal(err)
						}
						window = window[:0]
					}
				}
				b.ReportMetric(float64(b.N*500)/time.Since(start).Seconds(), "rows/s")
			})
		}
	}
}

// benchChunk is a RowChunk of n contact rows as ingest publishes it.
func benchChunk(n int) []byte {
	ch := envelope.RowChunk{Tenant: "default", Import: "imp_bench", Options: envelope.Options{Schema: "contacts", Mode: envelope.ModeUpsert},
		Header: []string{"name", "email", "phone", "company", "city", "notes"}}
	for i := 0; i < n; i++ {
		ch.Rows = append(ch.Rows, envelope.RawRow{Row: i + 2, Cells: []string{
			fmt.Sprintf("Person Number %d", i), fmt.Sprintf("person.number.%d@example.com", i), fmt.Sprintf("+1 201 555 %04d", i),
			fmt.Sprintf("Company %d Incorporated", i%97), "Springfield", "a note of some forty characters or so....",
		}})
	}
	data, err := json.Marshal(ch)
	if err != nil {
		panic(err)
	}
	return data
}
