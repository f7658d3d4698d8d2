//go:build !unix

package deduplicator

import "unsafe"

// slotsOffHeap says where allocSlots puts the slots.
const slotsOffHeap = false

// slotSize is the bytes of one slot: its hash and its row.
const slotSize = int(unsafe.Sizeof(keyHash{}) + unsafe.Sizeof(uint32(0)))

// allocSlots makes n slots on the Go heap where there is no mmap.
func allocSlots(n int) ([]keyHash, []uint32, func()) {
	return make([]keyHash, n), make([]uint32, n), func() {}
}
