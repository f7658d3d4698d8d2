//go:build unix

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/envelope"
)

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
