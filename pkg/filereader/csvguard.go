package filereader

import (
	"bytes"
	"io"
)

// recordGuard sits between the decoded text and encoding/csv and bounds how
// much of one record encoding/csv ever holds in memory. encoding/csv keeps
// a whole record (and the line it is reading) in memory before the cell and
// column limits can look at it, so without the guard one 1 GiB cell costs
// several GiB of heap, and a line of a billion delimiters a billion fields.
//
// The guard follows encoding/csv's own grammar (LazyQuotes off, no comment
// character, CR already turned into LF by crReader) to know where each
// cell and record ends. When a record goes past a limit, it lets exactly
// one unit more through (one byte more than MaxCellBytes in a cell, one
// byte more than the row limit, one cell more than MaxColumns) so the
// checks after parsing report the limit that was hit, closes a quoted
// field it cut, and drops the rest of the record up to its end. The record
// after it is read as usual; line numbers stay consistent because encoding/csv
// counts lines in what it reads and the row numbering only uses differences.
type recordGuard struct {
	r     io.Reader
	delim byte

	// limits: the first record is the header, the others rows.
	headerBytes, rowBytes, cellBytes, cells int

	st      guardState
	header  bool // the current record is the header (no record has ended yet)
	started bool // the current record has at least one byte (an empty line is no record)
	cell    int  // decoded bytes of the current cell
	rec     int  // decoded bytes of the current record
	ncells  int  // cells of the current record, the current one included
	badLine int  // raw bytes since encoding/csv gave up on the current line
	cutting bool // the current record was cut: drop bytes up to its end
	closeQ  bool // the cut was inside a quoted field: close it first
	pending []byte
	buf     []byte
	srcErr  error

	out  int64      // bytes given to encoding/csv so far
	cuts []cutEntry // records that were cut, in order, until the reader asks
}

// cutEntry is a record the guard cut: where it ended in the guard's output
// (encoding/csv's InputOffset after reading it) and how many cells it had
// in the file.
type cutEntry struct {
	end   int64
	cells int
}

type guardState uint8

const (
	gFieldStart  guardState = iota // at the start of a field
	gUnquoted                      // in a field that did not start with a quote
	gQuoted                        // in a quoted field
	gQuotedQuote                   // just after a quote inside a quoted field
	gBadLine                       // encoding/csv reports this line malformed and skips the rest of it
)

// newRecordGuard guards r, whose fields are separated by delim (an ASCII
// byte). headerBytes bounds the header row; rowBytes, cellBytes and cells
// the data rows (cells applies to the header too).
func newRecordGuard(r io.Reader, delim byte, headerBytes, rowBytes, cellBytes, cells int) *recordGuard {
	return &recordGuard{r: r, delim: delim, headerBytes: headerBytes, rowBytes: rowBytes,
		cellBytes: cellBytes, cells: cells, header: true, ncells: 1, buf: make([]byte, 32<<10)}
}

func (g *recordGuard) Read(p []byte) (int, error) {
	for {
		if len(g.pending) > 0 {
			n := copy(p, g.pending)
			g.pending = g.pending[n:]
			return n, nil
		}
		if g.srcErr != nil {
			return 0, g.srcErr
		}
		n, err := g.r.Read(g.buf)
		if n > 0 {
			out := g.filter(g.buf[:n])
			if len(out) > 0 {
				g.pending = out
			}
			g.out += int64(len(out))
		}
		if err != nil {
			g.srcErr = err
			if g.closeQ {
				// The input ended right after a cut inside a quoted field.
				g.pending = append(g.pending, '"')
				g.closeQ = false
				g.out++
			}
			if g.cutting {
				g.cuts = append(g.cuts, cutEntry{end: g.out, cells: g.ncells})
				g.endRecord()
			}
		}
		if n == 0 && err == nil {
			return 0, nil
		}
	}
}

// filter runs the bytes of in through the grammar and returns what
// encoding/csv may see; it reuses in's memory (output never outruns input,
// except for the closing quote of a cut field, which takes the place of a
// dropped byte).
func (g *recordGuard) filter(in []byte) []byte {
	out := in[:0]
	for i := 0; i < len(in); i++ {
		c := in[i]
		if g.cutting {
			if g.closeQ {
				// The byte that triggered the cut was dropped; the closing
				// quote takes its place.
				out = append(out, '"')
				g.closeQ = false
			}
			if g.step(c) {
				out = append(out, '\n')
				g.cuts = append(g.cuts, cutEntry{end: g.out + int64(len(out)), cells: g.ncells})
				g.endRecord()
			}
			continue
		}
		wasBad := g.st == gBadLine
		end := g.step(c)
		out = append(out, c)
		if end {
			g.endRecord()
			continue
		}
		if wasBad || g.st == gBadLine {
			// encoding/csv reads the rest of a malformed line only to
			// skip it; do not let it hold more of it than of a row.
			if g.badLine++; g.badLine > g.rowBytes {
				g.cut()
			}
			continue
		}
		// The header is limited as a whole only: checkHeader does not look
		// at single cells.
		if (g.cell > g.cellBytes && !g.header) || g.rec > g.recordLimit() || g.ncells > g.cells {
			g.cut()
		}
	}
	return out
}

func (g *recordGuard) recordLimit() int {
	if g.header {
		return g.headerBytes
	}
	return g.rowBytes
}

// cut starts dropping the rest of the current record.
func (g *recordGuard) cut() {
	g.cutting = true
	// A cut inside a quoted field leaves the field open; close it so
	// encoding/csv ends the field where the guard ends the record. Just
	// after a quote (gQuotedQuote) the quote already closes it.
	g.closeQ = g.st == gQuoted
}

// step advances the grammar by one byte and reports whether it ended a
// record. It counts the decoded bytes of the cell and the record and the
// cells of the record.
func (g *recordGuard) step(c byte) bool {
	if c != '\n' || g.st == gQuoted {
		g.started = true
	}
	switch g.st {
	case gFieldStart:
		switch c {
		case '"':
			g.st = gQuoted
		case g.delim:
			g.newCell()
		case '\n':
			return g.started
		default:
			g.st = gUnquoted
			g.count()
		}
	case gUnquoted:
		switch c {
		case g.delim:
			g.newCell()
		case '\n':
			return true
		case '"':
			g.st = gBadLine // ErrBareQuote
		default:
			g.count()
		}
	case gQuoted:
		if c == '"' {
			g.st = gQuotedQuote
		} else {
			g.count()
		}
	case gQuotedQuote:
		switch c {
		case '"':
			g.st = gQuoted // an escaped quote
			g.count()
		case g.delim:
			g.newCell()
		case '\n':
			return true
		default:
			g.st = gBadLine // ErrQuote
		}
	case gBadLine:
		if c == '\n' {
			return true
		}
	}
	return false
}

func (g *recordGuard) count() {
	g.cell++
	g.rec++
}

func (g *recordGuard) newCell() {
	g.st = gFieldStart
	g.cell = 0
	g.ncells++
}

func (g *recordGuard) endRecord() {
	g.st, g.header, g.started, g.cutting, g.closeQ = gFieldStart, false, false, false, false
	g.cell, g.rec, g.ncells, g.badLine = 0, 0, 1, 0
}

// width returns the number of cells the record that encoding/csv has just
// read had in the file, given encoding/csv's InputOffset before and after
// reading it; n is the number of cells encoding/csv returned.
func (g *recordGuard) width(before, after int64, n int) int {
	w := n
	for len(g.cuts) > 0 && g.cuts[0].end <= after {
		if g.cuts[0].end > before {
			w = g.cuts[0].cells
		}
		g.cuts = g.cuts[1:]
	}
	return w
}

// guardable reports whether the guard understands delim: any single byte
// except the quote and line breaks (encoding/csv refuses those anyway).
func guardable(delim rune) bool {
	return delim > 0 && delim < 0x80 && !bytes.ContainsRune([]byte("\"\r\n"), delim)
}
