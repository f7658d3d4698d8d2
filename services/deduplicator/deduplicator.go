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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// Durable is the consumer name shared by all deduplicator instances.
const Durable = "deduplicator"

// Config tunes the deduplicator.
type Config = partitions.StageConfig

// Run consumes valid record chunks until ctx ends.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	dd := &dedup{store: d.Store, schemas: d.Schemas, tables: newTables()}
	st := partitions.Stage{Stream: subjects.StreamValid, Subject: subjects.Valid, Durable: Durable, MaxAckPending: 1}
	return partitions.RunStage(ctx, d.JS, st, cfg, partitions.Handling{Name: envelope.StageDedup, Handler: dd.handle,
		DeadLetter: platform.RecordDeadLetter(envelope.StageDedup)}, d.Log)
}

// Store is what the deduplicator needs of the store: an import's claim log
// (appended to, read from an entry on) and, for rows that carry handles,
// the records owning each handle, the handles of records stored before
// they were recorded, and the key-use marker saying whether a schema with
// several key fields needs its handle index yet.
type Store interface {
	AppendClaims(ctx context.Context, tenant, importID string, e store.ClaimEntry) (taken bool, err error)
	ReadClaims(ctx context.Context, tenant, importID string, from int) ([]store.ClaimEntry, error)
	HandleOwners(ctx context.Context, tenant, schema string, handles []string) (map[string]string, error)
	HandleOwnership(ctx context.Context, tenant, schema string, handles []string) (map[string]reconcile.Owner, error)
	AddHandles(ctx context.Context, tenant, schema string, hs []store.Handle) (taken map[int]bool, err error)
	ShareHandles(ctx context.Context, tenant, schema string, handles []string) error
	BackfillHandles(ctx context.Context, tenant, schema string, keys, used []string, handlesOf func(rec map[string]any) []string) error
	KeyUse(ctx context.Context, tenant, schema string) (store.KeyUse, bool, error)
	AddKeyUse(ctx context.Context, tenant, schema string, add store.KeyUse) error
	UsedKeys(ctx context.Context, tenant, schema string) ([]string, error)
}

// Schemas is what the deduplicator needs of the schema catalog: a
// tenant's schema by name (its key fields, for the backfill).
type Schemas interface {
	Get(ctx context.Context, tenant, name string) (*schema.Schema, bool, error)
}

type dedup struct {
	store   Store
	schemas Schemas
	tables  *tables
}

// appendAttempts bounds how often a chunk is redone after losing a race for
// a log entry before the runner retries it later.
const appendAttempts = 5

func (d *dedup) handle(ctx context.Context, m runner.Msg) ([]runner.Output, error) {
	var ch envelope.RecordChunk
	if err := json.Unmarshal(m.Data, &ch); err != nil {
		return nil, runner.Permanent(fmt.Errorf("malformed record chunk: %w", err))
	}
	deferred, err := d.deferHandles(ctx, &ch)
	if err != nil {
		return nil, err
	}
	ids := make([]identity, len(ch.Records))
	if !deferred {
		if ids, err = d.identify(ctx, &ch); err != nil {
			return nil, err
		}
	}
	byKey := ch.Options.Key != schema.AnyHandle
	keys := make([][]string, len(ch.Records))
	for i, r := range ch.Records {
		switch {
		case ids[i].Conflict == "":
			keys[i] = claimKeys(r, ids[i].Record, byKey)
		case byKey:
			keys[i] = keysOf(r, byKey) // its key: a later row with it is its duplicate, as ever
		} // a person in conflict claims nothing: its handles must not hold up later rows
	}
	holders, err := d.claim(ctx, &ch, keys)
	if err != nil {
		return nil, err
	}
	var (
		unique   []envelope.Record
		outcomes []envelope.Outcome
		add      []store.Handle
		share    []string
	)
	for i, r := range ch.Records {
		id := ids[i]
		if len(keys[i]) > 0 { // a repeated key is a duplicate first
			if o, dup := duplicate(r, keys[i], holders[i], byKey); dup {
				outcomes = append(outcomes, o)
				continue
			}
		}
		if id.Conflict != "" {
			outcomes = append(outcomes, envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{Code: envelope.CodeConflict, Message: id.Conflict}}})
			continue
		}
		if id.Record != "" {
			r.Key = id.Record
			a, sh := newHandles(ch, r, id)
			add, share = append(add, a...), append(share, sh...)
		}
		if deferred {
			r.Handles = nil // the writer needs them only if the index starts meanwhile: it makes them again
		}
		unique = append(unique, r)
	}
	if err := d.addHandles(ctx, &ch, add, share); err != nil {
		return nil, err
	}
	out := envelope.RecordChunk{Tenant: ch.Tenant, Import: ch.Import, Chunk: ch.Chunk, Options: ch.Options, Records: unique}
	out.HandlesDeferred = deferred && !ch.Options.DryRun
	return platform.PassOutputs(envelope.StageDedup, subjects.Unique, "unique", out, outcomes)
}

// keysOf are the keys a record claims: its handles on an import matching
// on any handle, else its one key.
func keysOf(r envelope.Record, byKey bool) []string {
	if !byKey && len(r.Handles) > 0 {
		return r.Handles
	}
	return []string{r.Key}
}

// claimKeys are keysOf(r) and the _id of the record the row was found to
// be (when not one of them): two rows of one import finding one record
// through different values then share a claim, and the claim log lists
// every record an import touched, which replace mode keeps.
func claimKeys(r envelope.Record, record string, byKey bool) []string {
	keys := keysOf(r, byKey)
	if record == "" || slices.Contains(keys, record) {
		return keys
	}
	return append(slices.Clip(keys), record)
}

// duplicate decides a row from the holders of its keys. On an import
// matching on any handle (byKey false) the row goes on if it holds them
// all; it is skipped as a duplicate if one earlier row holds them all; it
// fails as a conflict if it shares only some handles with another row
// (the later of two rows claiming a handle is the one reported). On an
// import by a key field (byKey) the keys are the row's key and maybe the
// record it found: a row whose key an earlier row holds is its duplicate,
// as ever; one whose record an earlier row found through another value is
// a conflict.
func duplicate(r envelope.Record, keys []string, holders []int, byKey bool) (envelope.Outcome, bool) {
	if byKey {
		switch {
		case holders[0] != r.Row:
			return duplicateOf(r.Row, holders[0], keys[0]), true
		case len(holders) > 1 && holders[1] != r.Row:
			field, _, _ := strings.Cut(keys[0], ":")
			return envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{
				Field: field, Code: envelope.CodeConflict, Message: fmt.Sprintf("conflict: row %d of this file is already the record of %s, found with another %s", holders[1], showKey(keys[1]), field),
			}}}, true
		}
		return envelope.Outcome{}, false
	}
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
	if same {
		return duplicateOf(r.Row, other, keys[conflictAt]), true
	}
	field, value, _ := strings.Cut(keys[conflictAt], ":")
	return envelope.Outcome{Row: r.Row, Result: envelope.Failed, Problems: []envelope.Problem{{
		Field: field, Code: envelope.CodeConflict, Message: fmt.Sprintf("conflict: %s %s is also in row %d, with other handles", field, value, other),
	}}}, true
}

// showKey is a key as people read it: "email ann@example.com".
func showKey(key string) string {
	field, value, _ := strings.Cut(key, ":")
	return field + " " + value
}

func duplicateOf(row, of int, key string) envelope.Outcome {
	field, value, _ := strings.Cut(key, ":")
	return envelope.Outcome{Row: row, Result: envelope.Skipped, Problems: []envelope.Problem{{
		Field: field, Code: envelope.CodeDuplicate, Message: fmt.Sprintf("duplicate of row %d (same %s %s)", of, field, value),
	}}}
}

// identity is the record a row with handles belongs to (reconcile.Identity
// or reconcile.KeyIdentity).
type identity struct {
	Record   string   // its _id; empty for a row without handles or in conflict
	Unowned  []string // the row's handles no record has yet
	Share    []string // handles of other records the row's new record has too
	Conflict string   // why the row belongs to two records
}

// identify matches each row with handles to the record owning any of them
// (or a new one identified by its first handle: the import's key) from one
// read of the handle index for the whole chunk. It writes nothing but the
// backfill of records stored without handles.
func (d *dedup) identify(ctx context.Context, ch *envelope.RecordChunk) ([]identity, error) {
	ids := make([]identity, len(ch.Records))
	var handles []string
	for _, r := range ch.Records {
		handles = append(handles, r.Handles...)
	}
	if len(handles) == 0 {
		return ids, nil
	}
	decide, err := d.decider(ctx, ch, handles)
	if err != nil {
		return nil, err
	}
	for i, r := range ch.Records {
		if len(r.Handles) > 0 {
			ids[i] = decide(r.Handles)
		}
	}
	return ids, nil
}

// decider reads the owners of a chunk's handles and returns how a row's
// identity is decided from them: on any handle (reconcile.Identity), or by
// the import's key field (reconcile.KeyIdentity).
func (d *dedup) decider(ctx context.Context, ch *envelope.RecordChunk, handles []string) (func(hs []string) identity, error) {
	if ch.Options.Key == schema.AnyHandle {
		owners, err := d.store.HandleOwners(ctx, ch.Tenant, ch.Options.Schema, handles)
		return func(hs []string) (id identity) {
			id.Record, id.Unowned, id.Conflict = reconcile.Identity(hs, owners)
			return id
		}, err
	}
	owners, err := d.store.HandleOwnership(ctx, ch.Tenant, ch.Options.Schema, handles)
	return func(hs []string) (id identity) {
		id.Record, id.Unowned, id.Share, id.Conflict = reconcile.KeyIdentity(hs, owners)
		return id
	}, err
}

// deferHandles decides, for a chunk of an import by a key field of a
// schema with several key fields, whether its rows need the handle index
// (store.KeyUse, one read per chunk). While every record of the tenant's
// schema was created under the import's key, a row's record is its key:
// the chunk goes on without reading or writing the index (deferred, which
// the writer is told). A chunk that can create records under a key field
// records of the schema were not yet created under first adds that field
// to the marker's Used, before any such record exists; a chunk needing
// the index starts it (Indexed, before the backfill of the records stored
// so far, which it then runs: BackfillHandles) and it is kept from then on.
func (d *dedup) deferHandles(ctx context.Context, ch *envelope.RecordChunk) (deferred bool, err error) {
	if ch.Options.Key == schema.AnyHandle || !slices.ContainsFunc(ch.Records, func(r envelope.Record) bool { return len(r.Handles) > 0 }) {
		return false, nil
	}
	s, err := d.schema(ctx, ch.Tenant, ch.Options.Schema)
	if err != nil {
		return false, err
	}
	key, err := s.ResolveKey(ch.Options.Key)
	if err != nil {
		return false, runner.Permanent(err)
	}
	use, found, err := d.store.KeyUse(ctx, ch.Tenant, ch.Options.Schema)
	if err != nil {
		return false, err
	}
	if !found { // none yet, or records stored by a version that kept none
		if use.Used, err = d.store.UsedKeys(ctx, ch.Tenant, ch.Options.Schema); err != nil {
			return false, err
		}
	}
	creates := ch.Options.Mode != envelope.ModeUpdate && !ch.Options.DryRun
	plan := planKeys(use, found, s.Keys, key, creates)
	if err := d.store.AddKeyUse(ctx, ch.Tenant, ch.Options.Schema, plan.Add); err != nil {
		return false, err
	}
	if plan.Fast || store.ContainsAll(use.Backfilled, s.Keys) {
		return plan.Fast, nil
	}
	handlesOf := func(rec map[string]any) []string { return s.KeyHandles(s.Keys[0], rec) }
	// Records can have been created only under the key fields used before
	// this chunk (Used names one before any record is created under it),
	// and this chunk's own records come after the backfill.
	return false, d.store.BackfillHandles(ctx, ch.Tenant, ch.Options.Schema, s.Keys, use.Used, handlesOf)
}

// keyPlan is what a chunk does to its schema's key-use marker (Add) and
// whether it takes the fast path, without the handle index.
type keyPlan struct {
	Add  store.KeyUse
	Fast bool
}

// planKeys decides keyPlan from the marker (use; found false: Used was
// read from the stored records' _ids, and is written down), the schema's
// key fields, the import's key and whether the chunk can create records.
// Fast while no index is kept and no record was created under another key
// field: every record's _id is then <key>:<value>. Otherwise the index is
// kept for every key field, from now on: a chunk by the one key in use
// must then record its handles too, or the index would miss them.
func planKeys(use store.KeyUse, found bool, keys []string, key string, creates bool) keyPlan {
	var p keyPlan
	if !found {
		p.Add.Used = use.Used
	}
	if creates && !slices.Contains(use.Used, key) {
		p.Add.Used = append(slices.Clip(p.Add.Used), key)
	}
	others := slices.ContainsFunc(use.Used, func(k string) bool { return k != key })
	p.Fast = len(use.Indexed) == 0 && !others
	if !p.Fast && !store.ContainsAll(use.Indexed, keys) {
		p.Add.Indexed = keys
	}
	return p
}

// schema is a tenant's schema by name; a permanent error when it is unknown.
func (d *dedup) schema(ctx context.Context, tenant, name string) (*schema.Schema, error) {
	s, ok, err := d.schemas.Get(ctx, tenant, name)
	if catalog.Permanent(err) {
		return nil, runner.Permanent(err)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, runner.Permanent(fmt.Errorf("unknown schema %q", name))
	}
	return s, nil
}

// newHandles are the handles to record as the row's record's, and the
// other records' values to mark shared as it has them too. None in an
// update import for a row whose key found no record: it creates nothing,
// and a later row must not find a record that was never created under its
// _id. Of an import by a key field, not the record's _id: it is found as
// such (store.HandleOwnership), and recording it doubled the index's writes.
func newHandles(ch envelope.RecordChunk, r envelope.Record, id identity) (add []store.Handle, share []string) {
	byKey := ch.Options.Key != schema.AnyHandle
	if byKey && ch.Options.Mode == envelope.ModeUpdate && slices.Contains(id.Unowned, r.Handles[0]) {
		return nil, nil
	}
	for _, h := range id.Unowned {
		if !byKey || h != id.Record {
			add = append(add, store.Handle{ID: h, Record: id.Record, Stamp: reconcile.Stamp{Import: ch.Import, Row: r.Row}})
		}
	}
	return add, id.Share
}

// addHandles records handles as their records' and marks share shared.
// One tenant's chunks are de-duplicated one at a time (INTAKE_VALID is
// partitioned by tenant), so handle ownership is decided in one place, and
// adding a handle is an insert that fails if it is taken: two imports can
// never give one handle to two records. Of an import by a key field, two
// new records of one chunk with one value (other than the import's key,
// which the claims keep apart) share it: it is inserted shared. Sharing
// comes before adding, so a redelivery after a crash between the two
// decides as the first delivery did. A dry run records nothing.
func (d *dedup) addHandles(ctx context.Context, ch *envelope.RecordChunk, add []store.Handle, share []string) error {
	if ch.Options.DryRun {
		return nil
	}
	first := map[string]int{} // handle -> its index in unique
	var unique []store.Handle
	for _, h := range add {
		i, seen := first[h.ID]
		switch {
		case !seen:
			first[h.ID] = len(unique)
			unique = append(unique, h)
		case unique[i].Record != h.Record:
			unique[i].Shared = true
		}
	}
	if err := d.store.ShareHandles(ctx, ch.Tenant, ch.Options.Schema, share); err != nil {
		return err
	}
	if len(unique) == 0 {
		return nil
	}
	taken, err := d.store.AddHandles(ctx, ch.Tenant, ch.Options.Schema, unique)
	if err != nil {
		return err
	}
	return d.checkTaken(ctx, ch, unique, taken)
}

// checkTaken checks the handles of add found taken. Only this stage adds
// handles, one chunk at a time, and it read them just now: a taken handle
// means another instance, or this chunk's earlier delivery, is working on
// the same chunk. It must have decided the same; if not, start over.
func (d *dedup) checkTaken(ctx context.Context, ch *envelope.RecordChunk, add []store.Handle, taken map[int]bool) error {
	if len(taken) == 0 {
		return nil
	}
	var ids []string
	for i := range taken {
		ids = append(ids, add[i].ID)
	}
	now, err := d.store.HandleOwners(ctx, ch.Tenant, ch.Options.Schema, ids)
	if err != nil {
		return err
	}
	for i := range taken {
		if now[add[i].ID] != add[i].Record {
			return fmt.Errorf("handle %s was given to record %s while this chunk gave it to %s; redoing the chunk", add[i].ID, now[add[i].ID], add[i].Record)
		}
	}
	return nil
}

// claim returns, for every record of the chunk, the rows that hold its
// keys (keys[i] are record i's): the row itself for a key it is the first to have, else the
// earlier row.
func (d *dedup) claim(ctx context.Context, ch *envelope.RecordChunk, keys [][]string) ([][]int, error) {
	t := d.tables.get(ids.Scoped(ch.Tenant, ch.Import))
	rows := make([]int, len(ch.Records))
	for i, r := range ch.Records {
		rows[i] = r.Row
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
