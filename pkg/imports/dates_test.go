package imports

import (
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/schema"
)

func datesSchema(t *testing.T) *schema.Schema {
	t.Helper()
	s, err := schema.Parse([]byte(`{"name": "people", "keys": ["email"], "fields": [
		{"name": "email", "type": "email"}, {"name": "birthday", "type": "date"},
		{"name": "joined", "type": "date"}, {"name": "renewal", "type": "date", "formats": ["eu"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type rowsReader struct {
	header []string
	rows   [][]string
	err    error // after the rows; io.EOF if nil
	read   int
}

func (r *rowsReader) Header() []string { return r.header }
func (r *rowsReader) Next() (filereader.Row, error) {
	if len(r.rows) == 0 {
		if r.err != nil {
			return filereader.Row{}, r.err
		}
		return filereader.Row{}, io.EOF
	}
	r.read++
	row := filereader.Row{Number: r.read + 1, Cells: r.rows[0]}
	r.rows = r.rows[1:]
	return row, nil
}

// Each date column is decided from the evidence across it, unless the
// import gives date_format or the field has formats of its own; only an
// ambiguous column is warned about; a replay's resolved formats stand.
func TestDecideDates(t *testing.T) {
	header := []string{"email", "birthday", "joined", "renewal"}
	cases := []struct {
		name     string
		opts     envelope.Options
		rows     [][]string
		formats  map[string]string
		warnings []string // fields warned about
	}{
		{"dd/mm evidence", envelope.Options{}, [][]string{{"a@x", "03/07/2024", "", "03/07/2024"}, {"b@x", "13/03/2024", "", ""}}, map[string]string{"birthday": "dmy"}, nil},
		{"mm/dd evidence", envelope.Options{}, [][]string{{"a@x", "03/07/2024", "2024-01-01", ""}, {"b@x", "03/13/2024", "", ""}}, map[string]string{"birthday": "mdy"}, nil},
		{"mixed", envelope.Options{}, [][]string{{"a@x", "13/03/2024", "", ""}, {"b@x", "03/13/2024", "", ""}}, map[string]string{"birthday": "mdy"}, []string{"birthday"}},
		{"none", envelope.Options{}, [][]string{{"a@x", "03/07/2024", "01/02/2024", ""}}, map[string]string{"birthday": "mdy", "joined": "mdy"}, []string{"birthday", "joined"}},
		{"no values to decide", envelope.Options{}, [][]string{{"a@x", "2024-03-07", "", "13/03/2024"}}, nil, nil},
		{"explicit format", envelope.Options{DateFormat: "dmy"}, [][]string{{"a@x", "03/13/2024", "", ""}}, map[string]string{"birthday": "dmy", "joined": "dmy", "renewal": "dmy"}, nil},
		{"a replay keeps its formats", envelope.Options{DateFormats: map[string]string{"birthday": "dmy"}}, [][]string{{"a@x", "03/13/2024", "", ""}}, map[string]string{"birthday": "dmy"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			var s Service
			sch := datesSchema(t)
			rd := s.decideDates(sch, &opts, &rowsReader{header: header, rows: c.rows}, planOf(t, sch, header))
			if !reflect.DeepEqual(opts.DateFormats, c.formats) {
				t.Errorf("date_formats %v, want %v", opts.DateFormats, c.formats)
			}
			var warned []string
			for _, w := range opts.Warnings {
				if w.Code != envelope.WarnAmbiguousDate || w.Message == "" {
					t.Errorf("warning %+v", w)
				}
				warned = append(warned, w.Field)
			}
			if !reflect.DeepEqual(warned, c.warnings) {
				t.Errorf("warnings for %v, want %v", warned, c.warnings)
			}
			n := 0
			for {
				if _, err := rd.Next(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != len(c.rows) {
				t.Errorf("%d rows read after deciding, want all %d", n, len(c.rows))
			}
		})
	}
}

// The rows read ahead come back in order, then the rest of the file, and
// a read error ends the rows where the file did.
func TestLookaheadGivesBackEveryRow(t *testing.T) {
	rows := make([][]string, dateLookaheadRows+3)
	for i := range rows {
		rows[i] = []string{"x", "13/03/2024"}
	}
	broken := errors.New("broken file")
	la, ev := readAhead(&rowsReader{header: []string{"email", "birthday"}, rows: rows, err: broken}, []bool{false, true}, func(cells []string) []string { return cells })
	if ev[1].DayFirst != dateLookaheadRows || ev[0].DayFirst != 0 {
		t.Fatalf("evidence %+v, want the read-ahead rows of the date column only", ev)
	}
	last := 0
	for i := 0; ; i++ {
		row, err := la.Next()
		if err != nil {
			if !errors.Is(err, broken) || i != len(rows) {
				t.Fatalf("after %d rows: %v, want the file's error after all %d", i, err, len(rows))
			}
			break
		}
		if row.Number <= last {
			t.Fatalf("row %d after row %d", row.Number, last)
		}
		last = row.Number
	}
}

// The read-ahead of an upload with one date column to decide: its
// 10,000 rows are read, weighed and held before the first chunk is published.
func BenchmarkDecideDates(b *testing.B) {
	s, err := schema.Parse([]byte(`{"name": "people", "keys": ["email"], "fields": [
		{"name": "email", "type": "email"}, {"name": "name", "type": "string"}, {"name": "birthday", "type": "date"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]string, dateLookaheadRows)
	for i := range rows {
		rows[i] = []string{"someone@example.com", "Some One", "03/07/2024"}
	}
	plan := planOf(b, s, []string{"email", "name", "birthday"})
	b.ReportAllocs()
	for b.Loop() {
		var svc Service
		opts := envelope.Options{}
		svc.decideDates(s, &opts, &rowsReader{header: []string{"email", "name", "birthday"}, rows: rows}, plan)
	}
}

// planOf maps header onto sch as an import without a mapping of its own does.
func planOf(tb testing.TB, sch *schema.Schema, header []string) *mapping.Plan {
	tb.Helper()
	p, err := mapping.Decide(sch, header, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// A date column the import's mapping sends to a date field is weighed as
// that field: the evidence is read from the cells as the validator maps them.
func TestDecideDatesThroughTheMapping(t *testing.T) {
	sch := datesSchema(t)
	header := []string{"email", "Born"}
	field := "birthday"
	plan, err := mapping.Decide(sch, header, mapping.Given{"Born": &field})
	if err != nil {
		t.Fatal(err)
	}
	var s Service
	opts := envelope.Options{}
	s.decideDates(sch, &opts, &rowsReader{header: header, rows: [][]string{{"a@x", "03/07/2024"}, {"b@x", "13/03/2024"}}}, plan)
	if !reflect.DeepEqual(opts.DateFormats, map[string]string{"birthday": "dmy"}) || len(opts.Warnings) != 0 {
		t.Fatalf("date_formats %v, warnings %v; want birthday read day first from the Born column", opts.DateFormats, opts.Warnings)
	}
}
