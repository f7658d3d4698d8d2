package validator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/runner"
)

// A publisher allowed only on its own tenant's subjects must not reach
// another tenant by naming it in the body.
func TestChunkMustMatchItsSubject(t *testing.T) {
	v := &validator{}
	data, _ := json.Marshal(envelope.RowChunk{Tenant: "globex", Import: "imp_1", Options: envelope.Options{Schema: "contacts"}})
	m := runner.Msg{Subject: "intake.rows.acme.imp_1", Data: data}
	if _, err := v.handle(context.Background(), m); !runner.IsPermanent(err) {
		t.Fatalf("a chunk for globex on acme's subject: %v, want a permanent error", err)
	}
	// Its dead letter is never accounted to globex's import: the import the
	// subject names (the publisher's own) is told that rows could not be read.
	outs := deadLetter(m, "x")
	if len(outs) != 1 || outs[0].Subject != "intake.outcomes.acme.imp_1" {
		t.Fatalf("dead letter outputs %v, want one accounting message on acme's import", outs)
	}
	var acc envelope.Accounting
	if err := json.Unmarshal(outs[0].Data, &acc); err != nil || acc.Kind != envelope.KindUnreadable || acc.Tenant != "acme" || acc.Import != "imp_1" || len(acc.Outcomes) != 0 {
		t.Fatalf("accounting %+v (%v), want acme's imp_1 told its rows could not be read", acc, err)
	}
	if outs := deadLetter(runner.Msg{Subject: "intake.rows.acme", Data: data}, "x"); outs != nil {
		t.Fatalf("a subject naming no import must stay in the dead-letter stream only: %v", outs)
	}
}

// Rows are validated as the import's mapping and the known exports map
// them: a Google Contacts row gets its name composed and the first of its
// E-mail 1 values; a given mapping sends a column to a field or ignores it;
// row numbers are the file's.
func TestValidateMapsColumns(t *testing.T) {
	s := builtinSchema(t, "contacts")
	email := "email"
	ch := &envelope.RowChunk{Tenant: "acme", Import: "imp_1", Options: envelope.Options{Schema: "contacts", Mode: envelope.ModeUpsert,
		Mapping: mapping.Given{"Mail": &email, "Organization Name": nil}},
		Header: []string{"First Name", "Last Name", "E-mail 1 - Label", "E-mail 1 - Value", "Organization Name", "Mail"},
		Rows: []envelope.RawRow{
			{Row: 2, Cells: []string{"Ann", "Smith", "* Home", "ann@home.example ::: ann@other.example", "Example Corp", "ann@mail.example"}},
			{Row: 3, Cells: []string{"Bob", "", "", "", "Other Inc", "bob@mail.example"}},
			{Row: 4, Cells: []string{"ragged"}},
		}}
	// The given mapping names Mail for email, so E-mail 1 - Value (the
	// export's column) does not also feed it.
	recs, outs := Validate(s, ch)
	if len(recs) != 2 || len(outs) != 1 {
		t.Fatalf("records %+v outcomes %+v", recs, outs)
	}
	if recs[0].Row != 2 || recs[0].Fields["name"] != "Ann Smith" || recs[0].Fields["email"] != "ann@mail.example" || recs[0].Fields["company"] != nil {
		t.Errorf("row 2: %+v (Mail is the mapping's email; Organization Name ignored)", recs[0])
	}
	if recs[1].Row != 3 || recs[1].Fields["name"] != "Bob" || recs[1].Fields["email"] != "bob@mail.example" {
		t.Errorf("row 3: %+v", recs[1])
	}
	if outs[0].Row != 4 || outs[0].Result != envelope.Failed || !strings.Contains(outs[0].Problems[0].Message, "row has 1 cells but the header has 6 columns") {
		t.Errorf("ragged row: %+v", outs[0])
	}

	// Without a mapping (and without Mail) the export's own column is the email.
	ch.Options.Mapping = nil
	ch.Header = ch.Header[:5]
	ch.Rows = []envelope.RawRow{{Row: 2, Cells: ch.Rows[0].Cells[:5]}}
	if recs, outs := Validate(s, ch); len(outs) != 0 || recs[0].Fields["email"] != "ann@home.example" || recs[0].Fields["company"] != "Example Corp" {
		t.Errorf("without a mapping: %+v %+v", recs, outs)
	}

	// A mapping naming a column the chunk lacks fails every row with why.
	ch.Options.Mapping = mapping.Given{"Nope": &email}
	if _, outs := Validate(s, ch); len(outs) != 1 || !strings.Contains(outs[0].Problems[0].Message, `the file has no column "Nope"`) {
		t.Errorf("bad mapping: %+v", outs)
	}
}
