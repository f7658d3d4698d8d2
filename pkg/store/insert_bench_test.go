package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/intake/intake/pkg/reconcile"
)

// BenchmarkInsertRecords inserts chunks of 1,000 contacts-shaped records,
// stamps included, through the store: on the embedded default (the SQLite
// fast path) and over the wire. It is how the cost of the stamp fields
// was measured (see records.go).
func BenchmarkInsertRecords(b *testing.B) {
	client, ix := startFerret(b)
	ctx := context.Background()
	for _, path := range []struct {
		name string
		fast FastPath
	}{{"embedded", ix}, {"wire", nil}} {
		b.Run(path.name, func(b *testing.B) {
			s := New(client, "bench_"+path.name, path.fast)
			next := 0
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
		})
	}
}
