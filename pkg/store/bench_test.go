//go:build unix

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/reconcile"
)

// BenchmarkInsertRecords inserts chunks of 1,000 contacts-shaped records,
// stamps included, through the store: on the embedded default (the SQLite
// fast path, with and without the index on the key field the writer
// creates) and over the wire. It is how the cost of the stamp fields and of
// the key index was measured (see records.go, docs/data-model.md).
func BenchmarkInsertRecords(b *testing.B) {
	client, ix := startFerret(b)
	ctx := context.Background()
	for _, path := range []struct {
		name  string
		fast  FastPath
		index bool
	}{{"embedded", ix, false}, {"embedded-key-index", ix, true}, {"wire", nil, false}} {
		b.Run(path.name, func(b *testing.B) {
			s := New(client, "bench_"+strings.ReplaceAll(path.name, "-", "_"), path.fast)
			if path.index {
				if err := s.EnsureRecordIndexes(ctx, "t", "contacts", []string{"email"}); err != nil {
					b.Fatal(err)
				}
			}
			next := 0
			cpu0 := processCPU(b)
			for b.Loop() {
				next++
				recs := make([]NewRecord, 1000)
				for i := range recs {
					email := fmt.Sprintf("p%d.%d@example.com", next, i)
					recs[i] = NewRecord{ID: "email:" + email, Fields: map[string]any{"email": email, "first_name": "Person",
						"last_name": fmt.Sprint(i), "phone": "+4712345678", "company": "Acme", "city": "Oslo"},
						Stamp: reconcile.Stamp{Import: "imp_5q2k8v3m1x", Row: next*1000 + i + 2}}
				}
				if _, err := s.InsertRecords(ctx, "t", "contacts", recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*1000), "us/record")
			// CPU of the whole process (FerretDB runs in it), which other
			// work on a shared machine disturbs less than the wall clock.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N*1000), "cpu-us/record")
		})
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRowNotes stores the notes of chunks of 1,000 rows of a
// re-import where every row is "unchanged" (the worst case: every row is
// noted), as one JSON text and as an array of sub-documents, through
// FerretDB's own insert (import_rows is written by the reporter over the
// wire): as one JSON text (earlier versions), one sub-document per row, and
// grouped by result and problems (what InsertRowDoc stores).
func BenchmarkRowNotes(b *testing.B) {
	client, _ := startFerret(b)
	ctx := context.Background()
	notes := make([]envelope.Outcome, 1000)
	for i := range notes {
		notes[i] = envelope.Outcome{Row: i + 2, Result: envelope.Skipped, Problems: []envelope.Problem{{Message: "unchanged: the record already has these values"}}}
	}
	for _, form := range []string{"text", "array", "grouped"} {
		b.Run(form, func(b *testing.B) {
			c := client.Database("bench_notes").Collection(form)
			n := 0
			b.Cleanup(func() { _ = c.Drop(ctx) })
			cpu0 := processCPU(b)
			for b.Loop() {
				n++
				var doc any
				id := fmt.Sprintf("imp:writer:%d", n)
				if form == "text" {
					text, _ := json.Marshal(notes)
					doc = bson.M{"_id": id, "import": "imp", "tenant": "t", "notes": string(text)}
				} else if form == "grouped" {
					doc = rowDoc{ID: id, Import: "imp", Tenant: "t", Notes: groupNotes(notes)}
				} else {
					doc = struct {
						ID     string             `bson:"_id"`
						Import string             `bson:"import"`
						Tenant string             `bson:"tenant"`
						Rows   []envelope.Outcome `bson:"rows"`
					}{id, "imp", "t", notes}
				}
				if _, err := c.InsertOne(ctx, doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/chunk")
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/chunk")
		})
	}
}
