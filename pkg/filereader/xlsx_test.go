package filereader

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/intake/intake/pkg/filereader/xlsxtest"
)

// workbook builds an XLSX file with excelize.
func workbook(t testing.TB, build func(f *excelize.File)) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	build(f)
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// part is one file of a hand-made ZIP archive.
type part struct {
	name  string
	data  string
	store bool // not compressed
}

func zipParts(t testing.TB, parts ...part) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, p := range parts {
		m := zip.Deflate
		if p.store {
			m = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: m})
		must(t, err)
		_, err = io.WriteString(w, p.data)
		must(t, err)
	}
	must(t, zw.Close())
	return b.Bytes()
}

// minimalXLSX is a hand-made workbook with one sheet holding rows.
func minimalXLSX(t testing.TB, store bool, rows ...string) []byte {
	return zipParts(t,
		part{name: "[Content_Types].xml", data: xlsxtest.ContentTypes},
		part{name: "_rels/.rels", data: xlsxtest.Rels},
		part{name: "xl/workbook.xml", data: xlsxtest.Workbook},
		part{name: "xl/_rels/workbook.xml.rels", data: xlsxtest.WorkbookRels},
		part{name: "xl/worksheets/sheet1.xml", data: xlsxtest.SheetHead + strings.Join(rows, "") + xlsxtest.SheetTail, store: store},
	)
}

// bombXLSX is a workbook whose sheet unpacks to about size bytes of
// repeated rows while the file stays small. declared is the size written
// in the archive (0: the true size), to make a bomb that lies.
func bombXLSX(t testing.TB, size, declared uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	must(t, xlsxtest.WriteBomb(&b, size, declared))
	return b.Bytes()
}

// sstXLSX is a small hand-made workbook with shared strings, styles and
// number formats, like the files Excel writes.
func sstXLSX(t testing.TB) []byte {
	return zipParts(t,
		part{name: "[Content_Types].xml", data: xlsxtest.ContentTypes},
		part{name: "_rels/.rels", data: xlsxtest.Rels},
		part{name: "xl/workbook.xml", data: xlsxtest.Workbook},
		part{name: "xl/_rels/workbook.xml.rels", data: `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`},
		part{name: "xl/styles.xml", data: `<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="0.00%"/></numFmts><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>`},
		part{name: "xl/sharedStrings.xml", data: `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4" uniqueCount="4"><si><t>name</t></si><si><t>since</t></si><si><t>Ann</t></si><si><r><t>B</t></r><r><t>ob</t></r></si></sst>`},
		part{name: "xl/worksheets/sheet1.xml", data: xlsxtest.SheetHead + `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" s="1"><v>45292</v></c><c r="C2" s="2"><v>0.125</v></c></row><row r="4"><c r="A4" t="s"><v>3</v></c><c r="B4"><v>4155550123</v></c><c r="C4" t="b"><v>1</v></c><c r="D4" t="str"><f>A4</f><v>Bob</v></c></row>` + xlsxtest.SheetTail},
	)
}

func TestOpenXLSX(t *testing.T) {
	basic := workbook(t, func(f *excelize.File) {
		s := "Sheet1"
		must(t, f.SetSheetRow(s, "A1", &[]any{"Name", "Email", "Phone"}))
		must(t, f.SetSheetRow(s, "A2", &[]any{"Ann", "ann@example.com", "555"}))
		// row 3: empty
		must(t, f.SetSheetRow(s, "A4", &[]any{"Bob", "bob@example.com"})) // no phone: padded
		must(t, f.SetCellValue(s, "B5", "only@example.com"))
		must(t, f.SetSheetRow(s, "A6", &[]any{"Cid", "cid@example.com", "1", "extra"})) // wider: kept
		must(t, f.SetCellValue(s, "A7", "   "))                                         // blank: skipped
		must(t, f.SetCellValue(s, "A8", "Müller 张伟"))
	})
	basicRows := []wantRow{
		{n: 2, cells: []string{"Ann", "ann@example.com", "555"}},
		{n: 4, cells: []string{"Bob", "bob@example.com", ""}},
		{n: 5, cells: []string{"", "only@example.com", ""}},
		{n: 6, cells: []string{"Cid", "cid@example.com", "1", "extra"}},
		{n: 8, cells: []string{"Müller 张伟", "", ""}},
	}
	named := workbook(t, func(f *excelize.File) {
		must(t, f.SetCellValue("Sheet1", "A1", "not this one"))
		_, err := f.NewSheet("Contacts")
		must(t, err)
		must(t, f.SetSheetRow("Contacts", "A1", &[]any{"name", "email"}))
		must(t, f.SetSheetRow("Contacts", "A2", &[]any{"Ann", "ann@example.com"}))
	})
	numbers := workbook(t, func(f *excelize.File) {
		s := "Sheet1"
		must(t, f.SetSheetRow(s, "A1", &[]any{"phone int", "phone float", "sum", "short date", "iso date", "time", "text", "bool", "fixed", "percent"}))
		must(t, f.SetCellValue(s, "A2", int64(4155550123)))
		must(t, f.SetCellValue(s, "B2", float64(4155550123)))
		must(t, f.SetCellValue(s, "C2", 0.1+0.2))
		style := func(cell string, st *excelize.Style) {
			id, err := f.NewStyle(st)
			must(t, err)
			must(t, f.SetCellStyle(s, cell, cell, id))
		}
		must(t, f.SetCellValue(s, "D2", 45292)) // 2024-01-01
		style("D2", &excelize.Style{NumFmt: 14})
		iso := "dd.mm.yyyy"
		must(t, f.SetCellValue(s, "E2", 45292))
		style("E2", &excelize.Style{CustomNumFmt: &iso})
		must(t, f.SetCellValue(s, "F2", time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC)))
		must(t, f.SetCellValue(s, "G2", "00123"))
		must(t, f.SetCellValue(s, "H2", true))
		must(t, f.SetCellValue(s, "I2", 12.5))
		style("I2", &excelize.Style{NumFmt: 2})
		must(t, f.SetCellValue(s, "J2", 0.125))
		style("J2", &excelize.Style{NumFmt: 10})
	})
	headerRow2 := workbook(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"name", "email"}))
	})
	empty := workbook(t, func(*excelize.File) {})
	wide := workbook(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"a", "b", "c", "d", "e"}))
	})
	limits := workbook(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"a", "b", "c"}))
		must(t, f.SetCellValue("Sheet1", "F2", "far"))
		must(t, f.SetCellValue("Sheet1", "A3", strings.Repeat("x", 20)))
		must(t, f.SetSheetRow("Sheet1", "A4", &[]any{"1", "2", "3"}))
	})
	bigSheet := func() []byte {
		rows := []string{xlsxtest.InlineRow(1, "name", "email")}
		for i := 2; i <= 500; i++ {
			rows = append(rows, xlsxtest.InlineRow(i, fmt.Sprintf("P%d", i), fmt.Sprintf("p%d@example.com", i)))
		}
		return minimalXLSX(t, false, rows...)
	}()
	stored := minimalXLSX(t, true, xlsxtest.InlineRow(1, "name", "email"), xlsxtest.InlineRow(2, "Ann", "ann@example.com"), xlsxtest.InlineRow(3, "Bob", "bob@example.com"))
	damaged := bytes.Replace(stored, []byte("ann@example"), []byte("ann@exbmple"), 1)

	cases := []struct {
		name    string
		data    []byte
		opts    Options
		header  []string
		rows    []wantRow
		wantErr error
		errText string
	}{
		{name: "basic", data: basic, header: []string{"Name", "Email", "Phone"}, rows: basicRows},
		{name: "basic, format given", data: basic, opts: Options{Format: "xlsx", Delimiter: ";"}, header: []string{"Name", "Email", "Phone"}, rows: basicRows},
		{name: "named sheet", data: named, opts: Options{Sheet: "Contacts"}, header: []string{"name", "email"},
			rows: []wantRow{{n: 2, cells: []string{"Ann", "ann@example.com"}}}},
		{name: "sheet name in another case", data: named, opts: Options{Sheet: "contacts"}, header: []string{"name", "email"},
			rows: []wantRow{{n: 2, cells: []string{"Ann", "ann@example.com"}}}},
		{name: "first sheet by default", data: named, header: []string{"not this one"}},
		{name: "unknown sheet", data: named, opts: Options{Sheet: "Leads"}, wantErr: ErrSheetNotFound,
			errText: `the workbook has no sheet "Leads"; its sheets are "Sheet1", "Contacts"`},
		{
			name:   "numbers and dates as displayed",
			data:   numbers,
			header: []string{"phone int", "phone float", "sum", "short date", "iso date", "time", "text", "bool", "fixed", "percent"},
			rows: []wantRow{{n: 2, cells: []string{
				"4155550123", "4155550123", "0.3", "2024-01-01", "01.01.2024", "2024-03-05 14:30", "00123", "TRUE", "12.50", "12.50%",
			}}},
		},
		{name: "hand-made workbook, shared strings and styles", data: sstXLSX(t), header: []string{"name", "since"},
			rows: []wantRow{{n: 2, cells: []string{"Ann", "2024-01-01", "12.50%"}}, {n: 4, cells: []string{"Bob", "4155550123", "TRUE", "Bob"}}}},
		{name: "hand-made workbook, inline strings", data: stored, header: []string{"name", "email"},
			rows: []wantRow{{n: 2, cells: []string{"Ann", "ann@example.com"}}, {n: 3, cells: []string{"Bob", "bob@example.com"}}}},
		{name: "header not in row 1", data: headerRow2, wantErr: ErrEmpty, errText: "the header row (row 1) of sheet \"Sheet1\" is empty"},
		{name: "empty sheet", data: empty, wantErr: ErrEmpty, errText: `the sheet "Sheet1" is empty`},
		{name: "header wider than MaxColumns", data: wide, opts: Options{MaxColumns: 3}, wantErr: ErrTooManyColumns, errText: "the header has 5 columns; at most 3 are allowed"},
		{
			name: "row limits", data: limits, opts: Options{MaxColumns: 5, MaxCellBytes: 10},
			header: []string{"a", "b", "c"},
			rows: []wantRow{
				{n: 2, err: "the row has 6 cells; at most 5 columns are allowed"},
				{n: 3, err: "a cell is longer than 10 bytes"},
				{n: 4, cells: []string{"1", "2", "3"}},
			},
		},
		{name: "upload over MaxXLSXBytes", data: basic, opts: Options{MaxXLSXBytes: 1 << 10}, wantErr: ErrTooLarge, errText: "larger than 1 KiB"},
		{name: "sheet over MaxUnzipBytes", data: bigSheet, opts: Options{MaxUnzipBytes: 16 << 10}, wantErr: ErrTooLarge, errText: "unpacks to more than 16 KiB"},
		{name: "other part over MaxUnzipXMLBytes", opts: Options{MaxUnzipXMLBytes: 16 << 10},
			data:    zipParts(t, part{name: "[Content_Types].xml", data: xlsxtest.ContentTypes}, part{name: "xl/styles.xml", data: strings.Repeat(" ", 20<<10)}),
			wantErr: ErrTooLarge, errText: `the workbook part "xl/styles.xml" unpacks to more than 16 KiB`},
		{
			name: "sheet over MaxUnzipXMLBytes is read from disk", data: bigSheet, opts: Options{MaxUnzipXMLBytes: 4 << 10},
			header: []string{"name", "email"},
			rows: func() []wantRow {
				var rows []wantRow
				for i := 2; i <= 500; i++ {
					rows = append(rows, wantRow{n: i, cells: []string{fmt.Sprintf("P%d", i), fmt.Sprintf("p%d@example.com", i)}})
				}
				return rows
			}(),
		},
		{name: "a row over MaxUnzipXMLBytes", opts: Options{MaxUnzipXMLBytes: 4 << 10},
			data:    minimalXLSX(t, false, xlsxtest.InlineRow(1, "name"), xlsxtest.InlineRow(2, strings.Repeat("x", 5<<10)), xlsxtest.InlineRow(3, "x")),
			wantErr: ErrTooLarge, errText: `a row in the workbook part "xl/worksheets/sheet1.xml" takes more than 4 KiB of XML`},
		{name: "a shared string over MaxUnzipXMLBytes", opts: Options{MaxUnzipXMLBytes: 4 << 10},
			data: zipParts(t, part{name: "[Content_Types].xml", data: xlsxtest.ContentTypes},
				part{name: "xl/sharedStrings.xml", data: "<sst><si><t>" + strings.Repeat("x", 5<<10) + "</t></si></sst>"}),
			wantErr: ErrTooLarge, errText: `a shared string in the workbook part "xl/sharedStrings.xml" takes more than 4 KiB`},
		{name: "more rows than a sheet can have", data: minimalXLSX(t, false, xlsxtest.InlineRow(1, "name"), strings.Repeat("<row/>", excelize.TotalRows)),
			wantErr: ErrTooLarge, errText: "has more than 1048576 rows"},
		{name: "truncated", data: basic[:len(basic)/2], wantErr: ErrCorrupt, errText: "damaged or truncated"},
		{name: "truncated at the end", data: basic[:len(basic)-10], wantErr: ErrCorrupt, errText: "damaged or truncated"},
		{name: "damaged part", data: damaged, wantErr: ErrCorrupt, errText: `part "xl/worksheets/sheet1.xml": zip: checksum error`},
		{name: "only the ZIP magic", data: []byte("PK\x03\x04"), wantErr: ErrCorrupt},
		{name: "ZIP without a workbook", data: zipParts(t, part{name: "contacts.csv", data: "a,b\n"}), wantErr: ErrUnsupportedFormat,
			errText: "the file looks like a ZIP archive, not CSV or XLSX; unpack it first"},
		{name: "OpenDocument spreadsheet", data: zipParts(t, part{name: "mimetype", data: "application/vnd.oasis.opendocument.spreadsheet", store: true}, part{name: "content.xml", data: "<x/>"}),
			wantErr: ErrUnsupportedFormat, errText: "an OpenDocument spreadsheet (.ods)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.opts.TempDir = dir
			checkResult(t, openAll(t, c.data, c.opts), c.header, c.rows, c.wantErr, c.errText)
			assertNoTempFiles(t, dir)
		})
	}
}

func TestElementScanner(t *testing.T) {
	xml := `<?xml version="1.0"?><x:worksheet><x:sheetData><x:row r="1"><x:c/></x:row><row>` +
		strings.Repeat("y", 100) + `</row><rows/><row/></x:sheetData></x:worksheet>`
	for _, chunk := range []int{1, 3, 7, len(xml)} {
		s := &elementScanner{local: "row"}
		for i := 0; i < len(xml); i += chunk {
			_, _ = s.Write([]byte(xml[i:min(i+chunk, len(xml))]))
		}
		s.finish()
		long := int64(len("<row>" + strings.Repeat("y", 100) + "</row><rows/>"))
		if s.count != 3 || s.longest != long {
			t.Fatalf("chunks of %d: %d rows, longest %d; want 3 and %d", chunk, s.count, s.longest, long)
		}
	}
}

func TestXLSXTempFiles(t *testing.T) {
	dir := t.TempDir()
	rows := []string{xlsxtest.InlineRow(1, "name")}
	for i := 2; i < 200; i++ {
		rows = append(rows, xlsxtest.InlineRow(i, strings.Repeat("x", 50)))
	}
	data := minimalXLSX(t, false, rows...)
	rd, cleanup, err := Open(bytes.NewReader(data), Options{TempDir: dir, MaxUnzipXMLBytes: 4 << 10})
	must(t, err)
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	// The upload is gone once opened; excelize's copy of the large sheet
	// stays in the reader's directory until cleanup.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "intake-xlsx-") {
		t.Fatalf("temporary directory holds %v", entries)
	}
	inner, _ := os.ReadDir(dir + "/" + entries[0].Name())
	for _, e := range inner {
		if e.Name() == "upload.xlsx" {
			t.Fatal("the spooled upload is kept after opening")
		}
	}
	must(t, cleanup())
	must(t, cleanup())
	assertNoTempFiles(t, dir)
}

// TestXLSXBomb: a few MB that unpack to more than a gigabyte are refused with
// ErrTooLarge, quickly and in bounded memory, whether the archive states
// the size honestly or lies about it.
func TestXLSXBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 4 MB archive of a 1 GiB sheet")
	}
	cases := []struct {
		name     string
		declared uint64
		errText  string
	}{
		{"honest", 0, "the workbook unpacks to more than 1 GiB, the limit"},
		{"lies in memory range", 1 << 20, `"xl/worksheets/sheet1.xml" unpacks to more than the 1048576 bytes it declares`},
		{"lies in disk range", 512 << 20, `"xl/worksheets/sheet1.xml" unpacks to more than the 536870912 bytes it declares`},
	}
	const sheetSize = 1<<30 + 64<<20
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := bombXLSX(t, sheetSize, c.declared)
			t.Logf("%d bytes unpacking to %d", len(data), sheetSize)
			if len(data) > 8<<20 {
				t.Fatalf("the bomb is %d bytes", len(data))
			}
			dir := t.TempDir()
			start := time.Now()
			var res result
			allocated := allocatedBy(func() { res = openAll(t, data, Options{TempDir: dir}) }) // default limits
			if !errors.Is(res.err, ErrTooLarge) || !strings.Contains(res.err.Error(), c.errText) {
				t.Fatalf("error = %v, want ErrTooLarge saying %q", res.err, c.errText)
			}
			t.Logf("refused in %v; allocated %d MB in all", time.Since(start), allocated>>20)
			if allocated > 200<<20 {
				t.Fatalf("allocated %d MB reading a bomb", allocated>>20)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

func FuzzXLSX(f *testing.F) {
	// Hand-made seeds stay small: the fuzzer minimizes every input that
	// finds new code, which is slow for large ones.
	f.Add(sstXLSX(f))
	small := minimalXLSX(f, false, xlsxtest.InlineRow(1, "name", "email"), xlsxtest.InlineRow(2, "Ann", "ann@example.com"), `<row r="5"><c r="C5"><v>42</v></c></row>`)
	f.Add(small)
	f.Add(minimalXLSX(f, true, xlsxtest.InlineRow(1, "a"), `<row r="3"><c r="B3" t="s"><v>7</v></c></row>`))
	f.Add(small[:len(small)-30])
	f.Add([]byte("PK\x03\x04"))
	dir := f.TempDir()
	opts := Options{TempDir: dir, MaxXLSXBytes: 1 << 20, MaxUnzipBytes: 4 << 20, MaxUnzipXMLBytes: 256 << 10, MaxColumns: 64, MaxCellBytes: 1 << 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd, cleanup, err := Open(bytes.NewReader(in), opts)
		defer func() {
			if err := cleanup(); err != nil {
				t.Fatalf("cleanup: %v", err)
			}
			assertNoTempFiles(t, dir)
		}()
		checkReader(t, rd, err, 1000, 1<<10, 0)
	})
}

// sstBombXLSX is a workbook whose shared-strings table has n tiny entries:
// about 17 bytes of XML each, compressing to a few hundred kilobytes, which
// excelize would decode whole (a few hundred bytes each) on opening.
func sstBombXLSX(t testing.TB, n int) []byte {
	t.Helper()
	var sst strings.Builder
	sst.WriteString(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	sst.WriteString(`<si><t>name</t></si>`)
	for range n - 1 {
		sst.WriteString(`<si><t>a</t></si>`)
	}
	sst.WriteString(`</sst>`)
	return zipParts(t,
		part{name: "[Content_Types].xml", data: xlsxtest.ContentTypes},
		part{name: "_rels/.rels", data: xlsxtest.Rels},
		part{name: "xl/workbook.xml", data: xlsxtest.Workbook},
		part{name: "xl/_rels/workbook.xml.rels", data: `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`},
		part{name: "xl/sharedStrings.xml", data: sst.String()},
		part{name: "xl/worksheets/sheet1.xml", data: xlsxtest.SheetHead + `<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>` + xlsxtest.SheetTail},
	)
}

// allocatedBy runs f after a garbage collection and returns the bytes f
// allocated in all.
func allocatedBy(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A shared-strings table over the bounds is refused before excelize
// decodes it: the 164 KB file of the report (3.9 million entries) took
// 1.4 GB when decoded; refused while streamed, the opening allocates
// about 200 KB.
func TestXLSXSharedStringsBounded(t *testing.T) {
	bomb := sstBombXLSX(t, 3_900_000)
	t.Logf("%d bytes, 3.9 million shared strings", len(bomb))
	dir := t.TempDir()
	var res result
	allocated := allocatedBy(func() { res = openAll(t, bomb, Options{TempDir: dir}) })
	if !errors.Is(res.err, ErrTooLarge) || !strings.Contains(res.err.Error(), "the shared-strings table of the workbook has more than 1000000 entries, the limit") {
		t.Fatalf("error = %v", res.err)
	}
	t.Logf("refused; allocated %d KB in all", allocated>>10)
	if allocated > 4<<20 {
		t.Fatalf("allocated %d KB refusing the table", allocated>>10)
	}
	assertNoTempFiles(t, dir)

	small := sstBombXLSX(t, 5) // "name" and four "a"
	checkResult(t, openAll(t, small, Options{MaxSharedStrings: 5}), []string{"name"}, []wantRow{{n: 2, cells: []string{"a"}}}, nil, "")
	res = openAll(t, small, Options{MaxSharedStrings: 4})
	if !errors.Is(res.err, ErrTooLarge) || !strings.Contains(res.err.Error(), "more than 4 entries") {
		t.Errorf("5 entries over 4: %v", res.err)
	}
	// Text as written: "name" and four "a" are 8 bytes.
	checkResult(t, openAll(t, small, Options{MaxSharedStringBytes: 8}), []string{"name"}, []wantRow{{n: 2, cells: []string{"a"}}}, nil, "")
	res = openAll(t, small, Options{MaxSharedStringBytes: 7})
	if !errors.Is(res.err, ErrTooLarge) || !strings.Contains(res.err.Error(), "holds more than 7 bytes of text") {
		t.Errorf("8 bytes of text over 7: %v", res.err)
	}
}
