package schema

import (
	"fmt"
	"strings"
	"testing"
)

func mustParse(t testing.TB, doc string) *Schema {
	t.Helper()
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateOne(t testing.TB, s *Schema, header []string, cells []string) (map[string]any, []FieldError) {
	t.Helper()
	hm, err := s.MapHeader(header)
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(hm, cells, "")
}

func usernames(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "u%d", i)
	}
	return b.String()
}

func TestListMaxItems(t *testing.T) {
	s := mustParse(t, `{"name": "t", "keys": ["k"], "fields": [
		{"name": "k", "type": "string"},
		{"name": "tags", "type": "list"},
		{"name": "roles", "type": "list", "max_items": 3}]}`)
	header := []string{"k", "tags", "roles"}

	// The default bound: 100 items pass, 101 fail, with the code.
	rec, errs := validateOne(t, s, header, []string{"a", usernames(DefaultMaxItems), ""})
	if len(errs) != 0 || len(rec["tags"].([]string)) != DefaultMaxItems {
		t.Fatalf("%d items: %+v", DefaultMaxItems, errs)
	}
	_, errs = validateOne(t, s, header, []string{"a", usernames(DefaultMaxItems + 1), ""})
	if len(errs) != 1 || errs[0].Field != "tags" || errs[0].Code != CodeTooManyItems ||
		!strings.HasSuffix(errs[0].Message, "has 101 items, at most 100 allowed") {
		t.Fatalf("101 items: %+v", errs)
	}

	// A schema's own bound; empty items (separators only) do not count.
	if _, errs := validateOne(t, s, header, []string{"a", "", "x,, y ,,z,"}); len(errs) != 0 {
		t.Errorf("3 items with empty ones: %+v", errs)
	}
	_, errs = validateOne(t, s, header, []string{"a", "", "w,x,y,z"})
	if len(errs) != 1 || errs[0].Code != CodeTooManyItems {
		t.Errorf("4 items over max_items 3: %+v", errs)
	}

	// A list with too many items is refused before its items are judged:
	// one problem, not one per bad item.
	_, errs = validateOne(t, s, header, []string{"a", "", "bad\x01,bad\x02,bad\x03,bad\x04"})
	if len(errs) != 1 || errs[0].Code != CodeTooManyItems {
		t.Errorf("4 bad items: %+v", errs)
	}
}

func TestMaxItemsOption(t *testing.T) {
	for doc, want := range map[string]string{
		`{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "list", "max_items": -1}]}`:                            "may not be negative",
		`{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "list", "max_items": 1001}]}`:                          "max_items 1001: at most 1000",
		`{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "string", "max_items": 2}]}`:                           "apply to list fields only",
		`{"name": "t", "keys": ["k"], "match_any": true, "fields": [{"name": "k", "type": "list", "max_items": 500}]}`:        "a handle field allows at most 100",
		`{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "list", "max_items": 2, "default": ["a", "b", "c"]}]}`: "has 3 items, at most 2 allowed",
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
	mustParse(t, `{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "list", "max_items": 1000}]}`)
}

func TestCellLength(t *testing.T) {
	s := mustParse(t, `{"name": "t", "keys": ["k"], "fields": [
		{"name": "k", "type": "string"},
		{"name": "notes", "type": "string"},
		{"name": "tags", "type": "list"},
		{"name": "attrs", "type": "json"}]}`)
	header := []string{"k", "notes", "tags", "attrs"}
	long := strings.Repeat("x", MaxCellBytes+1)
	longJSON := `{"a": "` + strings.Repeat("x", MaxCellBytes) + `"}`
	longList := strings.Repeat("x,", MaxCellBytes/2+1)
	if _, errs := validateOne(t, s, header, []string{"a", strings.Repeat("x", MaxCellBytes), "", ""}); len(errs) != 0 {
		t.Fatalf("a cell of exactly the limit: %+v", errs)
	}
	// Surrounding spaces are trimmed before the cell is measured.
	if _, errs := validateOne(t, s, header, []string{"a", "  " + strings.Repeat("x", MaxCellBytes) + "  ", "", ""}); len(errs) != 0 {
		t.Fatalf("spaces around a cell of the limit: %+v", errs)
	}
	rec, errs := validateOne(t, s, header, []string{"a", long, longList, longJSON})
	if len(errs) != 3 {
		t.Fatalf("three long cells: %+v", errs)
	}
	for i, field := range []string{"notes", "tags", "attrs"} {
		e := errs[i]
		if e.Field != field || e.Code != CodeCellTooLong || !strings.Contains(e.Message, "a cell may hold at most 65536") {
			t.Errorf("%s: %+v", field, e)
		}
		if len(e.Message) > 200 {
			t.Errorf("%s: the message quotes the cell: %d bytes", field, len(e.Message))
		}
	}
	if rec["k"] != "a" {
		t.Errorf("the other cells are still judged: %v", rec)
	}
	// A bound no cell can reach is refused.
	if _, err := Parse([]byte(`{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "string", "max_length": 100000}]}`)); err == nil ||
		!strings.Contains(err.Error(), "may not be above 65536") {
		t.Errorf("max_length 100000: %v", err)
	}
}

// hostilePattern is the pattern of the report: (?:a?){1000} repeated, then b.
func hostilePattern(repeats int) string {
	return strings.Repeat("(?:a?){1000}", repeats) + "b"
}

func TestPatternLimits(t *testing.T) {
	field := func(pattern string, extra string) string {
		q := strings.ReplaceAll(strings.ReplaceAll(pattern, `\`, `\\`), `"`, `\"`)
		return `{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "string", "pattern": "` + q + `"` + extra + `}]}`
	}
	for _, c := range []struct{ pattern, extra, want string }{
		{hostilePattern(100), "", "pattern is 1201 characters long; at most 1000 are allowed"},
		{hostilePattern(20), "", "instructions; at most 10000 are allowed"},
		{"(?:a?){1000}b", "", "set a smaller max_length"},
		{"(?:a?){1000}b", `, "max_length": 2000`, "set a smaller max_length"},
	} {
		_, err := Parse([]byte(field(c.pattern, c.extra)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40s%s: %v, want %q", c.pattern, c.extra, err, c.want)
		}
	}
	// The same pattern is allowed on a field whose values are short enough.
	s := mustParse(t, field("(?:a?){1000}b", `, "max_length": 200`))
	if _, errs := validateOne(t, s, []string{"k"}, []string{"aab"}); len(errs) != 0 {
		t.Errorf("short value: %+v", errs)
	}
	// Patterns of ordinary size need no max_length.
	mustParse(t, field(`^[A-Z]{2}-\d{4,8}$`, ""))
	mustParse(t, field(`^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$`, ""))

	// The budget is for the schema's patterns together.
	var fields []string
	for i := range 12 {
		fields = append(fields, fmt.Sprintf(`{"name": "f%d", "type": "string", "pattern": "^[a-z]+[0-9]*[a-z]*$"}`, i))
	}
	_, err := Parse([]byte(`{"name": "t", "keys": ["f0"], "fields": [` + strings.Join(fields, ",") + `]}`))
	if err == nil || !strings.Contains(err.Error(), "set a smaller max_length") {
		t.Errorf("12 pattern fields of 64 KiB: %v", err)
	}
}

// Every built-in schema is within the bounds (Parse would refuse it).
func TestBuiltinSchemasWithinBounds(t *testing.T) {
	if len(loadEntities(t)) == 0 {
		t.Fatal("no built-in schemas")
	}
}

// worstPersonsRow is the most expensive persons row the bounds accept:
// every list at its item bound, each item at its max_length (emails and
// phone numbers valid, so each is parsed to the end), and an attributes
// object at the cell limit, nested to the depth limit.
func worstPersonsRow(tb testing.TB, s *Schema) ([]string, []string) {
	tb.Helper()
	items := func(f func(i int) string) string {
		parts := make([]string, DefaultMaxItems)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	local := strings.Repeat("a", 64-4) // the longest local part (64) with a 4-digit suffix
	emails := items(func(i int) string { return fmt.Sprintf("%s%04d@%s.example", local, i, strings.Repeat("d", 150)) })
	phones := items(func(i int) string { return fmt.Sprintf("+1 415 555 %04d", i) })
	users := items(func(i int) string { return fmt.Sprintf("%04d%s", i, strings.Repeat("u", 251)) })
	groups := items(func(i int) string { return fmt.Sprintf("%04d%s", i, strings.Repeat("g", 251)) })
	nested := strings.Repeat(`{"a":`, MaxJSONDepth-2) + "1" + strings.Repeat("}", MaxJSONDepth-2)
	var attrs strings.Builder
	attrs.WriteString(`{"end_user_read_write": {"deep": ` + nested)
	for i := 0; attrs.Len() < MaxCellBytes-200; i++ {
		fmt.Fprintf(&attrs, `, "k%d": "%s"`, i, strings.Repeat("v", 100))
	}
	attrs.WriteString("}}")
	header := []string{"slashid:emails", "slashid:phone_numbers", "slashid:usernames", "slashid:region", "slashid:groups", "slashid:attributes"}
	cells := []string{emails, phones, users, "europe-belgium", groups, attrs.String()}
	for i, c := range cells {
		if len(c) > MaxCellBytes {
			tb.Fatalf("%s: %d bytes, over the cell limit", header[i], len(c))
		}
	}
	return header, cells
}

// The worst row the bounds accept is accepted whole and carries at most
// the bounded number of handles (the deduplicator's and the writer's work
// per row); one over a bound is refused with one problem before its items
// are parsed. BenchmarkWorstRow shows the time per such row.
func TestWorstRowIsBounded(t *testing.T) {
	s := loadEntities(t)["persons"]
	header, cells := worstPersonsRow(t, s)
	rec, errs := validateOne(t, s, header, cells)
	if len(errs) != 0 {
		t.Fatalf("worst accepted row: %+v", errs)
	}
	if h := s.Handles(rec); len(h) != 3*MaxHandleItems {
		t.Errorf("%d handles, want %d", len(h), 3*MaxHandleItems)
	}
	// The report's row: 100,000 usernames (800 KB, over the cell limit
	// too) and, within the cell limit, 10,000 of them.
	for _, n := range []int{100000, 10000} {
		cells := []string{"", "", usernames(n), "", "", ""}
		_, errs := validateOne(t, s, header, cells)
		if len(errs) != 1 || errs[0].Field != "usernames" || (errs[0].Code != CodeTooManyItems && errs[0].Code != CodeCellTooLong) {
			t.Errorf("%d usernames: %+v", n, errs)
		}
	}
}

func BenchmarkWorstRow(b *testing.B) {
	persons := loadEntities(b)["persons"]
	header, cells := worstPersonsRow(b, persons)
	hm, err := persons.MapHeader(header)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("persons_accepted", func(b *testing.B) {
		for b.Loop() {
			if _, errs := persons.Validate(hm, cells, ""); len(errs) != 0 {
				b.Fatal(errs)
			}
		}
	})
	tooMany := []string{"", "", usernames(10000), "", "", ""}
	b.Run("persons_10000_usernames_refused", func(b *testing.B) {
		for b.Loop() {
			persons.Validate(hm, tooMany, "")
		}
	})
	// The most expensive pattern work the bounds allow in one cell: a
	// pattern of about 2,000 instructions on a value of max_length 1000.
	s := mustParse(b, `{"name": "t", "keys": ["k"], "fields": [{"name": "k", "type": "string", "max_length": 1000, "pattern": "(?:a?){1000}b"}]}`)
	phm, _ := s.MapHeader([]string{"k"})
	value := []string{strings.Repeat("a", 1000)}
	b.Run("pattern_at_budget", func(b *testing.B) {
		for b.Loop() {
			s.Validate(phm, value, "")
		}
	})
}
