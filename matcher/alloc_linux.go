//go:build linux

package matcher

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocWords allocates the filter outside the Go heap, asking the kernel for
// transparent huge pages: at exchange scale a lookup's cost is one memory
// miss, and with 4 KiB pages most of them also miss the TLB. The memory is
// zeroed. Small filters use the heap.
func allocWords(n int) ([]uint64, func()) {
	size := n * 8
	if size < 4<<20 {
		return make([]uint64, n), func() {}
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return make([]uint64, n), func() {}
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // a hint; without it the filter still works
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
	return words, func() {
		// A replaced filter may still be read by a lookup that loaded it
		// just before the swap; lookups take nanoseconds, so unmap later.
		time.AfterFunc(time.Minute, func() { unix.Munmap(b) })
	}
}
