// Package subjects names the JetStream streams and subjects of the pipeline.
//
// Every subject carries tenant and import: intake.<stage>.<tenant>.<import>.
package subjects

import "fmt"

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

// All returns the wildcard subject of a stage.
func All(stage string) string { return stage + ".>" }

// DeadFor is the dead-letter subject for a message that stage gave up on.
// The original subject follows so that the message can be attributed.
func DeadFor(stage, original string) string {
	return fmt.Sprintf("%s.%s.%s", Dead, stage, original)
}

// MsgID is the Nats-Msg-Id of a published chunk: <import>:<stage>:<chunk>.
func MsgID(importID, stage string, chunk int) string {
	return fmt.Sprintf("%s:%s:%d", importID, stage, chunk)
}
