package deduplicator

import "math/bits"

// claimTable maps key hashes to the row holding the key, in 20 bytes a slot
// (the 128-bit hash and the row) at a load of 68% to 85%: about 24 to 30
// bytes a key, against about 53 for a Go map of the same, so that a
// 10,000,000-row import's table fits well under the 512 MiB a deduplicator
// gets. It is split into segments by the hash's top bits, each an
// open-addressing table with linear probing that grows by a quarter on its
// own: growing never holds two copies of the whole table, and the slack
// after a growth stays small. A table is used by one chunk at a time.
type claimTable struct {
	segs [claimSegments]claimSegment
	n    int
}

// claimSegmentBits of the hash choose its segment: 64 segments of a
// 10,000,000-key table hold about 156,000 keys (3.7 MiB) each.
const (
	claimSegmentBits = 6
	claimSegments    = 1 << claimSegmentBits
)

// A segment's slot is empty when its row is 0: rows are stored plus one.
type claimSegment struct {
	hashes []keyHash
	rows   []uint32
	n      int
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
	*s = claimSegment{hashes: make([]keyHash, size), rows: make([]uint32, size), n: old.n}
	for i, row := range old.rows {
		if row != 0 {
			s.put(old.hashes[i], row)
		}
	}
}
