// Package subjects names the JetStream streams and subjects of the pipeline.
//
// Every subject carries tenant and import: intake.<stage>.<tenant>.<import>.
package subjects

import (
	"fmt"
	"strings"
)

// Stream names.
const (
	StreamRows     = "INTAKE_ROWS"
	StreamValid    = "INTAKE_VALID"
	StreamUnique   = "INTAKE_UNIQUE"
	StreamOutcomes = "INTAKE_OUTCOMES"
	StreamEvents   = "INTAKE_EVENTS"
	StreamDead     = "INTAKE_DEAD"
)

// Stage prefixes.
const (
	Rows     = "intake.rows"
	Valid    = "intake.valid"
	Unique   = "intake.unique"
	Outcomes = "intake.outcomes"
	Events   = "intake.events"
	Dead     = "intake.dead"
)

// For returns the subject of a stage for one import.
func For(stage, tenant, importID string) string {
	return fmt.Sprintf("%s.%s.%s", stage, tenant, importID)
}

// ImportOf reads the tenant and import of subject, a stage's subject for
// one import (For); ok is false for any other subject.
func ImportOf(stage, subject string) (tenant, importID string, ok bool) {
	rest, found := strings.CutPrefix(subject, stage+".")
	if !found {
		return "", "", false
	}
	tenant, importID, found = strings.Cut(rest, ".")
	if !found || tenant == "" || importID == "" || strings.Contains(importID, ".") {
		return "", "", false
	}
	return tenant, importID, true
}

// All returns the wildcard subject of a stage.
func All(stage string) string { return stage + ".>" }

// DeadFor is the dead-letter subject for a message that stage gave up on.
// The original subject follows so that the message can be attributed.
func DeadFor(stage, original string) string {
	return fmt.Sprintf("%s.%s.%s", Dead, stage, original)
}

// MsgID is the Nats-Msg-Id of a message Intake publishes for a chunk:
// <tenant>.<import>:<stage>:<chunk>. JetStream de-duplicates by message ID
// across a whole stream, so the ID carries the tenant: an import ID alone
// would let one tenant's messages stand for another's.
func MsgID(tenant, importID, stage string, chunk int) string {
	return fmt.Sprintf("%s.%s:%s:%d", tenant, importID, stage, chunk)
}

// EventID is the Nats-Msg-Id of an import's lifecycle event:
// <tenant>.<import>:<event>.
func EventID(tenant, importID, event string) string {
	return fmt.Sprintf("%s.%s:%s", tenant, importID, event)
}

// RowsMsgID is the Nats-Msg-Id of a chunk of rows: <prefix>:<chunk>, where
// prefix is the import's RowsPrefix. Rows are the one stream that tenants
// publish to themselves, and a message ID is a header any publisher can
// set, so the prefix holds a secret only the import's own publisher knows:
// no other tenant, even knowing the import ID, can publish a chunk that
// JetStream would take for one of the import's and drop the real one.
func RowsMsgID(prefix string, chunk int) string {
	return fmt.Sprintf("%s:%d", prefix, chunk)
}

// RowsPrefix is the rows message-ID prefix of an import:
// <tenant>.<import>.<secret>:rows.
func RowsPrefix(tenant, importID, secret string) string {
	return fmt.Sprintf("%s.%s.%s:rows", tenant, importID, secret)
}
