package filereader

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/intake/intake/pkg/filereader/xlsxtest"
)

const benchRows = 100_000

// heapPeak samples the heap while a benchmark runs.
type heapPeak struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{base: heapObjects(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := heapObjects(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// report stops sampling and reports the peak heap above what was live at
// the start, in MB.
func (h *heapPeak) report(b *testing.B) {
	close(h.stop)
	<-h.done
	b.ReportMetric(float64(h.peak.Load()-min(h.base, h.peak.Load()))/(1<<20), "peak-heap-MB")
}

func readRows(b *testing.B, r io.Reader, opts Options) int {
	rd, cleanup, err := Open(r, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	n := 0
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil || row.Err != nil {
			b.Fatal(err, row.Err)
		}
		n++
	}
}

func BenchmarkCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("name,email,phone,company\r\n")
	for i := range benchRows {
		fmt.Fprintf(&buf, "Person %d,user%d@example.com,+1 415 555 %04d,\"Company %d, Inc.\"\r\n", i, i, i%10000, i%97)
	}
	benchReadBytes(b, buf.Bytes())
}

// benchReadBytes is the benchmark loop over a file held in memory.
func benchReadBytes(b *testing.B, data []byte) {
	benchRead(b, int64(len(data)), func() int { return readRows(b, bytes.NewReader(data), Options{}) })
}

// benchRead runs read, which reads a file of size bytes holding benchRows
// rows, as the benchmark's loop and reports rows/s and the peak heap.
func benchRead(b *testing.B, size int64, read func() int) {
	b.SetBytes(size)
	b.ReportAllocs()
	h := startHeapPeak()
	loops := 0
	for b.Loop() {
		if n := read(); n != benchRows {
			b.Fatalf("read %d rows", n)
		}
		loops++
	}
	b.ReportMetric(float64(loops*benchRows)/b.Elapsed().Seconds(), "rows/s")
	h.report(b)
}

// BenchmarkXLSX reads 100k contacts rows from a workbook written by
// excelize's StreamWriter (inline values) and from one with a shared
// strings table, as Excel writes them.
func BenchmarkXLSX(b *testing.B) {
	dir := b.TempDir()
	files := map[string]string{
		"stream-writer":  filepath.Join(dir, "stream.xlsx"),
		"shared-strings": filepath.Join(dir, "sst.xlsx"),
	}
	writeStreamXLSX(b, files["stream-writer"])
	writeSSTXLSX(b, files["shared-strings"])
	for _, name := range []string{"stream-writer", "shared-strings"} {
		b.Run(name, func(b *testing.B) {
			fi, err := os.Stat(files[name])
			if err != nil {
				b.Fatal(err)
			}
			benchRead(b, fi.Size(), func() int {
				f, err := os.Open(files[name])
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				return readRows(b, f, Options{TempDir: dir})
			})
		})
	}
}

func writeStreamXLSX(b *testing.B, path string) {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	_ = sw.SetRow("A1", []any{"name", "email", "phone", "company"})
	for i := range benchRows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, []any{fmt.Sprintf("Person %d", i), fmt.Sprintf("user%d@example.com", i), int64(4155550000 + i), fmt.Sprintf("Company %d", i%97)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
}

// writeSSTXLSX writes the same rows with every text in a shared strings
// table (200k unique strings), as Excel does.
func writeSSTXLSX(b *testing.B, path string) {
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	zw := zip.NewWriter(out)
	add := func(name string, write func(w *bufio.Writer)) {
		w, err := zw.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriter(w)
		write(bw)
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range []part{
		{name: "[Content_Types].xml", data: xlsxtest.ContentTypes},
		{name: "_rels/.rels", data: xlsxtest.Rels},
		{name: "xl/workbook.xml", data: xlsxtest.Workbook},
		{name: "xl/_rels/workbook.xml.rels", data: strings.Replace(xlsxtest.WorkbookRels, "</Relationships>",
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`, 1)},
	} {
		add(p.name, func(w *bufio.Writer) { _, _ = w.WriteString(p.data) })
	}
	// Strings: 4 header names, 97 companies, then a name and an email per row.
	const companies = 97
	add("xl/sharedStrings.xml", func(w *bufio.Writer) {
		fmt.Fprintf(w, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" uniqueCount="%d">`, 4+companies+2*benchRows)
		for _, s := range []string{"name", "email", "phone", "company"} {
			fmt.Fprintf(w, "<si><t>%s</t></si>", s)
		}
		for i := range companies {
			fmt.Fprintf(w, "<si><t>Company %d</t></si>", i)
		}
		for i := range benchRows {
			fmt.Fprintf(w, "<si><t>Person %d</t></si><si><t>user%d@example.com</t></si>", i, i)
		}
		w.WriteString("</sst>")
	})
	add("xl/worksheets/sheet1.xml", func(w *bufio.Writer) {
		w.WriteString(xlsxtest.SheetHead)
		w.WriteString(`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>`)
		for i := range benchRows {
			r := i + 2
			s := 4 + companies + 2*i
			fmt.Fprintf(w, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c><c r="B%d" t="s"><v>%d</v></c><c r="C%d"><v>%d</v></c><c r="D%d" t="s"><v>%d</v></c></row>`,
				r, r, s, r, s+1, r, 4155550000+i, r, 4+i%companies)
		}
		w.WriteString(xlsxtest.SheetTail)
	})
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
}
