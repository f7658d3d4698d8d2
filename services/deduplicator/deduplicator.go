// Package deduplicator is the stage that finds rows repeating a key already
// seen earlier in the same import. The first row with a key goes on to the
// writer; later ones are skipped as duplicates of it.
//
// Claims are held in memory and persisted as a log, one database document
// per chunk (not one per row: on FerretDB an insert per row cost as much as
// writing the records themselves). The consumer has MaxAckPending 1, so one
// chunk is de-duplicated at a time across all instances; before each chunk
// an instance reads the log entries it has not seen (one read by _id when
// there are none), so any number of instances, a fail-over, and a
// redelivered chunk all agree. If two instances ever append the same entry
// (a chunk redelivered while its first handler was still running), the
// second finds it taken, reads the log again and redoes its chunk.
package deduplicator

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

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
	cons, err := streams.EnsureConsumer(ctx, d.JS, streams.Consumer{Stream: subjects.StreamValid, Durable: Durable, MaxAckPending: 1, AckWait: cfg.Runner.AckWait})
	if err != nil {
		return err
	}
	rc := cfg.Runner
	rc.Name = envelope.StageDedup
	rc.DeadLetter = platform.RecordDeadLetter(envelope.StageDedup)
	dd := &dedup{store: d.Store, tables: newTables()}
	return runner.New(d.JS, cons, rc, dd.handle, d.Log).Run(ctx)
}

type dedup struct {
	store  *store.Store
	tables *tables
}

// appendAttempts bounds how often a chunk is redone after losing a race for
// a log entry before the runner retries it later.
const appendAttempts = 5

func (d *dedup) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var ch envelope.RecordChunk
	if err := json.Unmarshal(m.Data, &ch); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed record chunk: %w", err))
	}
	holders, err := d.claim(ctx, &ch)
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

// claim returns, for every record of the chunk, the row that holds its key:
// the row itself when it is the first, else the earlier row.
func (d *dedup) claim(ctx context.Context, ch *envelope.RecordChunk) ([]int, error) {
	t := d.tables.get(ch.Import)
	keys := make([]string, len(ch.Records))
	rows := make([]int, len(ch.Records))
	for i, r := range ch.Records {
		keys[i], rows[i] = r.Key, r.Row
	}
	for attempt := 0; attempt < appendAttempts; attempt++ {
		entries, err := d.store.ReadClaims(ctx, ch.Import, t.next)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			t.apply(e)
		}
		holders, fresh := t.resolve(keys, rows)
		if len(fresh.Keys) == 0 {
			return holders, nil
		}
		fresh.Seq, fresh.Chunk = t.next, ch.Chunk
		taken, err := d.store.AppendClaims(ctx, ch.Import, fresh)
		if err != nil {
			return nil, err
		}
		if !taken {
			t.apply(fresh)
			return holders, nil
		}
	}
	return nil, fmt.Errorf("claims of import %s: lost the race for the next log entry %d times", ch.Import, appendAttempts)
}

// keyHash stands for a key in memory: 128 bits of two seeded hashes, so a
// million-row import's claims take tens of megabytes, not hundreds. A
// collision is as unlikely as a random 128-bit match.
type keyHash [2]uint64

// tables are the claim tables of the imports this instance has seen.
type tables struct {
	seeds [2]maphash.Seed
	byID  map[string]*table
}

// idleAfter is how long an import's table is kept without use; a later
// chunk reads the whole log again.
const idleAfter = 10 * time.Minute

func newTables() *tables {
	return &tables{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, byID: map[string]*table{}}
}

func (ts *tables) get(importID string) *table {
	now := time.Now()
	t, ok := ts.byID[importID]
	if !ok {
		for id, old := range ts.byID {
			if now.Sub(old.used) > idleAfter {
				delete(ts.byID, id)
			}
		}
		t = &table{seeds: ts.seeds, holder: map[keyHash]int{}, next: 1}
		ts.byID[importID] = t
	}
	t.used = now
	return t
}

// table is one import's claims: key -> the row that holds it, as of log
// entry next-1.
type table struct {
	seeds  [2]maphash.Seed
	holder map[keyHash]int
	next   int
	used   time.Time
}

func (t *table) hash(key string) keyHash {
	return keyHash{maphash.String(t.seeds[0], key), maphash.String(t.seeds[1], key)}
}

// apply adds a log entry's claims.
func (t *table) apply(e store.ClaimEntry) {
	for i, k := range e.Keys {
		h := t.hash(k)
		if _, ok := t.holder[h]; !ok {
			t.holder[h] = e.Rows[i]
		}
	}
	t.next = e.Seq + 1
}

// resolve finds each row's holder without changing the table, and returns
// the claims that are new (to be logged, then applied).
func (t *table) resolve(keys []string, rows []int) (holders []int, fresh store.ClaimEntry) {
	holders = make([]int, len(keys))
	inChunk := map[keyHash]int{}
	for i, k := range keys {
		h := t.hash(k)
		if row, ok := t.holder[h]; ok {
			holders[i] = row
			continue
		}
		if row, ok := inChunk[h]; ok {
			holders[i] = row
			continue
		}
		inChunk[h] = rows[i]
		holders[i] = rows[i]
		fresh.Keys = append(fresh.Keys, k)
		fresh.Rows = append(fresh.Rows, rows[i])
	}
	return holders, fresh
}
