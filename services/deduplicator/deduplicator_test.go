package deduplicator

import (
	"context"
	"fmt"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/store/storetest"
)

// newStore is a store on an in-process FerretDB, as the embedded default runs it.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	return storetest.Embedded(t)
}

func chunk(n int, rows ...int) *envelope.RecordChunk {
	ch := &envelope.RecordChunk{Tenant: "t", Import: "imp", Chunk: n}
	for _, r := range rows {
		// rows r and r+1000 share a key: the second repeats the first
		ch.Records = append(ch.Records, envelope.Record{Row: r, Key: fmt.Sprintf("email:%d@x.io", r%1000)})
	}
	return ch
}

func holdersOf(t *testing.T, d *dedup, ch *envelope.RecordChunk) []int {
	t.Helper()
	keys := make([][]string, len(ch.Records))
	for i, r := range ch.Records {
		keys[i] = keysOf(r, true)
	}
	h, err := d.claim(context.Background(), ch, keys)
	if err != nil {
		t.Fatal(err)
	}
	flat := make([]int, len(h))
	for i := range h {
		flat[i] = h[i][0] // one key per row here
	}
	return flat
}

// Two instances sharing the log agree on every holder, a redelivered chunk
// gets the answer it got the first time (its rows hold their own keys), and
// an instance that loses the race for a log entry redoes its chunk.
func TestClaimsAcrossInstancesAndRedelivery(t *testing.T) {
	s := newStore(t)
	a := &dedup{store: s, tables: newTables()}
	b := &dedup{store: s, tables: newTables()}

	if h := holdersOf(t, a, chunk(1, 2, 3, 1002)); fmt.Sprint(h) != "[2 3 2]" {
		t.Fatalf("chunk 1 on a: %v", h)
	}
	// b has never seen the import: it reads a's entry first.
	if h := holdersOf(t, b, chunk(2, 1003, 4, 1004)); fmt.Sprint(h) != "[3 4 4]" {
		t.Fatalf("chunk 2 on b: %v", h)
	}
	// Redeliveries, on either instance: the same answers.
	if h := holdersOf(t, b, chunk(1, 2, 3, 1002)); fmt.Sprint(h) != "[2 3 2]" {
		t.Fatalf("chunk 1 again on b: %v", h)
	}
	if h := holdersOf(t, a, chunk(2, 1003, 4, 1004)); fmt.Sprint(h) != "[3 4 4]" {
		t.Fatalf("chunk 2 again on a: %v", h)
	}

	// A stale instance: c read the log when it had two entries, then b
	// appended a third; c's append of entry 3 is taken, so it reads entry 3
	// and redoes its chunk against it.
	c := &dedup{store: s, tables: newTables()}
	holdersOf(t, c, chunk(2, 1003, 4, 1004)) // c now at entry 3
	if h := holdersOf(t, b, chunk(3, 5)); fmt.Sprint(h) != "[5]" {
		t.Fatalf("chunk 3 on b: %v", h)
	}
	ct := c.tables.get(ids.Scoped("t", "imp"))
	ct.next = 3 // as if c had read the log just before b appended
	if h := holdersOf(t, c, chunk(4, 1005, 6)); fmt.Sprint(h) != "[5 6]" {
		t.Fatalf("chunk 4 on stale c: %v", h)
	}
	entries, err := s.ReadClaims(context.Background(), "t", "imp", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("log has %d entries, want 4: %+v", len(entries), entries)
	}
	keys, err := s.ClaimedKeys(context.Background(), "t", "imp")
	if err != nil || len(keys) != 5 {
		t.Fatalf("claimed keys %v %v, want 5", keys, err)
	}
}
