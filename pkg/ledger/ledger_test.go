package ledger

import (
	"reflect"
	"testing"
)

// NotedStages names exactly the stages whose notes cover a chunk, in a
// stable order, and nothing for chunks beyond any bitset.
func TestNotedStages(t *testing.T) {
	var s Summary
	s.MarkNoted("write", 3)
	s.MarkNoted("validate", 3)
	s.MarkNoted("validate", 9)
	s.MarkNoted("dead-dedup", 0)
	for _, tc := range []struct {
		chunk int
		want  []string
	}{
		{3, []string{"validate", "write"}},
		{9, []string{"validate"}},
		{0, []string{"dead-dedup"}},
		{1, nil},
		{1000, nil},
		{-1, nil},
	} {
		if got := s.NotedStages(tc.chunk); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("NotedStages(%d) = %v, want %v", tc.chunk, got, tc.want)
		}
	}
}
