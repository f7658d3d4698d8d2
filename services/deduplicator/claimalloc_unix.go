//go:build unix

package deduplicator

import (
	"fmt"
	"syscall"
	"unsafe"
)

// slotsOffHeap says where allocSlots puts the slots.
const slotsOffHeap = true

// slotSize is the bytes of one slot: its hash and its row.
const slotSize = int(unsafe.Sizeof(keyHash{}) + unsafe.Sizeof(uint32(0)))

// allocSlots maps n zeroed slots outside the Go heap (they hold no Go
// pointers), with the function that unmaps them; nothing may use them
// after that.
func allocSlots(n int) ([]keyHash, []uint32, func()) {
	hashBytes := n * int(unsafe.Sizeof(keyHash{}))
	mem, err := syscall.Mmap(-1, 0, n*slotSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		// As make would on a heap that cannot grow.
		panic(fmt.Sprintf("deduplicator: mapping %d claim slots: %v", n, err))
	}
	hashes := unsafe.Slice((*keyHash)(unsafe.Pointer(&mem[0])), n)
	rows := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[hashBytes])), n)
	return hashes, rows, func() { _ = syscall.Munmap(mem) }
}
