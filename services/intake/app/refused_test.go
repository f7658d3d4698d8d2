package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// poisonCell passes validation (a JSON value) and is refused by FerretDB v1,
// which does not store nested arrays (the fault harness's poison value).
const poisonCell = `"{""matrix"": [[1, 2], [3, 4]]}"`

// A row whose value the database refuses fails alone, with the database's
// reason; the other rows of its chunk are written and reported created,
// exactly, even when every chunk is delivered twice (a crash after the
// writes). On the embedded FerretDB (its SQLite fast path) and on FerretDB
// reached over the wire, where the store uses the plain MongoDB insert and
// update. The same for an update the database refuses.
func TestRefusedValueFailsOnlyItsRow(t *testing.T) {
	onBothStorePaths(t, func(t *testing.T, useStore func(*app.Config)) {
		s := startSystem(t, t.TempDir(), func(c *app.Config) {
			useStore(c)
			c.Runner.Crash = func(m runner.Msg) bool { return m.NumDelivered == 1 }
		})
		schemaDoc := `{"name": "contacts", "keys": ["email"], "fields": [{"name": "name", "type": "string"}, {"name": "email", "type": "email"}, {"name": "extra", "type": "json"}]}`
		if status, out := s.call("PUT", "/v1/schemas/contacts", nil, strings.NewReader(schemaDoc), "application/json"); status != 200 {
			t.Fatalf("schema: %d %v", status, out)
		}
		const rows, poisonedRow = 30, 12 // row 12 of the file (the header is row 1)
		v := s.importCSV(poisonedCSV("P", rows, poisonedRow), nil)
		if v.Status != "completed" || v.Created != rows-1 || v.Failed != 1 || v.Total != rows {
			t.Fatalf("summary %s created %d failed %d of %d (%s), want %d created and 1 failed", v.Status, v.Created, v.Failed, v.Total, v.Reason, rows-1)
		}
		var all struct{ Errors []ingest.RowError }
		s.getInto("/v1/imports/"+v.ID+"/errors", &all)
		if len(all.Errors) != 1 || all.Errors[0].Row != poisonedRow ||
			!strings.Contains(all.Errors[0].Message, "the database refused this record") ||
			!strings.Contains(all.Errors[0].Message, "nested arrays are not supported") {
			t.Fatalf("row errors %+v, want row %d refused by the database, saying why", all.Errors, poisonedRow)
		}
		docs := s.records("default", "contacts")
		if len(docs) != rows-1 {
			t.Fatalf("%d records stored, want %d", len(docs), rows-1)
		}
		if _, ok := docs[fmt.Sprintf("email:p%d@x.io", poisonedRow)]; ok {
			t.Fatal("the refused record is stored")
		}

		// An upsert of the same people, renamed, poisoning another row:
		// that update alone fails, the refused record is now created.
		const poisonedUpdate = 20
		u := s.importCSV(poisonedCSV("Q", rows, poisonedUpdate), map[string]string{"mode": "upsert"})
		if u.Status != "completed" || u.Created != 1 || u.Updated != rows-2 || u.Failed != 1 {
			t.Fatalf("upsert %s created %d updated %d failed %d (%s), want 1, %d, 1", u.Status, u.Created, u.Updated, u.Failed, u.Reason, rows-2)
		}
		s.getInto("/v1/imports/"+u.ID+"/errors", &all)
		if len(all.Errors) != 1 || all.Errors[0].Row != poisonedUpdate || !strings.Contains(all.Errors[0].Message, "nested arrays are not supported") {
			t.Fatalf("upsert row errors %+v, want row %d refused by the database", all.Errors, poisonedUpdate)
		}
		docs = s.records("default", "contacts")
		if got := docs[fmt.Sprintf("email:p%d@x.io", poisonedUpdate)]["name"]; got != fmt.Sprintf("P%d", poisonedUpdate) {
			t.Fatalf("the record of the refused update is named %v, want it unchanged", got)
		}
		if got := docs[fmt.Sprintf("email:p%d@x.io", poisonedRow)]["name"]; got != fmt.Sprintf("Q%d", poisonedRow) {
			t.Fatalf("the record refused before is named %v, want created now", got)
		}
	})
}

// poisonedCSV makes rows people (file rows 2 to rows+1) named prefix and
// their row, p<row>@x.io, with a JSON extra that the database stores, but
// poisonCell in file row poisoned.
func poisonedCSV(prefix string, rows, poisoned int) string {
	var csv strings.Builder
	csv.WriteString("name,email,extra\n")
	for i := 2; i < rows+2; i++ {
		extra := `"{""n"": 1}"`
		if i == poisoned {
			extra = poisonCell
		}
		fmt.Fprintf(&csv, "%s%d,p%d@x.io,%s\n", prefix, i, i, extra)
	}
	return csv.String()
}
