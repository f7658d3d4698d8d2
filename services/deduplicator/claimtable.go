package deduplicator

import (
	"math/bits"
	"runtime"
)

// claimTable maps key hashes to the row holding the key, in 20 bytes a slot
// (the 128-bit hash and the row) at a load of 68% to 85%: about 24 to 30
// bytes a key, against about 53 for a Go map of the same, so that a
// 10,000,000-row import's table fits well under the 512 MiB a deduplicator
// gets. It is split into segments by the hash's top bits, each an
// open-addressing table with linear probing that grows by a quarter on its
// own: growing never holds two copies of the whole table, and the slack
// after a growth stays small. The slots live outside the Go heap where the
// system allows (claimalloc_unix.go): the garbage collector lets the heap
// grow to twice what is live before it collects, so the old slots of every
// growth counted twice over would take a 10,000,000-key table (270 MiB)
// to a peak RSS of 457 MiB (measured); outside, a growth frees them at
// once (302 MiB). A table is used by one chunk at a time; make one with
// newClaimTable.
type claimTable struct {
	segs *claimSegs
	n    int
}

type claimSegs [claimSegments]claimSegment

// newClaimTable is an empty table whose slots are freed when it is
// garbage.
func newClaimTable() *claimTable {
	t := &claimTable{segs: new(claimSegs)}
	runtime.AddCleanup(t, (*claimSegs).free, t.segs)
	return t
}

func (ss *claimSegs) free() {
	for i := range ss {
		if ss[i].release != nil {
			ss[i].release()
		}
		ss[i] = claimSegment{}
	}
}

// claimSegmentBits of the hash choose its segment: 64 segments of a
// 10,000,000-key table hold about 156,000 keys (3.7 MiB) each.
const (
	claimSegmentBits = 6
	claimSegments    = 1 << claimSegmentBits
)

// A segment's slot is empty when its row is 0: rows are stored plus one.
type claimSegment struct {
	hashes  []keyHash
	rows    []uint32
	n       int
	release func() // frees hashes and rows
}

// holder is the row holding h, if any.
func (t *claimTable) holder(h keyHash) (int, bool) {
	s := t.segment(h)
	if len(s.rows) == 0 {
		return 0, false
	}
	for i := s.slot(h); ; i = s.nextSlot(i) {
		switch {
		case s.rows[i] == 0:
			return 0, false
		case s.hashes[i] == h:
			return int(s.rows[i] - 1), true
		}
	}
}

// claim records row as the holder of h unless h already has one.
func (t *claimTable) claim(h keyHash, row int) {
	s := t.segment(h)
	if (s.n+1)*100 > len(s.rows)*85 {
		s.grow()
	}
	if s.put(h, uint32(row)+1) {
		s.n++
		t.n++
	}
}

func (t *claimTable) segment(h keyHash) *claimSegment {
	return &t.segs[h[1]>>(64-claimSegmentBits)]
}

// len is the number of keys held.
func (t *claimTable) len() int { return t.n }

// slotBytes is the memory the table's slots take.
func (t *claimTable) slotBytes() int {
	n := 0
	for _, s := range t.segs {
		n += len(s.rows) * slotSize
	}
	return n
}

// slot is where h's probe starts: the hash's low word scaled to the
// segment's size (which need not be a power of two).
func (s *claimSegment) slot(h keyHash) int {
	hi, _ := bits.Mul64(h[0], uint64(len(s.rows)))
	return int(hi)
}

func (s *claimSegment) nextSlot(i int) int {
	if i++; i == len(s.rows) {
		return 0
	}
	return i
}

// put stores h with row (already plus one) unless h is there; it reports
// whether it stored it. The segment has a free slot.
func (s *claimSegment) put(h keyHash, row uint32) bool {
	for i := s.slot(h); ; i = s.nextSlot(i) {
		switch {
		case s.rows[i] == 0:
			s.hashes[i], s.rows[i] = h, row
			return true
		case s.hashes[i] == h:
			return false
		}
	}
}

// grow makes the segment a quarter larger (at least 16 slots) and moves
// its keys over.
func (s *claimSegment) grow() {
	old := *s
	size := max(16, len(old.rows)+len(old.rows)/4)
	*s = claimSegment{n: old.n}
	s.hashes, s.rows, s.release = allocSlots(size)
	for i, row := range old.rows {
		if row != 0 {
			s.put(old.hashes[i], row)
		}
	}
	if old.release != nil {
		old.release()
	}
}
