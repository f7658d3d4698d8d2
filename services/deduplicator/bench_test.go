package deduplicator

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
)

// BenchmarkDedupChunk is the deduplicator's cost for a chunk of 1,000 new
// contacts on the embedded FerretDB: with one key field (claims only);
// with two while records are created under one (the fast path: the
// key-use marker read, no index); and with two once the index is kept
// (the handle index read, the phone of every row inserted). It is the cost
// identity through any key field adds on the insert path.
func BenchmarkDedupChunk(b *testing.B) {
	variants := []string{"one key field", "two key fields, one in use", "two key fields, index kept"}
	for _, keys := range variants {
		b.Run(keys, func(b *testing.B) {
			st := newStore(b)
			s, reg := contacts(b)
			d := &dedup{store: st, schemas: catalog.New(reg, nil), tables: newTables()}
			if keys == "two key fields, index kept" {
				if err := st.AddKeyUse(context.Background(), "t", "contacts", store.KeyUse{Indexed: s.Keys}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for n := range b.N {
				rows := newContacts(b, n, 1000)
				if keys == "one key field" {
					for i := range rows {
						rows[i].Handles = nil
					}
				}
				if _, err := d.handle(context.Background(), runner.Msg{Data: contactsChunk("t", "imp", n+1, "email", rows)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/chunk")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/chunk")
		})
	}
}

// BenchmarkFirstChunkBySecondKey is what starting the handle index costs:
// 100,000 contacts stored under email (as the writer stores them after the
// fast path), then the first chunk of an import by phone (10 rows), which
// writes the marker, backfills every stored record's phone and decides its
// rows through the index; on the embedded FerretDB and over the wire (reading
// by _id one at a time, as intake reads a FerretDB, which keeps its _id
// indexes as `intake ferretdb` does).
func BenchmarkFirstChunkBySecondKey(b *testing.B) {
	const stored = 100_000
	for _, path := range []string{"embedded", "wire"} {
		b.Run(path, func(b *testing.B) {
			st := newStore(b)
			if path == "wire" { // as intake reads a FerretDB over the wire, which indexes _id as `intake ferretdb` does
				f, client := ferrettest.Start(b, "")
				st = store.New(client, "intake", store.IDLookups{})
				go f.KeepIndexing(b.Context(), embedded.IndexPeriod, func(err error) { b.Error(err) })
			}
			s, reg := contacts(b)
			ctx := context.Background()
			for n := range b.N {
				tenant := fmt.Sprintf("t%d", n)
				b.StopTimer()
				for start := 0; start < stored; start += 1000 {
					var recs []store.NewRecord
					for _, r := range newContacts(b, start/1000, 1000) {
						recs = append(recs, store.NewRecord{ID: r.Key, Fields: r.Fields})
					}
					if _, err := st.InsertRecords(ctx, tenant, "contacts", recs); err != nil {
						b.Fatal(err)
					}
				}
				if err := st.AddKeyUse(ctx, tenant, "contacts", store.KeyUse{Used: []string{"email"}}); err != nil {
					b.Fatal(err)
				}
				d := &dedup{store: st, schemas: catalog.New(reg, nil), tables: newTables()}
				var rows []envelope.Record
				for i := range 10 {
					f := map[string]any{"phone": fmt.Sprintf("+1201%07d", i*997)}
					rows = append(rows, envelope.Record{Row: i + 2, Key: "phone:" + f["phone"].(string), Fields: f, Handles: s.KeyHandles("phone", f)})
				}
				data := contactsChunk(tenant, "imp", 1, "phone", rows)
				b.StartTimer()
				outs, err := d.handle(ctx, runner.Msg{Data: data})
				if err != nil {
					b.Fatal(err)
				}
				var ch envelope.RecordChunk
				if err := json.Unmarshal(outs[0].Data, &ch); err != nil || len(ch.Records) != 10 || ch.Records[0].Key != "email:p0-0@x.io" {
					b.Fatalf("first chunk by phone: %+v %v", ch.Records, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/transition")
		})
	}
}

// newContacts are n new contacts of chunk c (each with an email and a
// phone of its own), keyed by email as the validator makes them.
func newContacts(b *testing.B, c, n int) []envelope.Record {
	s, _ := contacts(b)
	rows := make([]envelope.Record, n)
	for i := range rows {
		f := map[string]any{"email": fmt.Sprintf("p%d-%d@x.io", c, i), "phone": fmt.Sprintf("+1201%07d", c*1000+i)}
		rows[i] = envelope.Record{Row: c*1000 + i + 2, Key: "email:" + f["email"].(string), Fields: f, Handles: s.KeyHandles("email", f)}
	}
	return rows
}

// contactsChunk is a chunk of contacts rows of a tenant in upsert mode.
func contactsChunk(tenant, importID string, chunk int, key string, rows []envelope.Record) []byte {
	data, _ := json.Marshal(envelope.RecordChunk{Tenant: tenant, Import: importID, Chunk: chunk,
		Options: envelope.Options{Schema: "contacts", Key: key, Mode: envelope.ModeUpsert}, Records: rows})
	return data
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
