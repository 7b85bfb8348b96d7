package store

import (
	"fmt"
	"testing"
)

// Events are queued with a tagged id as 16 raw bytes and any other id as
// text, and read back the same, in order; a damaged row is an error.
func TestEventForms(t *testing.T) {
	ids := []string{
		"dep_00000000018b888d001d81cfd6ef329a", // tagged: 16 raw bytes
		"dep_0123456789abcdef01234567",         // from before block tags
		"dep_00000000018B888D001D81CFD6EF329A", // tag length, not lower-case hex: text
	}
	var b []byte
	for i, id := range ids {
		b = AppendOutboxEvent(b, uint64(100+i), &Deposit{ID: id, Status: StatusConfirmed})
	}
	if want := 3*13 + 16 + 28 + 36; len(b) != want {
		t.Fatalf("%d bytes, want %d", len(b), want)
	}
	var got []string
	for rest := b; len(rest) > 0; {
		tip, status, id, r, err := nextEvent(rest)
		if err != nil {
			t.Fatal(err)
		}
		got, rest = append(got, fmt.Sprintf("%d %s %s", tip, status, id)), r
	}
	if fmt.Sprint(got) != "[100 confirmed dep_00000000018b888d001d81cfd6ef329a 101 confirmed dep_0123456789abcdef01234567 102 confirmed dep_00000000018B888D001D81CFD6EF329A]" {
		t.Fatalf("read back %v", got)
	}
	for _, cut := range []int{1, 12, 20, len(b) - 1} {
		rest := b[:cut]
		var err error
		for len(rest) > 0 && err == nil {
			_, _, _, rest, err = nextEvent(rest)
		}
		if err == nil {
			t.Errorf("a row cut at %d bytes read without an error", cut)
		}
	}
}
