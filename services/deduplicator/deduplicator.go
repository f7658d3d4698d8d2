// Package deduplicator is the stage that finds rows repeating a key already
// seen earlier in the same import. The first row with a key goes on to the
// writer; later ones are skipped as duplicates of it.
//
// Claims are held in memory, per tenant and import, and persisted as a log,
// one database document per chunk (not one per row: on FerretDB an insert
// per row cost as much as writing the records themselves). INTAKE_VALID is
// partitioned by tenant, with one consumer per partition (MaxAckPending 1,
// pinned to one instance at a time: pkg/partitions), so one tenant's chunks
// are de-duplicated one at a time while other tenants' run in parallel, and
// an instance holds tables only of the imports of partitions it handles
// (a table not used for idleAfter is dropped). An instance appends the
// next log entry without reading the log first; entries are numbered
// without gaps and an entry is an insert by its number, so the append
// succeeds only if its table already holds every earlier entry: two
// instances briefly on one partition (a fail-over) can never both claim a
// key. When the number is taken (another instance, a fail-over, or the
// chunk's earlier delivery wrote it), it reads the entries it has not seen
// and redoes the chunk, so they all agree.
package deduplicator

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// Durable is the consumer name shared by all deduplicator instances.
const Durable = "deduplicator"

// Config tunes the deduplicator.
type Config = partitions.StageConfig

// Run consumes valid record chunks until ctx ends.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	dd := &dedup{store: d.Store, tables: newTables()}
	st := partitions.Stage{Stream: subjects.StreamValid, Subject: subjects.Valid, Durable: Durable, MaxAckPending: 1}
	return partitions.RunStage(ctx, d.JS, st, cfg, partitions.Handling{Name: envelope.StageDedup, Handler: dd.handle,
		DeadLetter: platform.RecordDeadLetter(envelope.StageDedup)}, d.Log)
}

// Store is what the deduplicator needs of the store: an import's claim log
// (appended to, read from an entry on) and, for imports matched on any
// handle, the records owning each handle.
type Store interface {
	AppendClaims(ctx context.Context, tenant, importID string, e store.ClaimEntry) (taken bool, err error)
	ReadClaims(ctx context.Context, tenant, importID string, from int) ([]store.ClaimEntry, error)
	HandleOwners(ctx context.Context, tenant, schema string, handles []string) (map[string]string, error)
	AddHandles(ctx context.Context, tenant, schema string, hs []store.Handle) (taken map[int]bool, err error)
}

type dedup struct {
	store  Store
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
		if o, dup := duplicate(r, keysOf(r), holders[i]); dup {
			outcomes = append(outcomes, o)
			continue
		}
		unique = append(unique, r)
	}
	unique, conflicts, err := d.identify(ctx, &ch, unique)
	if err != nil {
		return nil, err
	}
	outcomes = append(outcomes, conflicts...)
	out := envelope.RecordChunk{Tenant: ch.Tenant, Import: ch.Import, Chunk: ch.Chunk, Options: ch.Options, Records: unique}
	return platform.PassOutputs(envelope.StageDedup, subjects.Unique, "unique", out, outcomes)
}

// keysOf are the keys a record claims: its handles when the import matches
// on any handle, else its one key.
func keysOf(r envelope.Record) []string {
	if len(r.Handles) > 0 {
		return r.Handles
	}
	return []string{r.Key}
}

// duplicate decides a row from the holders of its keys: the row goes on if
// it holds them all; it is skipped as a duplicate if one earlier row holds
// them all; it fails as a conflict if it shares only some handles with
// another row (the later of two rows claiming a handle is the one reported).
func duplicate(r envelope.Record, keys []string, holders []int) (envelope.Outcome, bool) {
	other, conflictAt, same := 0, -1, true
	for i, h := range holders {
		switch {
		case h == r.Row:
			same = false
		case other == 0:
			other, conflictAt = h, i
		case h != other:
			same = false
		}
	}
	if other == 0 {
		return envelope.Outcome{}, false
	}
	field, value, _ := strings.Cut(keys[conflictAt], ":")
	if same {
		return envelope.Outcome{Row: r.Row, Result: envelope.Skipped, Problems: []envelope.Problem{{
			Field: field, Code: envelope.CodeDuplicate, Message: fmt.Sprintf("duplicate of row %d (same %s %s)", other, field, value),
		}}}, true
	}
	return envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{
		Field: field, Code: envelope.CodeConflict, Message: fmt.Sprintf("conflict: %s %s is also in row %d, with other handles", field, value, other),
	}}}, true
}

// identify matches each row of a match-any import to the record owning
// any of its handles (or a new one identified by its first handle), sets
// the row's Key to that record, and records its new handles as that
// record's. Rows whose handles belong to two records fail. One tenant's
// chunks are de-duplicated one at a time (INTAKE_VALID is partitioned by
// tenant), so handle ownership is decided in one place, and adding a
// handle is an insert that fails if it is taken: two imports can never
// give one handle to two records.
func (d *dedup) identify(ctx context.Context, ch *envelope.RecordChunk, recs []envelope.Record) ([]envelope.Record, []envelope.Outcome, error) {
	var handles []string
	for _, r := range recs {
		handles = append(handles, r.Handles...)
	}
	if len(handles) == 0 {
		return recs, nil, nil
	}
	owners, err := d.store.HandleOwners(ctx, ch.Tenant, ch.Options.Schema, handles)
	if err != nil {
		return nil, nil, err
	}
	var (
		kept      []envelope.Record
		conflicts []envelope.Outcome
		add       []store.Handle
	)
	for _, r := range recs {
		if len(r.Handles) == 0 {
			kept = append(kept, r)
			continue
		}
		id, unowned, conflict := reconcile.Identity(r.Handles, owners)
		if conflict != "" {
			conflicts = append(conflicts, envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeConflict, Message: conflict}}})
			continue
		}
		r.Key = id
		kept = append(kept, r)
		for _, h := range unowned {
			add = append(add, store.Handle{ID: h, Record: id, Stamp: reconcile.Stamp{Import: ch.Import, Row: r.Row}})
		}
	}
	if ch.Options.DryRun || len(add) == 0 {
		return kept, conflicts, nil // a dry run records nothing
	}
	taken, err := d.store.AddHandles(ctx, ch.Tenant, ch.Options.Schema, add)
	if err != nil {
		return nil, nil, err
	}
	if len(taken) > 0 {
		// Only this stage adds handles, one chunk at a time, and it read them
		// just now: a taken handle means another instance is working on the
		// same chunk. Check that it decided the same; if not, start over.
		var ids []string
		for i := range taken {
			ids = append(ids, add[i].ID)
		}
		now, err := d.store.HandleOwners(ctx, ch.Tenant, ch.Options.Schema, ids)
		if err != nil {
			return nil, nil, err
		}
		for i := range taken {
			if now[add[i].ID] != add[i].Record {
				return nil, nil, fmt.Errorf("handle %s was given to record %s while this chunk gave it to %s; redoing the chunk", add[i].ID, now[add[i].ID], add[i].Record)
			}
		}
	}
	return kept, conflicts, nil
}

// claim returns, for every record of the chunk, the rows that hold its
// keys: the row itself for a key it is the first to have, else the
// earlier row.
func (d *dedup) claim(ctx context.Context, ch *envelope.RecordChunk) ([][]int, error) {
	t := d.tables.get(ids.Scoped(ch.Tenant, ch.Import))
	keys := make([][]string, len(ch.Records))
	rows := make([]int, len(ch.Records))
	for i, r := range ch.Records {
		keys[i], rows[i] = keysOf(r), r.Row
	}
	// The log is read only after losing the race for its next entry. The
	// entries are numbered without gaps, so writing entry t.next succeeds
	// only if the table already holds every entry before it; and a chunk
	// whose keys the table already holds needs no entry, as a key's first
	// claim never changes. (Reading before every chunk cost a database round
	// trip in the one-chunk-at-a-time path, measured.)
	for attempt := 0; attempt < appendAttempts; attempt++ {
		holders, fresh := t.resolve(keys, rows)
		if len(fresh.Keys) == 0 {
			return holders, nil
		}
		fresh.Seq, fresh.Chunk = t.next, ch.Chunk
		taken, err := d.store.AppendClaims(ctx, ch.Tenant, ch.Import, fresh)
		if err != nil {
			return nil, err
		}
		if !taken {
			t.apply(fresh)
			return holders, nil
		}
		// Another instance, or this chunk's earlier delivery, wrote it.
		entries, err := d.store.ReadClaims(ctx, ch.Tenant, ch.Import, t.next)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			t.apply(e)
		}
	}
	return nil, fmt.Errorf("claims of import %s: lost the race for the next log entry %d times", ch.Import, appendAttempts)
}

// keyHash stands for a key in memory: 128 bits of two seeded hashes, so a
// million-row import's claims take tens of megabytes, not hundreds. A
// collision is as unlikely as a random 128-bit match.
type keyHash [2]uint64

// tables are the claim tables of the imports this instance has seen, by
// ids.Scoped(tenant, import). Partitions are handled concurrently; one
// import's table is used by one chunk at a time.
type tables struct {
	seeds [2]maphash.Seed
	mu    sync.Mutex
	byID  map[string]*table
}

// idleAfter is how long an import's table is kept without use. An active
// import's chunks come seconds apart; a finished import's table (about 25
// MB for a million rows: claimTable) must not linger. A chunk that comes later
// reads the whole log again.
const idleAfter = 20 * time.Second

func newTables() *tables {
	return &tables{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, byID: map[string]*table{}}
}

func (ts *tables) get(scoped string) *table {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := time.Now()
	for id, old := range ts.byID {
		if id != scoped && now.Sub(old.used) > idleAfter {
			delete(ts.byID, id)
		}
	}
	t, ok := ts.byID[scoped]
	if !ok {
		t = &table{seeds: ts.seeds, claims: newClaimTable(), next: 1}
		ts.byID[scoped] = t
	}
	t.used = now
	return t
}

// table is one import's claims: key -> the row that holds it, as of log
// entry next-1.
type table struct {
	seeds  [2]maphash.Seed
	claims *claimTable // rows fit: --max-rows is at most a billion
	next   int
	used   time.Time
}

func (t *table) hash(key string) keyHash {
	return keyHash{maphash.String(t.seeds[0], key), maphash.String(t.seeds[1], key)}
}

// apply adds a log entry's claims.
func (t *table) apply(e store.ClaimEntry) {
	for i, k := range e.Keys {
		t.claims.claim(t.hash(k), e.Rows[i])
	}
	t.next = e.Seq + 1
}

// resolve finds the holder of each key of each row without changing the
// table, and returns the claims that are new (to be logged, then applied).
func (t *table) resolve(keys [][]string, rows []int) (holders [][]int, fresh store.ClaimEntry) {
	holders = make([][]int, len(keys))
	inChunk := map[keyHash]int{}
	for i, ks := range keys {
		holders[i] = make([]int, len(ks))
		for j, k := range ks {
			h := t.hash(k)
			if row, ok := t.claims.holder(h); ok {
				holders[i][j] = row
				continue
			}
			if row, ok := inChunk[h]; ok {
				holders[i][j] = row
				continue
			}
			inChunk[h] = rows[i]
			holders[i][j] = rows[i]
			fresh.Keys = append(fresh.Keys, k)
			fresh.Rows = append(fresh.Rows, rows[i])
		}
	}
	return holders, fresh
}
