package matcher

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
)

// A filter snapshot lets a restart skip reading the whole set from Pebble:
// 200 MB to read at 100M addresses instead of 100M keys to iterate.
//
// Close writes the filter to Options.Snapshot, then stores a random marker
// under snapshotKey in Pebble; the file carries the same marker. Open uses
// the file only if its marker is the stored one, and removes the marker
// before anything else can change the set. So a snapshot is used only by
// the first open after a clean close, when it holds exactly the stored
// set: a crash, or a change made after an open, leaves no marker and the
// filter is rebuilt from Pebble.
var snapshotKey = []byte("mS") // → marker (16 bytes), count (8 bytes)

const (
	snapshotMagic   = "INFLOWMF"
	snapshotVersion = 1
	// byteOrderMark is written in the machine's byte order: the filter's
	// words are written as they are in memory.
	byteOrderMark = 0x0102030405060708
)

// snapshotHeader precedes the filter's words in a snapshot file, which ends
// with the xxhash64 of those words.
type snapshotHeader struct {
	Magic      [8]byte
	Version    uint32
	_          uint32
	ByteOrder  uint64
	Marker     [16]byte
	Count      uint64
	Capacity   uint64
	Blocks     uint64
	BitsPerKey float64
}

// writeSnapshot writes f to the snapshot file, then marks it as the one
// matching the stored set of count addresses. Called with writeMu held,
// after the last change.
func (m *Matcher) writeSnapshot(f *filter, count int64) error {
	path := m.opts.Snapshot
	h := snapshotHeader{Version: snapshotVersion, ByteOrder: byteOrderMark, Count: uint64(count),
		Capacity: f.cap, Blocks: f.blocks, BitsPerKey: m.opts.BitsPerKey}
	copy(h.Magic[:], snapshotMagic)
	if _, err := rand.Read(h.Marker[:]); err != nil {
		return err
	}
	tmp := path + ".tmp"
	file, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	w := bufio.NewWriterSize(file, 1<<20)
	body := wordBytes(f.words)
	err = errors.Join(binary.Write(w, binary.LittleEndian, &h), writeAll(w, body),
		binary.Write(w, binary.LittleEndian, xxhash.Sum64(body)), w.Flush(), file.Sync())
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	v := append(append([]byte(nil), h.Marker[:]...), binary.BigEndian.AppendUint64(nil, uint64(count))...)
	return m.db.Set(snapshotKey, v, pebble.Sync)
}

// loadSnapshot reads the snapshot file if it matches the stored set of
// count addresses and the filter options; errNoSnapshot if there is none
// to use.
func (m *Matcher) loadSnapshot(count int64) (*filter, error) {
	v, closer, err := m.db.Get(snapshotKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errNoSnapshot
	}
	if err != nil {
		return nil, err
	}
	stored := append([]byte(nil), v...)
	closer.Close()
	if len(stored) != 24 || binary.BigEndian.Uint64(stored[16:]) != uint64(count) {
		return nil, fmt.Errorf("snapshot marker of %d bytes for another count", len(stored))
	}
	file, err := os.Open(m.opts.Snapshot)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<20)
	var h snapshotHeader
	if err := binary.Read(r, binary.LittleEndian, &h); err != nil {
		return nil, fmt.Errorf("snapshot header: %w", err)
	}
	switch {
	case string(h.Magic[:]) != snapshotMagic || h.Version != snapshotVersion:
		return nil, fmt.Errorf("not a filter snapshot of version %d", snapshotVersion)
	case h.ByteOrder != byteOrderMark:
		return nil, fmt.Errorf("snapshot written on a machine of another byte order")
	case !bytes.Equal(h.Marker[:], stored[:16]) || h.Count != uint64(count):
		return nil, fmt.Errorf("snapshot of another state of the set")
	case h.BitsPerKey != m.opts.BitsPerKey || h.Capacity < m.opts.Capacity:
		return nil, fmt.Errorf("snapshot sized for %.1f bits per address and %d addresses", h.BitsPerKey, h.Capacity)
	case h.Blocks == 0 || h.Blocks > math.MaxInt32 || h.Blocks*512 < uint64(float64(h.Capacity)*h.BitsPerKey):
		return nil, fmt.Errorf("snapshot of %d blocks", h.Blocks)
	}
	words, free := allocWords(int(h.Blocks * blockWords))
	body := wordBytes(words)
	var sum uint64
	err = errors.Join(readAll(r, body), binary.Read(r, binary.LittleEndian, &sum))
	if err == nil && sum != xxhash.Sum64(body) {
		err = fmt.Errorf("snapshot checksum mismatch")
	}
	if err != nil {
		free()
		return nil, err
	}
	return &filter{words: words, blocks: h.Blocks, cap: h.Capacity, free: free}, nil
}

// dropSnapshot forgets the snapshot before the set can change.
func (m *Matcher) dropSnapshot() error {
	if err := m.db.Delete(snapshotKey, pebble.Sync); err != nil {
		return err
	}
	if err := os.Remove(m.opts.Snapshot); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

var errNoSnapshot = errors.New("no snapshot")

func wordBytes(w []uint64) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

func readAll(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
