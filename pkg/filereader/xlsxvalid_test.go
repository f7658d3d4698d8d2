package filereader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/filereader/xlsxtest"
	"github.com/intake/intake/pkg/testenv"
)

// excelize's row iterator drops XML errors: before sheetCheck, a sheet with
// a syntax error in row 3 read as rows 1-2 (and part of 3) and then ended
// cleanly, and the import completed without the rest. Now the reading fails
// with ErrCorrupt naming the part and the problem, after the rows before it.
func TestXLSXMalformedSheetIsNotCutSilently(t *testing.T) {
	laughs := `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>`
	withDoctype := func(doctype string) string {
		i := strings.Index(xlsxtest.SheetHead, "?>") + 2
		return xlsxtest.SheetHead[:i] + doctype + xlsxtest.SheetHead[i:]
	}
	rows := func(bad string) string {
		return xlsxtest.InlineRow(1, "name", "email") + xlsxtest.InlineRow(2, "Ann", "ann@x.io") + bad + xlsxtest.InlineRow(4, "Dee", "dee@x.io") + xlsxtest.InlineRow(5, "Eve", "eve@x.io")
	}
	for _, c := range []struct {
		name, head, rows, problem string
	}{
		{"billion laughs", withDoctype(laughs), rows(xlsxtest.InlineRow(3, "&lol2;", "cid@x.io")), "invalid character entity &lol2;"},
		{"external entity", withDoctype(`<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`), rows(xlsxtest.InlineRow(3, "&xxe;", "cid@x.io")), "invalid character entity &xxe;"},
		{"undefined entity", xlsxtest.SheetHead, rows(xlsxtest.InlineRow(3, "Cid &nbsp; Lee", "cid@x.io")), "invalid character entity &nbsp;"},
		{"mismatched tag", xlsxtest.SheetHead, rows(`<row r="3"><c r="A3" t="inlineStr"><is><t>Cid</t></is></row>`), "element <c> closed by </row>"},
		{"bad character", xlsxtest.SheetHead, rows(xlsxtest.InlineRow(3, "Cid \x01", "cid@x.io")), "illegal character code U+0001"},
	} {
		t.Run(c.name, func(t *testing.T) {
			parts := []part{
				{name: "[Content_Types].xml", data: xlsxtest.ContentTypes},
				{name: "_rels/.rels", data: xlsxtest.Rels},
				{name: "xl/workbook.xml", data: xlsxtest.Workbook},
				{name: "xl/_rels/workbook.xml.rels", data: xlsxtest.WorkbookRels},
				{name: "xl/worksheets/sheet1.xml", data: c.head + c.rows + xlsxtest.SheetTail},
			}
			dir := t.TempDir()
			rd, cleanup, err := Open(bytes.NewReader(zipParts(t, parts...)), Options{TempDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for {
				row, err := rd.Next()
				if errors.Is(err, io.EOF) {
					t.Fatalf("the sheet ended cleanly after rows %v; rows 4 and 5 were lost silently", got)
				}
				if err != nil {
					if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `the workbook part "xl/worksheets/sheet1.xml" is not well-formed XML`) ||
						!strings.Contains(err.Error(), c.problem) {
						t.Fatalf("error %v, want ErrCorrupt saying %q", err, c.problem)
					}
					if len(got) > 2 || slicesContain(got, 4) {
						t.Fatalf("rows %v read before the error", got)
					}
					break
				}
				got = append(got, row.Number)
			}
			if err := cleanup(); err != nil {
				t.Fatal(err)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

func slicesContain(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// The check follows the workbook's relationships to the sheet asked for: a
// malformed sheet that is not read does not fail the reading of another.
func TestXLSXSheetCheckReadsTheChosenSheet(t *testing.T) {
	wb := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Good" sheetId="1" r:id="rId7"/><sheet name="Bad" sheetId="2" r:id="rId3"/></sheets></workbook>`
	rels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet2.xml"/></Relationships>`
	data := zipParts(t,
		part{name: "[Content_Types].xml", data: strings.Replace(xlsxtest.ContentTypes, "</Types>", `<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`, 1)},
		part{name: "_rels/.rels", data: xlsxtest.Rels},
		part{name: "xl/workbook.xml", data: wb},
		part{name: "xl/_rels/workbook.xml.rels", data: rels},
		part{name: "xl/worksheets/sheet1.xml", data: xlsxtest.SheetHead + xlsxtest.InlineRow(1, "name") + xlsxtest.InlineRow(2, "&bad;") + xlsxtest.SheetTail},
		part{name: "xl/worksheets/sheet2.xml", data: xlsxtest.SheetHead + xlsxtest.InlineRow(1, "name") + xlsxtest.InlineRow(2, "Ann") + xlsxtest.SheetTail},
	)
	for sheet, wantErr := range map[string]bool{"Good": false, "Bad": true} {
		res := openAll(t, data, Options{Sheet: sheet, TempDir: t.TempDir()})
		if (res.err != nil) != wantErr || (!wantErr && (len(res.rows) != 1 || res.rows[0].Cells[0] != "Ann")) {
			t.Errorf("sheet %s: %+v", sheet, res)
		}
	}
}

// Cleaning up before the rows are read stops the check: no goroutine and
// no file is left.
func TestXLSXSheetCheckStopsOnCleanup(t *testing.T) {
	var b strings.Builder
	b.WriteString(xlsxtest.InlineRow(1, "name", "email"))
	for i := 2; i < 20000; i++ {
		b.WriteString(xlsxtest.InlineRow(i, fmt.Sprintf("Person %d", i), fmt.Sprintf("p%d@x.io", i)))
	}
	data := minimalXLSX(t, false, b.String())
	before := runtime.NumGoroutine()
	for range 5 {
		dir := t.TempDir()
		_, cleanup, err := Open(bytes.NewReader(data), Options{TempDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := cleanup(); err != nil {
			t.Fatal(err)
		}
		assertNoTempFiles(t, dir)
	}
	testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines after cleanup, %d before", n, before)
		}
		return nil
	})
}

// A sheet with a row of megabytes of XML is checked before the reading, so
// a malformed one is refused by Open before any row is read.
func TestXLSXSheetCheckBeforeReadingForHugeRows(t *testing.T) {
	big := strings.Repeat("x", syncCheckRowXML+1)
	for _, c := range []struct {
		name string
		row  string
		ok   bool
	}{
		{"well-formed", xlsxtest.InlineRow(2, big, "ann@x.io"), true},
		{"malformed", xlsxtest.InlineRow(2, big+"&bad;", "ann@x.io"), false},
	} {
		rd, cleanup, err := Open(bytes.NewReader(minimalXLSX(t, false, xlsxtest.InlineRow(1, "name", "email"), c.row)), Options{TempDir: t.TempDir()})
		if !c.ok {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "invalid character entity &bad;") {
				t.Fatalf("%s: Open = %v, want ErrCorrupt", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		row, err := rd.Next()
		if err != nil || row.Err == nil || !strings.Contains(row.Err.Error(), "a cell is longer than") {
			t.Fatalf("%s: %+v %v", c.name, row, err)
		}
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v", c.name, err)
		}
		_ = cleanup()
	}
}
