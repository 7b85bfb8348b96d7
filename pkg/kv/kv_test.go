package kv

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// A database written without value separation opens with it: its format is
// upgraded, the values written before are read back, and large values
// written after go to blob files and are read back too, across a reopen.
func TestSeparateValuesUpgrade(t *testing.T) {
	fs := vfs.NewMem()
	big := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%04d", i), 200) } // 800 bytes
	db, err := Open("db", fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := db.Set(fmt.Appendf(nil, "old/%04d", i), big(i), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		db, err = Open("db", fs, nil, SeparateValues(256))
		if err != nil {
			t.Fatal(err)
		}
		if v := db.FormatMajorVersion(); v < pebble.FormatValueSeparation {
			t.Fatalf("format %s after opening with SeparateValues", v)
		}
		if round == 0 {
			b := db.NewBatch()
			for i := 0; i < 2000; i++ {
				b.Set(fmt.Appendf(nil, "new/%04d", i), big(i), nil)
			}
			if err := b.Commit(pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			if m := db.Metrics(); m.Total().BlobBytesFlushed == 0 {
				t.Fatalf("no value went to a blob file:\n%s", m)
			}
		}
		for _, p := range []struct {
			prefix string
			n      int
		}{{"old", 100}, {"new", 2000}} {
			for i := 0; i < p.n; i++ {
				v, closer, err := db.Get(fmt.Appendf(nil, "%s/%04d", p.prefix, i))
				if err != nil {
					t.Fatalf("round %d, %s/%04d: %v", round, p.prefix, i, err)
				}
				if !bytes.Equal(v, big(i)) {
					t.Fatalf("round %d, %s/%04d: wrong value", round, p.prefix, i)
				}
				closer.Close()
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
