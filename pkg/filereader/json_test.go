package filereader

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// readText opens in and reads every row.
func readText(t *testing.T, in string, opts Options) ([]string, []Row) {
	t.Helper()
	rd, cleanup, err := Open(strings.NewReader(in), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer cleanup()
	return rd.Header(), drainRows(t, rd)
}

// cellsByName is a row's non-empty cells by column, for comparisons.
func cellsByName(header []string, row Row) map[string]string {
	m := map[string]string{}
	for i, c := range row.Cells {
		if c != "" {
			m[header[i]] = c
		}
	}
	return m
}

func TestJSONArray(t *testing.T) {
	in := `[
	  {"name": "Ann", "email": "ann@example.com", "address": {"city": "Köln", "geo": {"lat": 50.9}}},
	  {"name": "Bob", "tags": ["a", 2, true, null], "vip": false, "phone": null},
	  {},
	  "not an object",
	  {"name": "Cy", "kids": [{"name": "x"}]},
	  {"email": "dee@example.com", "name": "Dee"}
	]`
	header, rows := readText(t, in, Options{})
	// A failed item (5) adds no column.
	wantHeader := []string{"name", "email", "address.city", "address.geo.lat", "tags", "vip", "phone"}
	if !reflect.DeepEqual(header, wantHeader) {
		t.Fatalf("header %q, want %q", header, wantHeader)
	}
	// Item numbers; the empty item 3 is skipped and keeps its number.
	if numbers := rowNumbers(rows); !reflect.DeepEqual(numbers, []int{1, 2, 4, 5, 6}) {
		t.Fatalf("row numbers %v", numbers)
	}
	if got := cellsByName(header, rows[0]); !reflect.DeepEqual(got, map[string]string{"name": "Ann", "email": "ann@example.com", "address.city": "Köln", "address.geo.lat": "50.9"}) {
		t.Fatalf("row 1: %v", got)
	}
	if got := cellsByName(header, rows[1]); !reflect.DeepEqual(got, map[string]string{"name": "Bob", "tags": "a ::: 2 ::: true", "vip": "false"}) {
		t.Fatalf("row 2: %v", got)
	}
	if rows[2].Err == nil || !strings.Contains(rows[2].Err.Error(), "a string, not an object") {
		t.Fatalf("row 4: %v", rows[2].Err)
	}
	if rows[3].Err == nil || !strings.Contains(rows[3].Err.Error(), "kids: an array of objects") {
		t.Fatalf("row 5: %v", rows[3].Err)
	}
	if got := cellsByName(header, rows[4]); rows[4].Err != nil || got["email"] != "dee@example.com" || got["name"] != "Dee" {
		t.Fatalf("row 6: %v %v", got, rows[4].Err)
	}
}

func TestJSONKeyAfterLookahead(t *testing.T) {
	in := `[{"email": "a@example.com"}, {"email": "b@example.com", "phone": null}, {"email": "c@example.com", "name": "Cy"}, {"email": "d@example.com", "phone": "+14155550123"}]`
	header, rows := readText(t, in, Options{HeaderLookahead: 2})
	if !reflect.DeepEqual(header, []string{"email", "phone"}) {
		t.Fatalf("header %q", header)
	}
	if !errors.Is(rows[2].Err, ErrUnknownColumn) || !strings.Contains(rows[2].Err.Error(), `"name"`) || rows[2].Number != 3 {
		t.Fatalf("row 3: %+v", rows[2])
	}
	// A key met in the look-ahead, even as null, is a column.
	if rows[3].Err != nil || cellsByName(header, rows[3])["phone"] != "+14155550123" {
		t.Fatalf("row 4: %+v", rows[3])
	}
}

func TestJSONDuplicateAndDeep(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	in := `[{"a": {"b": 1}, "a.b": 2}, {"x": ` + deep + `}, {"a.b": "ok"}]`
	_, rows := readText(t, in, Options{})
	if len(rows) != 3 || rows[0].Err == nil || !strings.Contains(rows[0].Err.Error(), "twice") {
		t.Fatalf("duplicate: %+v", rows)
	}
	if rows[1].Err == nil || !strings.Contains(rows[1].Err.Error(), "nested more than") {
		t.Fatalf("deep: %+v", rows[1])
	}
	if rows[2].Err != nil || rows[2].Number != 3 {
		t.Fatalf("after: %+v", rows[2])
	}
}

func TestJSONBrokenAndHostile(t *testing.T) {
	// Invalid JSON part-way: the rows before it, then an error naming the item.
	rd, cleanup, err := Open(strings.NewReader(`[{"a": 1}, {"a": 2}, {"a": ]`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	for i := 1; i <= 2; i++ {
		if row, err := rd.Next(); err != nil || row.Number != i {
			t.Fatalf("row %d: %+v %v", i, row, err)
		}
	}
	if _, err := rd.Next(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "item 3") {
		t.Fatalf("broken item: %v", err)
	}
	// One enormous string is refused without reading it whole.
	huge := `[{"a": "` + strings.Repeat("x", 3<<20) + `"}]`
	_, _, err = Open(strings.NewReader(huge), Options{MaxRowBytes: 1 << 20})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "item 1") {
		t.Fatalf("huge item: %v", err)
	}
	// A long cell within the item bound fails its row only.
	_, rows := readText(t, `[{"a": "`+strings.Repeat("x", 100)+`"}, {"a": "ok"}]`, Options{MaxCellBytes: 64})
	if !errors.Is(rows[0].Err, ErrTooLarge) || rows[1].Err != nil {
		t.Fatalf("long cell: %+v", rows)
	}
	for _, c := range []struct{ in, want string }{
		{`[]`, "empty"},
		{`[1, 2]`, "not an object"},
		{`[{"a":1}] trailing`, "after the end"},
		{`[{"a":1}`, "not valid JSON"},
	} {
		rd, cleanup, err := Open(strings.NewReader(c.in), Options{})
		for err == nil {
			_, err = rd.Next()
		}
		cleanup()
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.in, err, c.want)
		}
	}
	// Too many distinct keys in the look-ahead refuse the file, as a wide header does.
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"k` + strings.Repeat("x", i) + `": 1}`)
	}
	b.WriteString("]")
	if _, _, err := Open(&b, Options{MaxColumns: 10}); !errors.Is(err, ErrTooManyColumns) {
		t.Fatalf("wide: %v", err)
	}
}

func TestNDJSON(t *testing.T) {
	in := "{\"name\": \"Ann\", \"address\": {\"city\": \"X\"}}\r\n\n{\"name\": \"Bob\"\n[1]\n{\"name\": \"Cy\"} {\"name\": \"Dee\"}\n{\"name\": \"Eve\"}"
	header, rows := readText(t, in, Options{})
	if !reflect.DeepEqual(header, []string{"name", "address.city"}) {
		t.Fatalf("header %q", header)
	}
	if numbers := rowNumbers(rows); !reflect.DeepEqual(numbers, []int{1, 3, 4, 5, 6}) {
		t.Fatalf("line numbers %v", numbers)
	}
	if rows[0].Err != nil || cellsByName(header, rows[0])["address.city"] != "X" {
		t.Fatalf("line 1: %+v", rows[0])
	}
	for i, want := range map[int]string{1: "not valid JSON", 2: "not an object", 3: "more than one JSON value"} {
		if rows[i].Err == nil || !strings.Contains(rows[i].Err.Error(), want) {
			t.Errorf("line %d: %v, want %q", rows[i].Number, rows[i].Err, want)
		}
	}
	if rows[4].Err != nil || rows[4].Cells[0] != "Eve" {
		t.Fatalf("last line: %+v", rows[4])
	}
	// A line over the bound fails on its own; the next line is read.
	_, rows = readText(t, `{"a": "`+strings.Repeat("x", 200<<10)+"\"}\n{\"a\": \"ok\"}\n", Options{MaxRowBytes: 16 << 10})
	if len(rows) != 2 || !errors.Is(rows[0].Err, ErrTooLarge) || rows[1].Number != 2 || rows[1].Err != nil {
		t.Fatalf("long line: %+v", rows)
	}
}

func TestTextFormatDetection(t *testing.T) {
	for _, c := range []struct {
		in, format string
		want       error
	}{
		{"\ufeff  [{\"a\": 1}]", "", nil},
		{"{\"a\": 1}\n", FormatJSON, nil},
		{"[{\"a\": 1}]", FormatNDJSON, nil},
		{"a,b\n1,2\n", FormatJSON, ErrUnsupportedFormat},
		{"a,b\n1,2\n", FormatVCard, ErrUnsupportedFormat},
		{"begin:vcard\nFN:A\nend:vcard\n", "vcf", nil},
		{"{\"a\": 1}\n", "yaml", ErrUnsupportedFormat},
	} {
		_, cleanup, err := Open(strings.NewReader(c.in), Options{Format: c.format})
		cleanup()
		if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("%q as %q: %v, want %v", c.in, c.format, err, c.want)
		}
	}
	// JSON in UTF-16 with a byte order mark, as some Windows tools save it.
	rd, cleanup, err := Open(bytes.NewReader(utf16Bytes("\ufeff[{\"name\": \"Zoë\"}]", false)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if row, err := rd.Next(); err != nil || row.Cells[0] != "Zoë" {
		t.Fatalf("utf-16: %+v %v", row, err)
	}
	// Asked for CSV, a JSON file is CSV.
	if header, _ := readText(t, "{a},b\n1,2\n", Options{Format: FormatCSV}); len(header) != 2 {
		t.Fatalf("csv header %q", header)
	}
}

func TestJSONLookaheadBytes(t *testing.T) {
	// The look-ahead stops at its byte bound too: the third item's key
	// comes after it.
	in := `[{"a": "` + strings.Repeat("x", 100) + `"}, {"a": "` + strings.Repeat("y", 100) + `"}, {"a": "z", "b": "late"}, {"a": "w", "b": ""}]`
	header, rows := readText(t, in, Options{MaxLookaheadBytes: 150})
	if !reflect.DeepEqual(header, []string{"a"}) || len(rows) != 4 {
		t.Fatalf("header %q, rows %+v", header, rows)
	}
	if !errors.Is(rows[2].Err, ErrUnknownColumn) || !strings.Contains(rows[2].Err.Error(), `key "b" first appears after the first 2 items`) {
		t.Fatalf("row 3: %v", rows[2].Err)
	}
	// An empty value under an unknown key loses nothing and fails nothing.
	if rows[3].Err != nil || rows[3].Cells[0] != "w" {
		t.Fatalf("row 4: %+v", rows[3])
	}
}

// testFields keeps the objects of whole and joins the arrays of lists with
// their separators.
type testFields struct {
	whole map[string]bool
	lists map[string]string
}

func (f *testFields) KeepWhole(k string) bool       { return f.whole[k] }
func (f *testFields) ListSeparator(k string) string { return f.lists[k] }

func TestJSONKeepObject(t *testing.T) {
	schema := &testFields{whole: map[string]bool{"attributes": true, "meta.raw": true}, lists: map[string]string{"emails": ","}}
	in := `{"email": "a@example.com", "attributes": {"b": {"nick": "A \"q\"", "n": [1, 2.5, true, null]}, "e": {}}, "meta": {"raw": [{"x": 1}], "flat": "y"}}`
	header, rows := readText(t, in, Options{JSONFields: schema})
	got := cellsByName(header, rows[0])
	want := map[string]string{"email": "a@example.com", "attributes": `{"b":{"nick":"A \"q\"","n":[1,2.5,true,null]},"e":{}}`, "meta.raw": `[{"x":1}]`, "meta.flat": "y"}
	if rows[0].Err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q (%v), want %q", got, rows[0].Err, want)
	}
	// A list field's separator joins its array.
	header, rows = readText(t, `{"emails": ["a@x", "b@x"], "tags": ["t", "u"]}`, Options{JSONFields: schema})
	if got := cellsByName(header, rows[0]); got["emails"] != "a@x,b@x" || got["tags"] != "t ::: u" {
		t.Fatalf("joined: %q", got)
	}
}

func TestJSONLongKeyInMessage(t *testing.T) {
	long := strings.Repeat("k", 100<<10)
	_, rows := readText(t, `[{"a": 1}, {"`+long+`": [{"x": 1}]}]`, Options{})
	if rows[1].Err == nil || len(rows[1].Err.Error()) > 400 {
		t.Fatalf("message of %d bytes", len(rows[1].Err.Error()))
	}
}
