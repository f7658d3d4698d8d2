package schema

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Bounds on the work one row can cost. A row is judged in one goroutine of
// the validator that nothing can interrupt, and every tenant's rows queue
// behind it, so the cost of the worst row a schema allows must be small:
// the cell, the items of a list and the patterns are bounded here, and a
// schema that could exceed the bounds is refused when it is registered.
const (
	// MaxCellBytes is the longest cell the validator reads (after trimming
	// spaces), of any type: a longer one fails its row before any parsing.
	// Real cells (names, addresses, notes, a JSON object of attributes)
	// are far shorter; the file reader's own limit (1 MiB) is there to
	// bound memory, this one bounds work.
	MaxCellBytes = 64 << 10
	// DefaultMaxItems is the max_items of a list field that sets none.
	DefaultMaxItems = 100
	// MaxItemsLimit is the largest max_items a list field may set.
	MaxItemsLimit = 1000
	// MaxHandleItems is the largest max_items of a key field of a match_any
	// schema: every item is a handle the deduplicator looks up and claims.
	MaxHandleItems = DefaultMaxItems

	// MaxPatternLength is the longest pattern (in bytes) a field may set.
	MaxPatternLength = 1000
	// MaxPatternInsts bounds the compiled size of a schema's patterns, all
	// fields together. Go's regexp runs in time linear in the input, but
	// also in the size of the compiled program: a short pattern such as
	// (?:a?){1000} compiles to thousands of instructions.
	MaxPatternInsts = 10000
	// MaxPatternWork bounds the pattern matching of one row: the sum over
	// the schema's pattern fields of instructions times the most characters
	// the field can hold (the matcher takes one step per character). The
	// worst case measured is about 30 ns per instruction and character
	// (BenchmarkWorstRow), so a row costs at most about 60 ms of matching.
	MaxPatternWork = 2 << 20
)

// Codes of the problems the bounds report, for clients that act on them.
const (
	CodeCellTooLong  = "cell_too_long"
	CodeTooManyItems = "too_many_items"
)

// compilePattern compiles a field's pattern and returns it with the size of
// its program, refusing patterns that are too long or compile too large.
func compilePattern(pattern string) (*regexp.Regexp, int, error) {
	if len(pattern) > MaxPatternLength {
		return nil, 0, fmt.Errorf("pattern is %d characters long; at most %d are allowed", len(pattern), MaxPatternLength)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, 0, fmt.Errorf("pattern: %w", err)
	}
	// regexp.Compile parses with syntax.Perl and compiles the simplified
	// expression; the same steps give the size of the program it runs.
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, 0, fmt.Errorf("pattern: %w", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, 0, fmt.Errorf("pattern: %w", err)
	}
	if n := len(prog.Inst); n > MaxPatternInsts {
		return nil, 0, fmt.Errorf("pattern compiles to %d instructions; at most %d are allowed (simplify it: repeats such as {1000} multiply its size)", n, MaxPatternInsts)
	}
	return re, len(prog.Inst), nil
}

// maxItems is the most items a list field accepts.
func (f *Field) maxItems() int {
	if f.MaxItems > 0 {
		return f.MaxItems
	}
	return DefaultMaxItems
}

// longestValue is the most characters of value a field's pattern can be
// matched against in one cell: the cell limit, or less when max_length
// (for a list, per item) says so.
func (f *Field) longestValue() int {
	n := MaxCellBytes
	if f.MaxLength > 0 {
		per := f.MaxLength
		if f.Type == TypeList {
			per *= f.maxItems()
		}
		n = min(n, per)
	}
	return n
}

// checkBounds refuses a schema whose worst row would cost more than the
// bounds allow; fields are compiled.
func (s *Schema) checkBounds() error {
	insts, work := 0, 0
	for i := range s.Fields {
		f := &s.Fields[i]
		if f.c.pattern == nil {
			continue
		}
		insts += f.c.patternInsts
		work += f.c.patternInsts * f.longestValue()
	}
	if insts > MaxPatternInsts {
		return fmt.Errorf("schema %s: the patterns compile to %d instructions together; at most %d are allowed", s.Name, insts, MaxPatternInsts)
	}
	if work > MaxPatternWork {
		return fmt.Errorf("schema %s: matching the patterns against the longest values the fields allow would take too long (%d instructions times characters; at most %d): set a smaller max_length on the fields with patterns, or simplify the patterns",
			s.Name, work, MaxPatternWork)
	}
	if s.MatchAny {
		for _, k := range s.Keys {
			f := &s.Fields[s.byName[k]]
			if f.Type == TypeList && f.maxItems() > MaxHandleItems {
				return fmt.Errorf("schema %s: field %s: max_items %d: a handle field allows at most %d", s.Name, k, f.MaxItems, MaxHandleItems)
			}
		}
	}
	return nil
}
