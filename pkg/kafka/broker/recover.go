package broker

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What a crash leaves behind, and why the broker mends it before it serves.
//
// kfake keeps each partition as segment files of record batches (N.dat)
// with an index beside them (N.idx: one 15-byte entry per batch, holding the
// batch's leader epoch and whether it belongs to a transaction). After a
// crash, the next start reads every batch back ("full replay") and treats a
// transaction with data but no control batch as aborted — in memory only.
// Two things then go wrong, and both were seen in the soak with the broker
// killed by SIGKILL:
//
//   - The next transaction of the same producer id ends with a COMMIT marker,
//     and the replay after the next crash pairs that marker with the first
//     open data batch it saw: the aborted transaction's records come back as
//     committed, at offsets consumers have already passed or in front of the
//     records that replaced them (a block from an abandoned fork, say).
//   - kfake writes a batch and then its index entry. A crash between the two
//     leaves the index one entry short; every later entry is appended after
//     it and read as the entry of the batch before its own, so transaction
//     flags shift by one batch from there on.
//
// recoverDir repairs the index from the batches themselves (the flag is the
// batch's own transactional attribute), and returns the transactions open at
// the crash. Start then writes an ABORT marker for each (WriteTxnMarkers,
// what a real broker's transaction coordinator does for a transaction it
// aborts) on a private port, before any client can produce, and closes that
// broker cleanly so the next start reads its snapshot.

// openTxn is a transaction that has data in a partition and no marker.
type openTxn struct {
	Topic      string
	Partition  int32
	ProducerID int64
	Epoch      int16
}

func (t openTxn) String() string {
	return fmt.Sprintf("%s/%d producer %d", t.Topic, t.Partition, t.ProducerID)
}

const (
	indexEntrySize = 15 // kfake's persist.go
	persistVersion = 1  // kfake's currentPersistVersion, the first byte of an index entry
	attrTxn        = 0x0010
	attrControl    = 0x0020
	// batchHeader is a record batch's fixed header: base offset (8), length
	// (4), leader epoch (4), magic (1), CRC (4), attributes (2), last offset
	// delta (4), first and max timestamps (8 + 8), producer id (8) and epoch
	// (2), base sequence (4), record count (4). The length counts what
	// follows its own field.
	batchHeader = 61
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// recoverDir mends every partition a full replay will read and returns the
// transactions the crash left open. A partition whose snapshot still matches
// its segments (the last stop was clean) is left alone: kfake reads the
// snapshot, not the batches.
func recoverDir(dir string) (open []openTxn, repaired int, err error) {
	parts, err := os.ReadDir(filepath.Join(dir, "partitions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	for _, p := range parts {
		if !p.IsDir() {
			continue
		}
		name := p.Name()
		i := strings.LastIndexByte(name, '-')
		if i <= 0 {
			continue
		}
		topic, err1 := url.PathUnescape(name[:i])
		part, err2 := strconv.ParseInt(name[i+1:], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		o, r, err := recoverPartition(filepath.Join(dir, "partitions", name), topic, int32(part))
		if err != nil {
			return nil, 0, fmt.Errorf("partition %s: %w", name, err)
		}
		open = append(open, o...)
		repaired += r
	}
	return open, repaired, nil
}

func recoverPartition(pdir, topic string, part int32) ([]openTxn, int, error) {
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return nil, 0, err
	}
	var bases []int64
	for _, e := range entries {
		if b, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if n, err := strconv.ParseInt(b, 10, 64); err == nil {
				bases = append(bases, n)
			}
		}
	}
	slices.Sort(bases)
	if len(bases) == 0 || snapshotCurrent(pdir, bases) {
		return nil, 0, nil
	}
	open := map[int64]int16{} // producer id → epoch of its open transaction
	repaired := 0
	for _, base := range bases {
		seg, err := os.ReadFile(filepath.Join(pdir, strconv.FormatInt(base, 10)+".dat"))
		if err != nil {
			return nil, 0, err
		}
		var want []byte
		for pos := 0; pos+batchHeader <= len(seg); {
			// The batch boundaries and the corruption rule are kfake's
			// (loadSegmentBatches): a torn or corrupt batch ends the segment.
			n := int(int32(binary.BigEndian.Uint32(seg[pos+8 : pos+12])))
			if n < batchHeader-12 || n > 1<<30 || pos+12+n > len(seg) {
				break
			}
			b := seg[pos : pos+12+n]
			if binary.BigEndian.Uint32(b[17:21]) != crc32.Checksum(b[21:], crc32c) {
				break
			}
			attrs := binary.BigEndian.Uint16(b[21:23])
			pid := int64(binary.BigEndian.Uint64(b[43:51]))
			epoch := int16(binary.BigEndian.Uint16(b[51:53]))
			inTx := attrs&attrTxn != 0 && attrs&attrControl == 0
			switch {
			case attrs&attrControl != 0:
				delete(open, pid)
			case inTx:
				open[pid] = epoch
			}
			want = append(want, indexEntry(int32(binary.BigEndian.Uint32(b[12:16])), int64(binary.BigEndian.Uint64(b[35:43])), inTx)...)
			pos += 12 + n
		}
		idxPath := filepath.Join(pdir, strconv.FormatInt(base, 10)+".idx")
		have, err := os.ReadFile(idxPath)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, 0, err
		}
		if !indexAgrees(have, want) {
			if err := writeSynced(idxPath, want); err != nil {
				return nil, 0, err
			}
			repaired++
		}
	}
	var out []openTxn
	for pid, epoch := range open {
		out = append(out, openTxn{Topic: topic, Partition: part, ProducerID: pid, Epoch: epoch})
	}
	slices.SortFunc(out, func(a, b openTxn) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out, repaired, nil
}

// indexEntry is kfake's encodeIndexEntry. The timestamp it stores is not read
// back (kfake recomputes it on load), so the batch's own maximum is written.
func indexEntry(epoch int32, maxTS int64, inTx bool) []byte {
	var e [indexEntrySize]byte
	e[0] = persistVersion
	binary.LittleEndian.PutUint32(e[2:6], uint32(epoch))
	binary.LittleEndian.PutUint64(e[6:14], uint64(maxTS))
	if inTx {
		e[14] = 1
	}
	e[1] = byte(crc32.Checksum(e[2:], crc32c))
	return e[:]
}

// indexAgrees: the index has one entry per batch (kfake truncates what lies
// past the last) whose epoch and transaction flag are the batch's own.
func indexAgrees(have, want []byte) bool {
	if len(have) < len(want) {
		return false
	}
	for i := 0; i < len(want); i += indexEntrySize {
		h, w := have[i:i+indexEntrySize], want[i:i+indexEntrySize]
		if h[0] != w[0] || string(h[2:6]) != string(w[2:6]) || h[14]&1 != w[14]&1 ||
			byte(crc32.Checksum(h[2:indexEntrySize], crc32c)) != h[1] {
			return false
		}
	}
	return true
}

// snapshotCurrent mirrors kfake's snapshotMatchesSegments: the same segments
// at the sizes the snapshot recorded.
func snapshotCurrent(pdir string, bases []int64) bool {
	raw, err := os.ReadFile(filepath.Join(pdir, "snapshot.json"))
	if err != nil {
		return false
	}
	var snap struct {
		Version  int `json:"version"`
		Segments []struct {
			BaseOffset int64 `json:"base_offset"`
			Size       int64 `json:"size"`
		} `json:"segments"`
	}
	if json.Unmarshal(raw, &snap) != nil || snap.Version > persistVersion || len(snap.Segments) != len(bases) {
		return false
	}
	for i, s := range snap.Segments {
		info, err := os.Stat(filepath.Join(pdir, strconv.FormatInt(s.BaseOffset, 10)+".dat"))
		if s.BaseOffset != bases[i] || err != nil || info.Size() != s.Size {
			return false
		}
	}
	return true
}

func writeSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// abortOpen starts the broker on the data directory on a private port,
// writes an ABORT marker for each open transaction, and stops it cleanly.
func abortOpen(opts []kfake.Opt, open []openTxn) error {
	c, err := kfake.NewCluster(append(opts, kfake.Ports(0))...)
	if err != nil {
		return err
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ClientID("inflow-broker-recovery"))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	for _, t := range open {
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = t.ProducerID, t.Epoch, false
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = t.Topic, []int32{t.Partition}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("abort marker for %s/%d producer %d: %w", t.Topic, p.Partition, m.ProducerID, err)
				}
			}
		}
	}
	return nil
}
