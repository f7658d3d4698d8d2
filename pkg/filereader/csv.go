package filereader

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CSVOptions tunes NewCSV, which is kept for existing callers; new code
// should use Open with Options, which also reads XLSX.
type CSVOptions struct {
	Delimiter    rune // 0: detect from the header line (comma, semicolon, tab or pipe)
	MaxCellBytes int  // 0: 1 MiB
}

// NewCSV reads the header row of a CSV stream; it is Open with Format "csv".
// Encodings and delimiters are handled as by Open; any Delimiter rune that
// encoding/csv accepts may be given, and 0 detects it. A ZIP archive (XLSX)
// is refused with a FormatError: reading one needs Open's cleanup.
func NewCSV(in io.Reader, opts CSVOptions) (Reader, error) {
	o, _, err := Options{Format: FormatCSV, MaxCellBytes: opts.MaxCellBytes}.withDefaults()
	if err != nil {
		return nil, err
	}
	rd, _, err := open(in, o, opts.Delimiter) // nothing to clean up for CSV
	return rd, err
}

// noGuard turns recordGuard off (tests compare the readings with and
// without it).
var noGuard = false

type csvReader struct {
	r       *csv.Reader
	header  []string
	row     int // spreadsheet row number of the last record read
	endLine int // source line on which the last record ended
	maxCell int
	maxRow  int
	maxCols int
	broken  int         // consecutive unparsable records
	ahead   []csvRecord // records read past the header while looking for it
	info    Info

	guard  *recordGuard // nil for a delimiter it does not know
	offset int64        // encoding/csv's InputOffset after the last record
}

// width is the number of cells the record just read had in the file: n,
// unless the guard cut it short.
func (c *csvReader) width(n int) int {
	before, after := c.offset, c.r.InputOffset()
	c.offset = after
	if c.guard == nil {
		return n
	}
	return c.guard.width(before, after, n)
}

// openCSV reads the header of delimited text; br holds the raw bytes, head
// their first bytes (peeked). delim 0 detects the delimiter.
func openCSV(br *bufio.Reader, head []byte, opts Options, delim rune) (Reader, error) {
	text, enc := decodeText(br, head, len(head) < sniffSize)
	tr := bufio.NewReaderSize(&crReader{r: text}, 64<<10)
	if d, ok := excelSepLine(tr); ok && delim == 0 {
		delim = d
	}
	if delim == 0 {
		delim = detectDelimiter(tr)
	}
	var (
		src   io.Reader = tr
		guard *recordGuard
	)
	if guardable(delim) && !noGuard {
		// Bound what encoding/csv holds of one record (see recordGuard).
		guard = newRecordGuard(tr, byte(delim), opts.MaxHeaderBytes, opts.MaxRowBytes, opts.MaxCellBytes, opts.MaxColumns)
		src = guard
	}
	cr := csv.NewReader(src)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	cr.Comma = delim
	c := &csvReader{r: cr, guard: guard, maxCell: opts.MaxCellBytes, maxRow: opts.MaxRowBytes, maxCols: opts.MaxColumns}
	first := c.readRecord()
	if errors.Is(first.err, io.EOF) {
		return nil, ErrEmpty
	}
	if first.err != nil {
		return nil, fmt.Errorf("header row: %w", first.err)
	}
	hdr := c.skipPreamble(first)
	c.header, c.row, c.endLine = hdr.cells, hdr.start, hdr.end
	c.info = Info{Format: FormatCSV, Encoding: enc, Delimiter: string(delim), HeaderRow: hdr.start}
	if blank(c.header) {
		return nil, newError(ErrEmpty, "the header row (row %d) is empty", hdr.start)
	}
	if err := checkHeader(c.header, hdr.width, c.maxCols, opts.MaxHeaderBytes); err != nil {
		return nil, err
	}
	return c, nil
}

// MaxPreambleRows is how many rows of text before the header a CSV file may
// have (LinkedIn's "Notes:" and a sentence).
const MaxPreambleRows = 10

// skipPreamble finds the header row, first being the file's first record.
// The header is the first record unless that has exactly one non-empty
// cell: then the records of one non-empty cell that start the file are a
// preamble if, within the first MaxPreambleRows, the record after them has
// at least two non-empty cells and the record after that (if any) has as
// many fields. Anything else keeps the first record as the header, so a
// file whose header names several columns is read as before, and so is a
// one-column file unless two rows of several cells follow its first rows.
// The records read ahead are kept for Next.
func (c *csvReader) skipPreamble(first csvRecord) csvRecord {
	if !c.preambleLine(first) {
		return first
	}
	// Read the run of one-cell records (at most MaxPreambleRows), the
	// record after it (the header candidate) and the one after that.
	ahead := []csvRecord{first}
	for len(ahead) <= MaxPreambleRows && c.preambleLine(ahead[len(ahead)-1]) {
		if !c.readAhead(&ahead) {
			break
		}
	}
	n := len(ahead) - 1 // the candidate, if it is not a preamble line
	if !c.preambleLine(ahead[n]) && ahead[n].err == nil {
		c.readAhead(&ahead)
	}
	c.ahead = ahead[1:]
	cand := ahead[n]
	if n == 0 || !c.plainRecord(cand) || nonEmpty(cand.cells) < 2 {
		return first
	}
	if n+1 < len(ahead) && (!c.plainRecord(ahead[n+1]) || len(ahead[n+1].cells) != len(cand.cells)) {
		return first
	}
	c.ahead = ahead[n+1:]
	return cand
}

// readAhead appends the next record to ahead; false at the end of the file.
func (c *csvReader) readAhead(ahead *[]csvRecord) bool {
	r := c.readRecord()
	if errors.Is(r.err, io.EOF) {
		return false
	}
	*ahead = append(*ahead, r)
	return true
}

// plainRecord reports a record read whole, within the row limits (one the
// guard cut short is not).
func (c *csvReader) plainRecord(r csvRecord) bool {
	return r.err == nil && checkRow(r.cells, r.width, c.maxCols, c.maxCell, c.maxRow) == nil
}

// preambleLine reports a record of one non-empty cell: a line of text.
func (c *csvReader) preambleLine(r csvRecord) bool {
	return c.plainRecord(r) && len(r.cells) == 1 && strings.TrimSpace(r.cells[0]) != ""
}

func nonEmpty(cells []string) int {
	n := 0
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			n++
		}
	}
	return n
}

// csvRecord is one record as encoding/csv read it, with where it was.
type csvRecord struct {
	cells      []string
	err        error
	start, end int // source lines it started and ended on
	width      int // cells it had in the file (see width)
}

// readRecord reads the next record, from those read ahead first.
func (c *csvReader) readRecord() csvRecord {
	if len(c.ahead) > 0 {
		r := c.ahead[0]
		c.ahead = c.ahead[1:]
		return r
	}
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return csvRecord{err: io.EOF}
	}
	r := csvRecord{cells: rec, err: err, width: c.width(len(rec))}
	switch pe := parseError(err); {
	case err == nil && len(rec) > 0:
		r.start, _ = c.r.FieldPos(0)
		line, _ := c.r.FieldPos(len(rec) - 1)
		r.end = line + strings.Count(rec[len(rec)-1], "\n")
	case pe != nil:
		r.start, r.end = pe.StartLine, pe.Line
	}
	return r
}

// parseError is err's *csv.ParseError, if any; nil costs nothing (the
// target of errors.As escapes, so it is not declared on every row).
func parseError(err error) *csv.ParseError {
	if err == nil {
		return nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// excelSepLine consumes Excel's "sep=;" first line, which names the
// delimiter and is not shown as a row.
func excelSepLine(tr *bufio.Reader) (rune, bool) {
	b, _ := tr.Peek(6)
	if len(b) < 5 || !strings.EqualFold(string(b[:4]), "sep=") || (len(b) == 6 && b[5] != '\n') {
		return 0, false
	}
	d := rune(b[4])
	if d == '"' || d == '\n' || d >= 0x80 {
		return 0, false
	}
	_, _ = tr.Discard(len(b))
	return d, true
}

// detectDelimiter picks the candidate found most often outside quotes in the
// header line. A tie goes to the candidate least likely to be part of a
// column name (tab, semicolon, pipe, comma), and no candidate at all means
// comma (a single column). A first line without any (a preamble's "Notes:")
// defers to the next line that has one, within MaxPreambleRows lines.
func detectDelimiter(tr *bufio.Reader) rune {
	b, _ := tr.Peek(sniffSize)
	candidates := [...]rune{'\t', ';', '|', ','}
	var counts [len(candidates)]int
	quoted, lines := false, 0
scan:
	for _, c := range b {
		switch c {
		case '"':
			quoted = !quoted
		case '\n':
			if quoted {
				continue
			}
			if lines++; lines > MaxPreambleRows || counts != [len(candidates)]int{} {
				break scan
			}
		default:
			if quoted {
				continue
			}
			for i, d := range candidates {
				if rune(c) == d {
					counts[i]++
				}
			}
		}
	}
	best, most := ',', 0
	for i, d := range candidates {
		if counts[i] > most {
			best, most = d, counts[i]
		}
	}
	return best
}

func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Next() (Row, error) {
	for {
		row, err := c.next()
		if err != nil || row.Err != nil || !blank(row.Cells) {
			return row, err
		}
	}
}

func (c *csvReader) next() (Row, error) {
	r := c.readRecord()
	if errors.Is(r.err, io.EOF) {
		return Row{}, io.EOF
	}
	rec, err := r.cells, r.err
	pe := parseError(err)
	if err == nil || pe != nil {
		// encoding/csv drops blank lines silently; count them back in.
		c.row += max(r.start-c.endLine-1, 0)
		c.endLine = r.end
	}
	c.row++
	if pe != nil {
		// A malformed record fails that row, not the file; encoding/csv
		// resumes at the next line. Give up only on a long run of them.
		c.broken++
		if c.broken > 1000 {
			return Row{}, fmt.Errorf("row %d: %d malformed rows in a row, is this a CSV file? %w", c.row, c.broken, err)
		}
		return Row{Number: c.row, Err: fmt.Errorf("malformed CSV: %v", pe.Err)}, nil
	}
	if err != nil {
		return Row{}, fmt.Errorf("row %d: %w", c.row, err)
	}
	width := r.width
	c.broken = 0
	if err := checkRow(rec, width, c.maxCols, c.maxCell, c.maxRow); err != nil {
		return Row{Number: c.row, Err: err}, nil
	}
	return Row{Number: c.row, Cells: rec}, nil
}

// checkRow applies the column, cell and row limits to a data row; width
// is the number of cells the row has in the file. A CSV row cut short by
// recordGuard still goes one cell or byte past the limit it hit, so it is
// reported here like any other.
func checkRow(cells []string, width, maxCols, maxCell, maxRow int) error {
	if width > maxCols || len(cells) > maxCols {
		return newError(ErrTooManyColumns, "the row has %d cells; at most %d columns are allowed", max(width, len(cells)), maxCols)
	}
	n := 0
	for _, cell := range cells {
		if len(cell) > maxCell {
			return newError(ErrTooLarge, "a cell is longer than %d bytes", maxCell)
		}
		n += len(cell)
	}
	if n > maxRow {
		return newError(ErrTooLarge, "the row is longer than %s", FormatBytes(int64(maxRow)))
	}
	return nil
}
