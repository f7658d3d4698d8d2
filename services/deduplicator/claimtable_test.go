package deduplicator

import (
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"testing"
)

func testHash(seed maphash.Seed, i int) keyHash {
	k := fmt.Sprintf("email:user%d@example.com", i)
	return keyHash{maphash.String(seed, k), maphash.String(seed, k+"#")}
}

// Across many growths every key keeps its first holder, a later claim of a
// held key changes nothing, and keys never claimed are not found.
func TestClaimTableKeepsTheFirstHolder(t *testing.T) {
	seed := maphash.MakeSeed()
	ct := newClaimTable()
	const n = 200_000
	for i := 0; i < n; i++ {
		ct.claim(testHash(seed, i), i+2)
	}
	for i := 0; i < n; i += 3 {
		ct.claim(testHash(seed, i), 999_999_999) // a later row with the same key
	}
	if ct.len() != n {
		t.Fatalf("len = %d, want %d", ct.len(), n)
	}
	for i := 0; i < n; i++ {
		if row, ok := ct.holder(testHash(seed, i)); !ok || row != i+2 {
			t.Fatalf("key %d: holder %d %v, want row %d", i, row, ok, i+2)
		}
	}
	for i := n; i < n+10_000; i++ {
		if row, ok := ct.holder(testHash(seed, i)); ok {
			t.Fatalf("key %d never claimed, yet held by row %d", i, row)
		}
	}
}

// Hashes that fall on the same segment and the same slot, including the
// segment's last slot (the probe wraps around), are all kept apart; row 0
// and the largest row are stored as they are.
func TestClaimTableCollidingSlots(t *testing.T) {
	ct := newClaimTable()
	// h[0] near its maximum starts the probe at a segment's last slot;
	// h[1]'s top bits are the same, so one segment holds them all.
	var hs []keyHash
	for i := 0; i < 40; i++ {
		hs = append(hs, keyHash{math.MaxUint64 - uint64(i%2), uint64(i)})
	}
	rows := map[keyHash]int{}
	for i, h := range hs {
		row := i
		if i == len(hs)-1 {
			row = 1_000_000_001 // beyond --max-rows, still held
		}
		ct.claim(h, row)
		rows[h] = row
	}
	for _, h := range hs {
		if row, ok := ct.holder(h); !ok || row != rows[h] {
			t.Fatalf("hash %x: holder %d %v, want row %d", h, row, ok, rows[h])
		}
	}
	if _, ok := ct.holder(keyHash{math.MaxUint64, 1 << 40}); ok {
		t.Fatal("an unclaimed hash on a full probe run is found")
	}
	if ct.len() != len(hs) {
		t.Fatalf("len = %d, want %d", ct.len(), len(hs))
	}
}

// An empty table finds nothing (no segment has slots yet).
func TestClaimTableEmpty(t *testing.T) {
	ct := newClaimTable()
	if _, ok := ct.holder(keyHash{1, 2}); ok || ct.len() != 0 {
		t.Fatal("an empty table holds a key")
	}
}

// The memory a key costs, the figure that decides whether a 10,000,000-row
// import fits in the deduplicator's 512 MiB: the claim table against the
// Go map it replaced, after 1,000,000 keys (heap in use after a GC).
func BenchmarkClaimTableMemory(b *testing.B) {
	const n = 1_000_000
	seed := maphash.MakeSeed()
	hs := make([]keyHash, n)
	for i := range hs {
		hs[i] = testHash(seed, i)
	}
	b.Run("claimTable", func(b *testing.B) {
		for range b.N {
			var ct *claimTable
			perKey := heapPerKey(n, func() {
				ct = newClaimTable()
				for i, h := range hs {
					ct.claim(h, i)
				}
			})
			if slotsOffHeap {
				perKey += float64(ct.slotBytes()) / n
			}
			runtime.KeepAlive(ct)
			b.ReportMetric(perKey, "bytes/key")
		}
	})
	b.Run("map", func(b *testing.B) {
		for range b.N {
			var m map[keyHash]int32
			perKey := heapPerKey(n, func() {
				m = map[keyHash]int32{}
				for i, h := range hs {
					if _, ok := m[h]; !ok {
						m[h] = int32(i)
					}
				}
			})
			runtime.KeepAlive(m)
			b.ReportMetric(perKey, "bytes/key")
		}
	})
}

// heapPerKey is the live heap that fill adds, per key of n.
func heapPerKey(n int, fill func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
