// Package deduplicator is the stage that finds rows repeating a key already
// seen earlier in the same import. The first row with a key goes on to the
// writer; later ones are skipped as duplicates of it. Claims are kept in the
// database, so any number of instances and any redelivery agree.
package deduplicator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// Durable is the consumer name shared by all deduplicator instances.
const Durable = "deduplicator"

// Config tunes the deduplicator.
type Config struct {
	Runner runner.Config
}

// Run consumes valid record chunks until ctx ends.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	cons, err := streams.EnsureConsumer(ctx, d.JS, streams.Consumer{Stream: subjects.StreamValid, Durable: Durable, AckWait: cfg.Runner.AckWait})
	if err != nil {
		return err
	}
	rc := cfg.Runner
	rc.Name = envelope.StageDedup
	rc.DeadLetter = platform.RecordDeadLetter(envelope.StageDedup)
	dd := &dedup{store: d.Store}
	return runner.New(d.JS, cons, rc, dd.handle, d.Log).Run(ctx)
}

type dedup struct {
	store *store.Store
}

func (d *dedup) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var ch envelope.RecordChunk
	if err := json.Unmarshal(m.Data, &ch); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed record chunk: %w", err))
	}
	keys := make([]string, len(ch.Records))
	rows := make([]int, len(ch.Records))
	for i, r := range ch.Records {
		keys[i], rows[i] = r.Key, r.Row
	}
	holders, err := d.store.Claim(ctx, ch.Import, keys, rows)
	if err != nil {
		return nil, err
	}
	var (
		unique   []envelope.Record
		outcomes []envelope.Outcome
	)
	for i, r := range ch.Records {
		if holders[i] == r.Row {
			unique = append(unique, r)
			continue
		}
		field, value, _ := strings.Cut(r.Key, ":")
		outcomes = append(outcomes, envelope.Outcome{Row: r.Row, Result: envelope.Skipped, Problems: []envelope.Problem{{
			Field: field, Message: fmt.Sprintf("duplicate of row %d (same %s %s)", holders[i], field, value),
		}}})
	}
	var outs []runner.Output
	if len(unique) > 0 {
		out := envelope.RecordChunk{Tenant: ch.Tenant, Import: ch.Import, Chunk: ch.Chunk, Options: ch.Options, Records: unique}
		o, err := platform.JSONOutput(subjects.For(subjects.Unique, ch.Tenant, ch.Import), subjects.MsgID(ch.Import, "unique", ch.Chunk), out)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	if len(outcomes) > 0 {
		o, err := platform.OutcomeOutput(envelope.StageDedup, ch.Tenant, ch.Import, ch.Chunk, outcomes)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}
