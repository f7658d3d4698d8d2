package validator

import (
	"fmt"
	"os"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/schema/schematest"
)

func builtinSchema(tb testing.TB, name string) *schema.Schema {
	tb.Helper()
	return schematest.Load(tb, os.DirFS("../../schemas/entities"), name+".json")
}

// contactsChunk is a chunk of n contacts rows under header (name, email,
// phone, company, in the header's own words).
func contactsChunk(header []string, n int) *envelope.RowChunk {
	ch := &envelope.RowChunk{Tenant: "acme", Import: "imp_1", Options: envelope.Options{Schema: "contacts", Mode: envelope.ModeUpsert}, Header: header}
	for i := range n {
		ch.Rows = append(ch.Rows, envelope.RawRow{Row: i + 2, Cells: []string{
			fmt.Sprintf("Person %d", i), fmt.Sprintf("User.%d@Example.com", i), fmt.Sprintf("+1415555%04d", i%10000), fmt.Sprintf("Company %d", i%97),
		}})
	}
	return ch
}

// BenchmarkValidateChunk measures a chunk of 1,000 contacts rows through
// Validate, the validator's work per message: with the schema's own column
// names, and as an Outlook export (a name composed of two columns, the
// first non-empty of three phone columns).
func BenchmarkValidateChunk(b *testing.B) {
	s := builtinSchema(b, "contacts")
	run := func(ch *envelope.RowChunk) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if recs, outs := Validate(s, ch); len(recs) != 1000 || len(outs) != 0 {
					b.Fatalf("%d records, %d outcomes", len(recs), len(outs))
				}
			}
		}
	}
	b.Run("names", run(contactsChunk([]string{"Name", "E-mail", "Phone", "Company"}, 1000)))
	outlook := &envelope.RowChunk{Tenant: "acme", Import: "imp_1", Options: envelope.Options{Schema: "contacts", Mode: envelope.ModeUpsert},
		Header: []string{"First Name", "Last Name", "E-mail Address", "Mobile Phone", "Business Phone", "Home Phone", "Company"}}
	for i := range 1000 {
		outlook.Rows = append(outlook.Rows, envelope.RawRow{Row: i + 2, Cells: []string{
			"Person", fmt.Sprint(i), fmt.Sprintf("User.%d@Example.com", i), "", fmt.Sprintf("+1415555%04d", i%10000), "", fmt.Sprintf("Company %d", i%97),
		}})
	}
	b.Run("outlook", run(outlook))
}
