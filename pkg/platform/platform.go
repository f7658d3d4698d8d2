// Package platform holds what every service is given to run: its broker
// connection, the store, the schemas and a logger.
package platform

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// Deps are a service's dependencies.
type Deps struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Store   *store.Store
	Schemas *catalog.Catalog
	Log     *zap.Logger
	Metrics *metrics.Metrics
}

// OutcomeOutput builds the accounting message reporting outcomes of one
// stage for one chunk, with its de-duplication ID.
func OutcomeOutput(stage, tenant, importID string, chunk int, outcomes []envelope.Outcome) (runner.Output, error) {
	acc := envelope.Accounting{Kind: envelope.KindOutcomes, Tenant: tenant, Import: importID, Stage: stage, Chunk: chunk, Outcomes: outcomes, At: time.Now().UTC()}
	return JSONOutput(subjects.For(subjects.Outcomes, tenant, importID), subjects.MsgID(tenant, importID, "outcomes-"+stage, chunk), acc)
}

// PassOutputs are what a filtering stage sends for one chunk: the records
// that pass, as a record chunk on next's subject (de-duplicated by chunk
// under name), and the outcomes of the rest; either is left out when empty.
func PassOutputs(stage, next, name string, ch envelope.RecordChunk, outcomes []envelope.Outcome) ([]runner.Output, error) {
	var outs []runner.Output
	if len(ch.Records) > 0 {
		o, err := JSONOutput(subjects.For(next, ch.Tenant, ch.Import), subjects.MsgID(ch.Tenant, ch.Import, name, ch.Chunk), ch)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	if len(outcomes) > 0 {
		o, err := OutcomeOutput(stage, ch.Tenant, ch.Import, ch.Chunk, outcomes)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// JSONOutput marshals v into an output message.
func JSONOutput(subject, msgID string, v any) (runner.Output, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return runner.Output{}, fmt.Errorf("encode %s: %w", subject, err)
	}
	return runner.Output{Subject: subject, MsgID: msgID, Data: data}, nil
}

// RecordDeadLetter reports every record of a chunk a stage gave up on as failed.
func RecordDeadLetter(stage string) func(m runner.Msg, reason string) []runner.Output {
	return func(m runner.Msg, reason string) []runner.Output {
		var ch envelope.RecordChunk
		if err := json.Unmarshal(m.Data, &ch); err != nil || ch.Import == "" {
			return nil // cannot be attributed; it stays in the dead-letter stream
		}
		rows := make([]int, len(ch.Records))
		for i, r := range ch.Records {
			rows[i] = r.Row
		}
		o, err := OutcomeOutput("dead-"+stage, ch.Tenant, ch.Import, ch.Chunk,
			envelope.FailedRows(rows, envelope.CodeDeadLetter, fmt.Sprintf("could not be processed (%s stage): %s", stage, reason)))
		if err != nil {
			return nil
		}
		return []runner.Output{o}
	}
}

// OpenedOutputs are the messages that open an import: the accounting message
// the reporter counts from (acc's tenant, import, options, source,
// replay_of) and the opened event. Uploads, replays and upstream publishers
// all open imports with them.
func OpenedOutputs(acc envelope.Accounting) ([]runner.Output, error) {
	acc.Kind = envelope.KindOpened
	if acc.At.IsZero() {
		acc.At = time.Now().UTC()
	}
	ev := envelope.Event{Type: envelope.EventOpened, Tenant: acc.Tenant, Import: acc.Import, Options: acc.Options, At: acc.At}
	return pair(acc, subjects.MsgID(acc.Tenant, acc.Import, "opened", 0), ev, subjects.EventID(acc.Tenant, acc.Import, "opened"))
}

// SealedOutputs are the messages that seal an import with its row count
// (and why its rows ended early, if they did).
func SealedOutputs(tenant, importID string, total int, reason string) ([]runner.Output, error) {
	at := time.Now().UTC()
	acc := envelope.Accounting{Kind: envelope.KindSealed, Tenant: tenant, Import: importID, Total: &total, Reason: reason, At: at}
	ev := envelope.Event{Type: envelope.EventSealed, Tenant: tenant, Import: importID, Total: &total, Reason: reason, At: at}
	return pair(acc, subjects.MsgID(tenant, importID, "sealed", 0), ev, subjects.EventID(tenant, importID, "sealed"))
}

// pair encodes an accounting message and its lifecycle event.
func pair(acc envelope.Accounting, accID string, ev envelope.Event, evID string) ([]runner.Output, error) {
	a, err := JSONOutput(subjects.For(subjects.Outcomes, acc.Tenant, acc.Import), accID, acc)
	if err != nil {
		return nil, err
	}
	e, err := JSONOutput(subjects.For(subjects.Events, ev.Tenant, ev.Import), evID, ev)
	if err != nil {
		return nil, err
	}
	return []runner.Output{a, e}, nil
}
