package validator

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/intake/intake/pkg/envelope"
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
