// Package subjects names the JetStream streams and subjects of the pipeline.
//
// Every subject carries tenant and import: intake.<stage>.<tenant>.<import>.
package subjects

import (
	"fmt"
	"hash/fnv"
	"strconv"
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
	StreamUndo     = "INTAKE_UNDO"
	// StreamJobs holds the work that runs beside the pipeline, outside
	// its ordered handlers: replace mode's deletions a batch at a time,
	// dropping finished imports' claim logs.
	StreamJobs = "INTAKE_JOBS"
)

// Stage prefixes.
const (
	Rows     = "intake.rows"
	Valid    = "intake.valid"
	Unique   = "intake.unique"
	Outcomes = "intake.outcomes"
	Events   = "intake.events"
	Dead     = "intake.dead"
	Undo     = "intake.undo" // intake.undo.<tenant>.<undo id>: undo jobs to run
	Jobs     = "intake.jobs"
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

// Partitioned streams (every stage's: INTAKE_ROWS, INTAKE_VALID,
// INTAKE_UNIQUE, INTAKE_OUTCOMES) store a message published on
// intake.<stage>.<tenant>.<import> under
// intake.<stage>.<partition>.<tenant>.<import>: a subject transform of the
// stream adds the partition, so publishers and permissions see the
// unpartitioned subject. One durable consumer per partition gives each
// scope one partition, and different scopes parallelism.
//
// The scope is the tenant for INTAKE_VALID (the deduplicator decides who
// owns a handle per tenant and schema, so one tenant's imports are
// de-duplicated one chunk at a time) and the import elsewhere (the reporter
// accounts per import; the validator and the writer have no order to keep).

// byTenant reports whether stage is partitioned by tenant alone.
func byTenant(stage string) bool { return stage == Valid }

// PartitionTransform is the stream subject transform's source and
// destination for a stage split into n partitions: NATS's
// {{partition(n,1)}} of the tenant or {{partition(n,1,2)}} of tenant and
// import (Partition computes the same).
func PartitionTransform(stage string, n int) (source, destination string) {
	tokens := "1,2"
	if byTenant(stage) {
		tokens = "1"
	}
	return stage + ".*.*", fmt.Sprintf("%s.{{partition(%d,%s)}}.{{wildcard(1)}}.{{wildcard(2)}}", stage, n, tokens)
}

// PartitionsOf reads n back from a PartitionTransform destination; 0 for
// a destination without {{partition(n,...)}}.
func PartitionsOf(destination string) int {
	_, rest, found := strings.Cut(destination, "{{partition(")
	if !found {
		return 0
	}
	n, _, _ := strings.Cut(rest, ",")
	v, err := strconv.Atoi(n)
	if err != nil {
		return 0
	}
	return v
}

// Partition is the partition a stage's stream split into n partitions
// stores an import's messages in: as nats-server computes
// {{partition(n,...)}}, FNV-1a (32 bits) of the tokens written one after
// the other, modulo n (a test checks they agree).
func Partition(stage, tenant, importID string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	if !byTenant(stage) {
		_, _ = h.Write([]byte(importID))
	}
	return int(h.Sum32() % uint32(n))
}

// PartitionFilter is the filter subject of partition p's consumer.
func PartitionFilter(stage string, p int) string {
	return fmt.Sprintf("%s.%d.*.*", stage, p)
}

// Stored is the subject a partitioned stream stores an import's messages
// under, for readers that look messages up by subject.
func Stored(stage, tenant, importID string, partitions int) string {
	return fmt.Sprintf("%s.%d.%s.%s", stage, Partition(stage, tenant, importID, partitions), tenant, importID)
}

// Published is the subjects a partitioned stream takes: exactly
// intake.<stage>.<tenant>.<import>, the transform's source. A stream that
// took longer subjects would store one published on
// intake.<stage>.<p>.<tenant>.<import> as it is, and a tenant named <p>
// could pass its message off as another tenant's.
func Published(stage string) string { return stage + ".*.*" }

// Filters are the filter subjects that find an import's messages (importID
// "*": a tenant's) in a partitioned stream, whatever its number of
// partitions: stored partitioned, and stored before the stream was
// partitioned (an earlier version's). A wildcard for the partition is
// exact: the stream takes only Published subjects, so every five-token
// subject in it is the transform's.
func Filters(stage, tenant, importID string) []string {
	return []string{For(stage, tenant, importID), fmt.Sprintf("%s.*.%s.%s", stage, tenant, importID)}
}

// Unpartitioned returns the subject a message was published on:
// intake.<stage>.<tenant>.<import> for intake.<stage>.<p>.<tenant>.<import>
// as a partitioned stream stores it; any other subject as it is. Tenant
// and import are single tokens, so five tokens are a partitioned subject.
func Unpartitioned(subject string) string {
	tok := strings.Split(subject, ".")
	if len(tok) != 5 || tok[0] != "intake" {
		return subject
	}
	if _, err := strconv.Atoi(tok[2]); err != nil {
		return subject
	}
	return strings.Join(append(tok[:2:2], tok[3:]...), ".")
}
