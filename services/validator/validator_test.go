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
	if outs := deadLetter(m, "x"); outs != nil {
		t.Fatalf("its dead letter must not be accounted to globex's import: %v", outs)
	}
}
