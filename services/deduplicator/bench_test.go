package deduplicator

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/runner"
)

// BenchmarkDedupChunk is the deduplicator's cost for a chunk of 1,000 new
// contacts on the embedded FerretDB: with one key field (claims only), and
// with two (the handle index read, its two new handles per row inserted).
// It is the cost identity through any key field adds on the insert path.
func BenchmarkDedupChunk(b *testing.B) {
	for _, keys := range []string{"one key field", "two key fields"} {
		b.Run(keys, func(b *testing.B) {
			st := newStore(b)
			s, reg := contacts(b)
			d := &dedup{store: st, schemas: catalog.New(reg, nil), tables: newTables()}
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for n := range b.N {
				ch := envelope.RecordChunk{Tenant: "t", Import: "imp", Chunk: n + 1,
					Options: envelope.Options{Schema: "contacts", Key: "email", Mode: envelope.ModeUpsert}}
				for i := range 1000 {
					f := map[string]any{"email": fmt.Sprintf("p%d-%d@x.io", n, i), "phone": fmt.Sprintf("+1201%07d", n*1000+i)}
					r := envelope.Record{Row: n*1000 + i + 2, Key: "email:" + f["email"].(string), Fields: f}
					if keys == "two key fields" {
						r.Handles = s.KeyHandles("email", f)
					}
					ch.Records = append(ch.Records, r)
				}
				data, _ := json.Marshal(ch)
				if _, err := d.handle(context.Background(), runner.Msg{Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/chunk")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/chunk")
		})
	}
}

// cpuTime is the CPU time (user and system) of this process: on a shared
// machine a steadier measure than the time that passed.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
