// Package xlsxtest writes hand-made XLSX workbooks for tests: the minimal
// parts of a one-sheet workbook, rows of inline strings, and a decompression
// bomb that is written as a stream. Excelize would not write these files.
package xlsxtest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// The minimal parts of a workbook with one sheet of inline strings; a sheet
// is SheetHead, its rows, SheetTail.
const (
	ContentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`
	Rels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`
	Workbook = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`
	WorkbookRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`
	SheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	SheetTail = `</sheetData></worksheet>`
)

// SheetPath is the name of the one sheet's part in the archive.
const SheetPath = "xl/worksheets/sheet1.xml"

// InlineRow is sheet row n of inline strings from column A.
func InlineRow(n int, cells ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<row r="%d">`, n)
	for i, c := range cells {
		fmt.Fprintf(&b, `<c r="%c%d" t="inlineStr"><is><t>%s</t></is></c>`, 'A'+i, n, c)
	}
	b.WriteString("</row>")
	return b.String()
}

// WriteFrame writes every part of the workbook but its sheet, for writers
// that add the sheet themselves.
func WriteFrame(zw *zip.Writer) error {
	for _, p := range []struct{ name, data string }{
		{"[Content_Types].xml", ContentTypes},
		{"_rels/.rels", Rels},
		{"xl/workbook.xml", Workbook},
		{"xl/_rels/workbook.xml.rels", WorkbookRels},
	} {
		fw, err := zw.Create(p.name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, p.data); err != nil {
			return err
		}
	}
	return nil
}

// WriteBomb writes a workbook whose sheet unpacks to about size bytes of
// repeated rows while the file stays a few hundred times smaller; declared (if
// not 0) is the size the archive claims, to make a bomb that lies.
// Independently compressed, flushed pieces concatenate into one valid
// deflate stream, so only one chunk is ever compressed.
func WriteBomb(w io.Writer, size, declared uint64) error {
	deflate := func(data []byte, final bool) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestCompression)
		_, _ = fw.Write(data)
		if final {
			_ = fw.Close()
		} else {
			_ = fw.Flush()
		}
		return b.Bytes()
	}
	head := []byte(SheetHead + InlineRow(1, "name", "email"))
	tail := []byte(SheetTail)
	chunk := bytes.Repeat([]byte(`<row><c t="inlineStr"><is><t>x</t></is></c></row>`), (1<<20)/50)
	repeats := (size - uint64(len(head)+len(tail))) / uint64(len(chunk))
	total := uint64(len(head)+len(tail)) + repeats*uint64(len(chunk))
	dc := deflate(chunk, false)
	// The CRC of the whole part, computed once per chunk.
	crc := crc32.Update(0, crc32.IEEETable, head)
	for range repeats {
		crc = crc32.Update(crc, crc32.IEEETable, chunk)
	}
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	dh, dt := deflate(head, false), deflate(tail, true)
	if declared == 0 {
		declared = total
	}
	zw := zip.NewWriter(w)
	if err := WriteFrame(zw); err != nil {
		return err
	}
	fw, err := zw.CreateRaw(&zip.FileHeader{
		Name: SheetPath, Method: zip.Deflate, CRC32: crc,
		CompressedSize64:   uint64(len(dh)+len(dt)) + repeats*uint64(len(dc)),
		UncompressedSize64: declared,
	})
	if err != nil {
		return err
	}
	if _, err := fw.Write(dh); err != nil {
		return err
	}
	for range repeats {
		if _, err := fw.Write(dc); err != nil {
			return err
		}
	}
	if _, err := fw.Write(dt); err != nil {
		return err
	}
	return zw.Close()
}
