package store

import (
	"fmt"
	"slices"
	"testing"
)

// Index rows of tagged ids are written compactly, in runs of one tag, and
// read back in the order written; a row with any other id keeps the
// earlier form; the earlier forms still read; a damaged row is an error.
func TestIndexRowForms(t *testing.T) {
	tagged := []string{
		"dep_00000000018b888d001d81cfd6ef329a",
		"dep_00000000018b888d00ffffffffffffff",
		"dep_00000000018c00000000000000000001",
		"dep_00000000018b888d0000000000000000", // back to the first tag: a new run
	}
	key := []byte("DB/x\x00first")
	row := AppendIDs(nil, tagged)
	// A 0 byte, then three runs: 2 ids, 1 id, 1 id.
	if want := 1 + (8 + 1 + 2*8) + (8 + 1 + 8) + (8 + 1 + 8); len(row) != want {
		t.Fatalf("compact row of %d bytes, want %d", len(row), want)
	}
	got, err := IndexIDs(key, row, 4)
	if err != nil || !slices.Equal(got, tagged) {
		t.Fatalf("read back %v, %v", got, err)
	}

	mixed := []string{tagged[0], "dep_0123456789abcdef01234567", "dep_00000000018B888D001D81CFD6EF329A"}
	row = AppendIDs(nil, mixed)
	if row[0] != 36 {
		t.Fatalf("a row with an untagged id starts with %d, want the first id's length", row[0])
	}
	if got, err := IndexIDs(key, row, 4); err != nil || !slices.Equal(got, mixed) {
		t.Fatalf("read back %v, %v", got, err)
	}
	if got, err := IndexIDs([]byte("DM/m\x00\x00\x00\x00\x00\x00\x00\x00\x01dep_x"), nil, 13); err != nil || fmt.Sprint(got) != "[dep_x]" {
		t.Fatalf("a row of the one-id form read as %v, %v", got, err)
	}

	row = AppendIDs(nil, tagged)
	for _, cut := range []int{1, 5, 9, 12, len(row) - 1} {
		if got, err := IndexIDs(key, row[:cut], 4); err == nil {
			t.Errorf("a row cut at %d bytes read as %v", cut, got)
		}
	}
}

// A tagged id is dep_ and 32 lower-case hex digits; any other form is kept
// as text, so that it reads back as it was written.
func TestRawID(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"dep_00000000018b888d001d81cfd6ef329a", true},
		{"dep_ffffffffffffffffffffffffffffffff", true},
		{"dep_00000000018B888D001D81CFD6EF329A", false}, // upper case
		{"dep_00000000018b888d001d81cfd6ef329g", false},
		{"dep_00000000018b888d001d81cfd6ef329:", false}, // the byte after '9'
		{"dep_00000000018b888d001d81cfd6ef329`", false}, // the byte before 'a'
		{"dep_00000000018b888d001d81cfd6ef329", false},
		{"dep_0123456789abcdef01234567", false}, // an id from before block tags
		{"xyz_00000000018b888d001d81cfd6ef329a", false},
	} {
		raw, ok := rawID(c.id)
		if ok != c.ok {
			t.Errorf("rawID(%q) ok = %v, want %v", c.id, ok, c.ok)
			continue
		}
		if ok && IDOfRaw(raw[:]) != c.id {
			t.Errorf("rawID(%q) = %x, which spells %s", c.id, raw, IDOfRaw(raw[:]))
		}
	}
}
