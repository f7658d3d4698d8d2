package filereader

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

// result is everything a file reads to: the header, the rows, and the error
// from Open or the first error from Next.
type result struct {
	header []string
	rows   []Row
	err    error
}

func openAll(t testing.TB, data []byte, opts Options) result {
	t.Helper()
	rd, cleanup, err := Open(bytes.NewReader(data), opts)
	if cleanup == nil {
		t.Fatal("Open returned a nil cleanup")
	}
	defer func() {
		if err := cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := cleanup(); err != nil { // safe to call again
			t.Errorf("second cleanup: %v", err)
		}
	}()
	if err != nil {
		if rd != nil {
			t.Fatalf("Open returned a reader and an error %v", err)
		}
		return result{err: err}
	}
	res := result{header: rd.Header()}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		res.rows = append(res.rows, row)
	}
}

// wantRow is an expected row: its number and cells, or a part of its error.
type wantRow struct {
	n     int
	cells []string
	err   string
}

func checkResult(t *testing.T, got result, header []string, rows []wantRow, wantErr error, errText string) {
	t.Helper()
	if wantErr != nil || errText != "" {
		if got.err == nil {
			t.Fatalf("no error, want %v %q; header %q rows %+v", wantErr, errText, got.header, got.rows)
		}
		if wantErr != nil && !errors.Is(got.err, wantErr) {
			t.Fatalf("error %q is not %v", got.err, wantErr)
		}
		if !strings.Contains(got.err.Error(), errText) {
			t.Fatalf("error %q does not say %q", got.err, errText)
		}
		return
	}
	if got.err != nil {
		t.Fatalf("error: %v", got.err)
	}
	if !reflect.DeepEqual(got.header, header) {
		t.Fatalf("header = %q, want %q", got.header, header)
	}
	if len(got.rows) != len(rows) {
		t.Fatalf("got %d rows, want %d: %+v", len(got.rows), len(rows), got.rows)
	}
	for i, w := range rows {
		g := got.rows[i]
		if g.Number != w.n {
			t.Errorf("row %d: number = %d, want %d", i, g.Number, w.n)
		}
		if w.err != "" {
			if g.Err == nil || !strings.Contains(g.Err.Error(), w.err) {
				t.Errorf("row %d: err = %v, want %q", w.n, g.Err, w.err)
			}
			continue
		}
		if g.Err != nil {
			t.Errorf("row %d: unexpected err %v", w.n, g.Err)
		}
		if !reflect.DeepEqual(g.Cells, w.cells) {
			t.Errorf("row %d: cells = %q, want %q", w.n, g.Cells, w.cells)
		}
	}
}

// assertNoTempFiles fails the test when a reader left anything in dir, its
// temporary directory, after its cleanup.
func assertNoTempFiles(t testing.TB, dir string) {
	t.Helper()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("cleanup left %v in the temporary directory", left)
	}
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utf16Bytes(s string, bigEndian bool) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

func pngBytes() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2)))
	return b.Bytes()
}

func TestOpenCSV(t *testing.T) {
	long := strings.Repeat("a,b\n", 20000) // > 64 KiB of ASCII before the first non-ASCII byte
	cases := []struct {
		name    string
		file    string // in testdata
		data    []byte // or inline
		opts    Options
		header  []string
		rows    []wantRow
		wantErr error
		errText string
	}{
		{
			name:   "Excel German locale: semicolons, Windows-1252",
			file:   "excel_de_semicolon_1252.csv",
			header: []string{"Name", "Straße", "Ort", "Betrag"},
			rows: []wantRow{
				{n: 2, cells: []string{"Müller", "Hauptstraße 5", "München", "1.234,56"}},
				{n: 3, cells: []string{"José Groß", "Weg; 3", "Köln", "€ 12"}},
			},
		},
		{
			name:   "Excel Unicode text: UTF-16LE with BOM, tabs",
			file:   "excel_unicode_text_utf16le.txt",
			header: []string{"Name", "E-mail", "City"},
			rows: []wantRow{
				{n: 2, cells: []string{"Jürgen Weiß", "jw@example.com", "Zürich"}},
				{n: 3, cells: []string{"张伟", "zw@example.com", "北京 🏙"}},
			},
		},
		{
			name:   "UTF-16BE with BOM",
			data:   utf16Bytes("\ufeffname;city\nAnn;Köln\n", true),
			header: []string{"name", "city"},
			rows:   []wantRow{{n: 2, cells: []string{"Ann", "Köln"}}},
		},
		{
			name:   "CR-only line ends",
			file:   "mac_cr_only.csv",
			header: []string{"name", "email"},
			rows: []wantRow{
				{n: 2, cells: []string{"Ann", "ann@example.com"}},
				{n: 4, cells: []string{"Bob", "bob@example.com"}},
			},
		},
		{
			name:   "CRLF, quoted newlines, quotes and delimiters",
			file:   "crlf_quoted.csv",
			header: []string{"name", "notes", "email"},
			rows: []wantRow{
				{n: 2, cells: []string{"Lee, Ann", "line one\nline two", "ann@example.com"}},
				{n: 3, cells: []string{"Bob", `said "hi"`, "bob@example.com"}},
				{n: 5, cells: []string{"Cid", "", "cid@example.com"}},
			},
		},
		{
			name:   "CR inside a quoted cell",
			data:   []byte("a,b\r\"x\ry\",2\r3,4\r"),
			header: []string{"a", "b"},
			rows:   []wantRow{{n: 2, cells: []string{"x\ny", "2"}}, {n: 3, cells: []string{"3", "4"}}},
		},
		{
			name:   "pipes, UTF-8 BOM",
			file:   "pipe_utf8_bom.csv",
			header: []string{"name", "email", "company"},
			rows:   []wantRow{{n: 2, cells: []string{"Ann", "ann@example.com", "Ächt GmbH"}}},
		},
		{
			name:   "tabs detected",
			data:   []byte("name\temail, work\nAnn\tann@example.com\n"),
			header: []string{"name", "email, work"},
			rows:   []wantRow{{n: 2, cells: []string{"Ann", "ann@example.com"}}},
		},
		{
			name:   "delimiter inside quotes does not count",
			data:   []byte("\"a;b;c\",d\n1,2\n"),
			header: []string{"a;b;c", "d"},
			rows:   []wantRow{{n: 2, cells: []string{"1", "2"}}},
		},
		{
			name:   "single column",
			data:   []byte("email\nann@example.com\n"),
			header: []string{"email"},
			rows:   []wantRow{{n: 2, cells: []string{"ann@example.com"}}},
		},
		{
			name:   "hyphen only when asked for",
			data:   []byte("first-last-phone\nAnn-Lee-555\n"),
			opts:   Options{Delimiter: "hyphen"},
			header: []string{"first", "last", "phone"},
			rows:   []wantRow{{n: 2, cells: []string{"Ann", "Lee", "555"}}},
		},
		{
			name:   "hyphen not detected",
			data:   []byte("first-last\nAnn-Lee\n"),
			header: []string{"first-last"},
			rows:   []wantRow{{n: 2, cells: []string{"Ann-Lee"}}},
		},
		{
			name:   "explicit delimiter wins over detection",
			data:   []byte("a;b,c\n1;2,3\n"),
			opts:   Options{Delimiter: ","},
			header: []string{"a;b", "c"},
			rows:   []wantRow{{n: 2, cells: []string{"1;2", "3"}}},
		},
		{
			name:   "explicit tab by name",
			data:   []byte("a\tb,c\n1\t2\n"),
			opts:   Options{Delimiter: "TAB", Format: "CSV"},
			header: []string{"a", "b,c"},
			rows:   []wantRow{{n: 2, cells: []string{"1", "2"}}},
		},
		{
			name:   "Excel sep= line",
			data:   []byte("sep=;\r\nname;email\r\nAnn;ann@example.com\r\n"),
			header: []string{"name", "email"},
			rows:   []wantRow{{n: 2, cells: []string{"Ann", "ann@example.com"}}},
		},
		{
			name:   "UTF-8 with a stray Windows-1252 byte",
			data:   []byte("name,city\nJosé,Zürich\nM\xfcller,K\xf6ln\n"),
			header: []string{"name", "city"},
			rows:   []wantRow{{n: 2, cells: []string{"José", "Zürich"}}, {n: 3, cells: []string{"Müller", "Köln"}}},
		},
		{
			name:   "Windows-1252 after the sniffed prefix",
			data:   []byte("a,b\n" + long + "M\xfcller,x\n"),
			header: []string{"a", "b"},
			rows: func() []wantRow {
				var rows []wantRow
				for i := 0; i < 20000; i++ {
					rows = append(rows, wantRow{n: i + 2, cells: []string{"a", "b"}})
				}
				return append(rows, wantRow{n: 20002, cells: []string{"Müller", "x"}})
			}(),
		},
		{
			name:   "leading blank lines keep their row numbers",
			data:   []byte("\n\nname\nAnn\n"),
			header: []string{"name"},
			rows:   []wantRow{{n: 4, cells: []string{"Ann"}}},
		},
		{
			name:   "ragged rows kept",
			data:   []byte("a,b\n1\n1,2,3\n"),
			header: []string{"a", "b"},
			rows:   []wantRow{{n: 2, cells: []string{"1"}}, {n: 3, cells: []string{"1", "2", "3"}}},
		},
		{
			name:   "a row wider than MaxColumns fails",
			data:   []byte("a,b,c\n1,2,3,4,5\n1,2,3\n"),
			opts:   Options{MaxColumns: 4},
			header: []string{"a", "b", "c"},
			rows: []wantRow{
				{n: 2, err: "the row has 5 cells; at most 4 columns are allowed"},
				{n: 3, cells: []string{"1", "2", "3"}},
			},
		},
		{name: "header wider than MaxColumns", data: []byte("a,b,c,d,e\n1,2,3,4,5\n"), opts: Options{MaxColumns: 3},
			wantErr: ErrTooManyColumns, errText: "the header has 5 columns; at most 3 are allowed"},
		{name: "BOM only", file: "bom_only.csv", wantErr: ErrEmpty},
		{name: "empty", data: nil, wantErr: ErrEmpty},
		{name: "UTF-16 BOM only", data: []byte{0xFF, 0xFE}, wantErr: ErrEmpty},
		{name: "blank lines only", data: []byte("\r\n\r\n"), wantErr: ErrEmpty},
		{name: "blank header", data: []byte(" , \nAnn,x\n"), wantErr: ErrEmpty, errText: "the header row (row 1) is empty"},
		{name: "PNG", data: pngBytes(), wantErr: ErrUnsupportedFormat, errText: "the file looks like a PNG image, not CSV or XLSX"},
		{name: "PDF", data: []byte("%PDF-1.7\n..."), wantErr: ErrUnsupportedFormat, errText: "a PDF document"},
		{name: "GIF", data: []byte("GIF89a\x01\x00"), wantErr: ErrUnsupportedFormat, errText: "a GIF image"},
		{name: "JPEG", data: []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), wantErr: ErrUnsupportedFormat, errText: "a JPEG image"},
		{name: "old xls", data: []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00"), wantErr: ErrUnsupportedFormat, errText: "Excel 97-2003 workbook (.xls)"},
		{name: "NUL bytes", data: []byte("name,email\nAnn\x00,x\n"), wantErr: ErrUnsupportedFormat, errText: "binary file"},
		{name: "UTF-16 without BOM", data: utf16Bytes("name,email\n", false), wantErr: ErrUnsupportedFormat, errText: "byte order mark"},
		{name: "xlsx bytes when CSV is asked for", data: []byte("PK\x03\x04rest"), opts: Options{Format: "csv"}, wantErr: ErrUnsupportedFormat, errText: "not CSV"},
		{name: "text when XLSX is asked for", data: []byte("a,b\n"), opts: Options{Format: "xlsx"}, wantErr: ErrUnsupportedFormat, errText: "not an XLSX workbook"},
		{name: "unknown format", data: []byte("a,b\n"), opts: Options{Format: "ods"}, wantErr: ErrUnsupportedFormat, errText: `unknown format "ods"`},
		{name: "unknown delimiter", data: []byte("a,b\n"), opts: Options{Delimiter: "colon"}, wantErr: ErrInvalidOption, errText: "one of: comma, semicolon, pipe, tab, hyphen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data
			if c.file != "" {
				data = testdata(t, c.file)
			}
			checkResult(t, openAll(t, data, c.opts), c.header, c.rows, c.wantErr, c.errText)
		})
	}
}

// errReader returns data and then err, like an http.MaxBytesReader.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errBodyTooLarge = errors.New("http: request body too large")

func TestOpenKeepsReadErrors(t *testing.T) {
	// In the header.
	_, _, err := Open(&errReader{data: []byte("name,em"), err: errBodyTooLarge}, Options{})
	if !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("Open error = %v, want the reader's error", err)
	}
	// Part-way, in a Windows-1252 file, through the decoder.
	data := []byte("name,city\nM\xfcller,K\xf6ln\n" + strings.Repeat("Ann,x\n", 30000))
	rd, cleanup, err := Open(&errReader{data: data, err: errBodyTooLarge}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	for {
		_, err := rd.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, errBodyTooLarge) {
			t.Fatalf("Next error = %v, want the reader's error", err)
		}
		break
	}
	// Spooling an XLSX upload.
	_, _, err = Open(&errReader{data: []byte("PK\x03\x04abc"), err: errBodyTooLarge}, Options{TempDir: t.TempDir()})
	if !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("Open error = %v, want the reader's error", err)
	}
}

func TestCRReaderSplitCRLF(t *testing.T) {
	// A CRLF split across reads must stay one line break.
	in := io.MultiReader(strings.NewReader("a\r"), strings.NewReader("\nb\r"), strings.NewReader("\r\nc\r"), strings.NewReader("d"))
	got, err := io.ReadAll(&crReader{r: in})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "a\nb\n\nc\nd" {
		t.Fatalf("got %q", got)
	}
}

func TestValidUTF8Prefix(t *testing.T) {
	cut := []byte("abc\xc3") // "abcü" cut in the middle of ü
	if !validUTF8Prefix(cut, false) || validUTF8Prefix(cut, true) {
		t.Fatal("a rune cut at the end of the prefix is fine unless the file ends there")
	}
	if validUTF8Prefix([]byte("M\xfcller"), false) {
		t.Fatal("Windows-1252 is not UTF-8")
	}
}
