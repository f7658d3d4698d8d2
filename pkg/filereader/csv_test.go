package filereader

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func readAll(t testing.TB, in string, opts CSVOptions) ([]string, []Row) {
	t.Helper()
	r, err := NewCSV(strings.NewReader(in), opts)
	if err != nil {
		t.Fatalf("NewCSV: %v", err)
	}
	return r.Header(), drainRows(t, r)
}

// drainRows reads rd to its end.
func drainRows(t testing.TB, rd Reader) []Row {
	t.Helper()
	var rows []Row
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rows = append(rows, row)
	}
}

// rowNumbers lists the rows' numbers, in order.
func rowNumbers(rows []Row) []int {
	var numbers []int
	for _, r := range rows {
		numbers = append(numbers, r.Number)
	}
	return numbers
}

func TestCSVRowNumbersMatchSpreadsheet(t *testing.T) {
	in := "\ufeffname,email\r\n" + // BOM and CRLF
		"Ann,ann@example.com\r\n" + // row 2
		"\r\n" + // row 3: blank line
		"\"Bob\nSmith\",bob@example.com\r\n" + // row 4: one row over two lines
		",\r\n" + // row 5: all cells empty
		"Cid,cid@example.com\r\n" // row 6
	header, rows := readAll(t, in, CSVOptions{})
	if !reflect.DeepEqual(header, []string{"name", "email"}) {
		t.Fatalf("header = %q", header)
	}
	if got, want := rowNumbers(rows), []int{2, 4, 6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("row numbers = %v, want %v", got, want)
	}
	if rows[1].Cells[0] != "Bob\nSmith" {
		t.Fatalf("multi-line cell = %q", rows[1].Cells[0])
	}
}

func TestCSVMalformedRowFailsOnlyThatRow(t *testing.T) {
	in := "name,email\nAnn,ann@example.com\nB\"ob,bob@example.com\nCid,cid@example.com\n"
	_, rows := readAll(t, in, CSVOptions{})
	if len(rows) != 3 {
		t.Fatalf("rows = %d, want 3: %+v", len(rows), rows)
	}
	if rows[1].Err == nil || rows[1].Number != 3 {
		t.Fatalf("row 3 should fail to parse: %+v", rows[1])
	}
	if rows[2].Err != nil || rows[2].Number != 4 || rows[2].Cells[0] != "Cid" {
		t.Fatalf("row 4 should read fine: %+v", rows[2])
	}
}

func TestCSVRaggedRowsAreKept(t *testing.T) {
	_, rows := readAll(t, "a,b\n1\n1,2,3\n", CSVOptions{})
	if len(rows[0].Cells) != 1 || len(rows[1].Cells) != 3 {
		t.Fatalf("ragged rows must reach the validator as they are: %+v", rows)
	}
}

func TestCSVDelimiterAndCellLimit(t *testing.T) {
	_, rows := readAll(t, "a;b\n1;"+strings.Repeat("x", 20)+"\n", CSVOptions{Delimiter: ';', MaxCellBytes: 10})
	if rows[0].Err == nil || !strings.Contains(rows[0].Err.Error(), "longer than 10 bytes") {
		t.Fatalf("want a cell-size error, got %+v", rows[0])
	}
}

func TestCSVEmptyFile(t *testing.T) {
	for _, in := range []string{"", "\ufeff"} {
		if _, err := NewCSV(strings.NewReader(in), CSVOptions{}); !errors.Is(err, ErrEmpty) {
			t.Fatalf("NewCSV(%q) = %v, want ErrEmpty", in, err)
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("name,email\nAnn,ann@example.com\n"))
	f.Add([]byte("a,b\n\"x\ny\",2\n\n,\n"))
	f.Add([]byte("a\n\"unterminated\n"))
	f.Add([]byte("sep=;\r\na;b\r\n1;2\r\n"))
	f.Add([]byte("a|b\r1|2\r\r3|4\r"))
	f.Add([]byte("\ufeffname\tcity\r\nAnn\tK\xc3\xb6ln\r\n"))
	f.Add([]byte("name;city\r\nM\xfcller;K\xf6ln\r\n"))
	f.Add(utf16Bytes("\ufeffname\tcity\r\nAnn\tK\u00f6ln\r\n", false))
	f.Add(utf16Bytes("\ufeffa,b\n1,2\n", true))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte(linkedInPreamble + "a,b\n1,2\n"))
	f.Add([]byte("Notes:\n\"x\ny\"\na;b;c\n1;2\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rd, cleanup, err := Open(bytes.NewReader(in), Options{Format: FormatCSV, MaxCellBytes: 64, MaxColumns: 16})
		defer cleanup()
		checkReader(t, rd, err, 10000, 64, 16)
	})
}

// checkReader holds what any reader promises for any input: an error or a
// reader, never both; UTF-8 header and cells; increasing row numbers; no
// cell over maxCell bytes; no row with more than maxCols cells unless it
// says why (0: not checked). It reads at most rows rows.
func checkReader(t *testing.T, rd Reader, err error, rows, maxCell, maxCols int) {
	t.Helper()
	if err != nil {
		if rd != nil {
			t.Fatal("a reader and an error")
		}
		return
	}
	for _, h := range rd.Header() {
		if !utf8.ValidString(h) {
			t.Fatalf("header cell %q is not UTF-8", h)
		}
	}
	last := 1
	for i := 0; i < rows; i++ {
		row, err := rd.Next()
		if err != nil {
			return
		}
		if row.Number <= last {
			t.Fatalf("row numbers must increase: %d after %d", row.Number, last)
		}
		last = row.Number
		if maxCols > 0 && row.Err == nil && len(row.Cells) > maxCols {
			t.Fatalf("row %d has %d cells, over MaxColumns", row.Number, len(row.Cells))
		}
		for _, c := range row.Cells {
			if !utf8.ValidString(c) || len(c) > maxCell {
				t.Fatalf("row %d: cell %q is not UTF-8 or over MaxCellBytes", row.Number, c)
			}
		}
	}
}

func TestNewCSVCompatibility(t *testing.T) {
	// Detection and encodings reach NewCSV callers too.
	header, rows := readAll(t, string(testdata(t, "excel_de_semicolon_1252.csv")), CSVOptions{})
	if !reflect.DeepEqual(header, []string{"Name", "Straße", "Ort", "Betrag"}) || rows[0].Cells[0] != "Müller" {
		t.Fatalf("header %q, first row %q", header, rows[0].Cells)
	}
	// Any delimiter rune encoding/csv accepts.
	header, rows = readAll(t, "a:b\n1:2\n", CSVOptions{Delimiter: ':'})
	if len(header) != 2 || !reflect.DeepEqual(rows[0].Cells, []string{"1", "2"}) {
		t.Fatalf("header %q, rows %+v", header, rows)
	}
	// An XLSX upload needs Open.
	if _, err := NewCSV(strings.NewReader("PK\x03\x04..."), CSVOptions{}); !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("NewCSV(xlsx) = %v", err)
	}
}
