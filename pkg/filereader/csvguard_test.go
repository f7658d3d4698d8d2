package filereader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader streams head, then n bytes cycling through fill, then tail,
// without holding the middle in memory.
type patternReader struct {
	head, tail string
	fill       []byte
	n, pos     int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	switch {
	case r.head != "":
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	case r.pos < r.n:
		k := min(int64(len(p)), r.n-r.pos)
		for i := range p[:k] {
			p[i] = r.fill[(r.pos+int64(i))%int64(len(r.fill))]
		}
		r.pos += k
		return int(k), nil
	case r.tail != "":
		n := copy(p, r.tail)
		r.tail = r.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

// peakHeap runs f and returns the highest HeapInuse sampled meanwhile,
// above what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load() - min(base, peak.Load())
}

type gotRow struct {
	Number int
	Cells  []string
	Err    string
}

func readAllRows(t testing.TB, r io.Reader, opts Options) ([]string, []gotRow, error) {
	t.Helper()
	rd, cleanup, err := Open(r, opts)
	defer func() { _ = cleanup() }()
	if err != nil {
		return nil, nil, err
	}
	var rows []gotRow
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Header(), rows, nil
		}
		if err != nil {
			return rd.Header(), rows, err
		}
		g := gotRow{Number: row.Number, Cells: row.Cells}
		if row.Err != nil {
			g.Err = row.Err.Error()
		}
		rows = append(rows, g)
	}
}

// Before the guard, encoding/csv held a whole record in memory before the
// cell limit looked at it: about 4.4 times the cell (875 MiB of heap for a
// 200 MiB cell). Now a long cell, quoted or not, costs about MaxRowBytes,
// fails its row, and the rows around it read as usual with the right
// numbers.
func TestGuardBoundsLongCells(t *testing.T) {
	const size = 200 << 20
	for _, c := range []struct {
		name string
		head string
		fill string
		tail string
	}{
		{"unquoted", "name,email\nAnn,a@x.io\n\n", "A", ",b@x.io\n\nCid,c@x.io\n"},
		{"quoted with line breaks and quotes", "name,email\nAnn,a@x.io\n\n\"", "ab\"\"c\nd", "\",b@x.io\n\nCid,c@x.io\n"},
		{"open quote to the end of the file", "name,email\nAnn,a@x.io\n\n\"", "ab\nc", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rows []gotRow
			var err error
			peak := peakHeap(func() {
				_, rows, err = readAllRows(t, &patternReader{head: c.head, fill: []byte(c.fill), n: size, tail: c.tail}, Options{})
			})
			t.Logf("a %d MiB cell: peak heap %d MiB; rows %v", size>>20, peak>>20, summarize(rows))
			if err != nil {
				t.Fatal(err)
			}
			if peak > 48<<20 {
				t.Errorf("peak heap %d MiB reading a %d MiB cell; want it bounded by the row limit", peak>>20, size>>20)
			}
			if len(rows) < 2 || rows[0].Number != 2 || rows[0].Err != "" || rows[1].Number != 4 ||
				!strings.Contains(rows[1].Err, "a cell is longer than 1048576 bytes") {
				t.Fatalf("rows = %v", summarize(rows))
			}
			if c.tail != "" && (len(rows) != 3 || rows[2].Number != 6 || rows[2].Err != "" || rows[2].Cells[0] != "Cid") {
				t.Fatalf("the row after the long one: %v", summarize(rows))
			}
		})
	}
}

func summarize(rows []gotRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "[%d ", r.Number)
		if r.Err != "" {
			fmt.Fprintf(&b, "err %q]", r.Err)
			continue
		}
		for i, c := range r.Cells {
			if len(c) > 20 {
				c = c[:20] + fmt.Sprintf("...(%d)", len(c))
			}
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(c)
		}
		b.WriteString("]")
	}
	return b.String()
}

// Lines of a million delimiters, a malformed line that goes on for 100 MiB,
// a huge header: all bounded, all reported with the real numbers.
func TestGuardBoundsWideAndLongRecords(t *testing.T) {
	t.Run("a row of a million cells", func(t *testing.T) {
		var rows []gotRow
		peak := peakHeap(func() {
			_, rows, _ = readAllRows(t, &patternReader{head: "name,email\n", fill: []byte(","), n: 1_000_000, tail: "\nAnn,a@x.io\n"}, Options{})
		})
		t.Logf("peak heap %d MiB", peak>>20)
		if len(rows) != 2 || rows[0].Err != "the row has 1000001 cells; at most 1000 columns are allowed" || rows[1].Number != 3 {
			t.Fatalf("rows = %v", summarize(rows))
		}
		if peak > 32<<20 {
			t.Errorf("peak heap %d MiB", peak>>20)
		}
	})
	t.Run("a malformed line of 100 MiB", func(t *testing.T) {
		var rows []gotRow
		peak := peakHeap(func() {
			_, rows, _ = readAllRows(t, &patternReader{head: "name,email\nA\"nn,", fill: []byte("xy,\"z"), n: 100 << 20, tail: "\nBob,b@x.io\n"}, Options{})
		})
		t.Logf("peak heap %d MiB", peak>>20)
		if len(rows) != 2 || !strings.Contains(rows[0].Err, "malformed CSV") || rows[1].Number != 3 || rows[1].Cells[0] != "Bob" {
			t.Fatalf("rows = %v", summarize(rows))
		}
		if peak > 48<<20 {
			t.Errorf("peak heap %d MiB", peak>>20)
		}
	})
	t.Run("a row over MaxRowBytes in short cells", func(t *testing.T) {
		_, rows, _ := readAllRows(t, strings.NewReader("a,b,c\n1234,5678,9\nx,y,z\n"), Options{MaxRowBytes: 8})
		if len(rows) != 2 || rows[0].Err != "the row is longer than 8 bytes" || rows[1].Err != "" || rows[1].Number != 3 {
			t.Fatalf("rows = %v", summarize(rows))
		}
	})
	for name, c := range map[string]struct {
		r    io.Reader
		want error
		text string
	}{
		"a 10 MiB header": {&patternReader{head: "email,", fill: []byte("h"), n: 10 << 20, tail: "\na@x.io,1\n"}, ErrHeaderTooLong,
			"the header row is longer than 64 KiB; it should name the columns (is the first row of the file a header?)"},
		"a header of 100,000 columns": {&patternReader{head: "email", fill: []byte(",c"), n: 200_000, tail: "\na@x.io\n"}, ErrTooManyColumns,
			"the header has 100001 columns; at most 1000 are allowed"},
		"a quoted 10 MiB header cell": {&patternReader{head: "email,\"", fill: []byte("h\n"), n: 10 << 20, tail: "\"\na@x.io,1\n"}, ErrHeaderTooLong, "longer than 64 KiB"},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			peak := peakHeap(func() { _, _, err = readAllRows(t, c.r, Options{}) })
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error = %v, want %v saying %q", err, c.want, c.text)
			}
			if peak > 16<<20 {
				t.Errorf("peak heap %d MiB", peak>>20)
			}
		})
	}
	t.Run("the header limit is the header's", func(t *testing.T) {
		long := strings.Repeat("h", 100)
		h, rows, err := readAllRows(t, strings.NewReader("email,"+long+"\na@x.io,1\n"), Options{MaxCellBytes: 10, MaxHeaderBytes: 200})
		if err != nil || len(h) != 2 || h[1] != long || len(rows) != 1 || rows[0].Err != "" {
			t.Fatalf("header %q rows %v err %v", h, summarize(rows), err)
		}
	})
}

// The guard changes nothing in a file within the limits, and in a file
// beyond them only which problem a failing row reports: the same rows come
// out with the same numbers, the same cells, and fail or pass alike.
func FuzzRecordGuard(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n",
		"a,b\n\"x\ny\",2\n\n\n3,4",
		"a,b\n\"x\"\"y\",\"\"\n\"open",
		"a,b\n1\"2,3\n\"x\"y,1\n4,5\n",
		"a;b\n\"1;2\";3\n",
		"a,b\n" + strings.Repeat("x", 40) + ",1\n2,3\n",
		"a,b\n\"" + strings.Repeat("x\"\"", 20) + "\",1\n\"" + strings.Repeat("y\n", 30) + "\"\n",
		"a,b\n" + strings.Repeat(",", 30) + "\n1,2\n",
		strings.Repeat("h", 50) + "\n1\n",
		"\n\n,\n1,2\n",
		"a,b\r\n\"x\r\ny\",2\r1,2\r",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, tight uint8) {
		opts := Options{Format: FormatCSV}
		if tight%2 == 1 {
			opts.MaxCellBytes, opts.MaxRowBytes, opts.MaxHeaderBytes, opts.MaxColumns = 8, 24, 32, 5
		}
		read := func(guard bool) ([]string, []gotRow, error) {
			noGuard = !guard
			defer func() { noGuard = false }()
			return readAllRows(t, bytes.NewReader(data), opts)
		}
		h1, rows1, err1 := read(false)
		h2, rows2, err2 := read(true)
		if (err1 == nil) != (err2 == nil) {
			// The header: beyond a limit either way, reported by the limit
			// the guard saw first.
			if !overLimit(err1) && !overLimit(err2) {
				t.Fatalf("without the guard: %v; with it: %v", err1, err2)
			}
			return
		}
		if err1 != nil && len(rows1) == 0 {
			return
		}
		if strings.Join(h1, "\x00") != strings.Join(h2, "\x00") {
			t.Fatalf("header %q, with the guard %q", h1, h2)
		}
		if len(rows1) != len(rows2) {
			t.Fatalf("%d rows, with the guard %d:\n%v\n%v", len(rows1), len(rows2), summarize(rows1), summarize(rows2))
		}
		for i := range rows1 {
			a, b := rows1[i], rows2[i]
			if a.Number != b.Number || (a.Err == "") != (b.Err == "") {
				t.Fatalf("row %d: %+v, with the guard %+v", i, a, b)
			}
			if a.Err == "" && strings.Join(a.Cells, "\x00") != strings.Join(b.Cells, "\x00") {
				t.Fatalf("row %d: %q, with the guard %q", a.Number, a.Cells, b.Cells)
			}
			// A row the guard cut fails by a limit, never as malformed
			// when it was not.
			if a.Err != "" && !strings.HasPrefix(a.Err, "malformed") && strings.HasPrefix(b.Err, "malformed") {
				t.Fatalf("row %d: %q, with the guard %q", a.Number, a.Err, b.Err)
			}
		}
	})
}

func overLimit(err error) bool {
	return errors.Is(err, ErrTooManyColumns) || errors.Is(err, ErrHeaderTooLong) || errors.Is(err, ErrTooLarge)
}
