// Package filereader reads uploaded files row by row, streaming, so that a
// file of any size is read in bounded memory.
//
// Row numbers are the ones a person sees when the file is opened in a
// spreadsheet: the header is row 1 and the first data row is row 2. Blank
// lines and rows whose cells are all empty are skipped but keep their
// numbers, and a quoted cell spanning several lines is still one row, so the
// numbers in error reports match the spreadsheet.
package filereader

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Row is one data row.
type Row struct {
	Number int      // spreadsheet row number (header = 1)
	Cells  []string // in header order; may be ragged, the validator reports that
	Err    error    // set when the row could not be parsed; the row is reported failed
}

// Reader yields the header and then the data rows of a file.
type Reader interface {
	Header() []string
	// Next returns the next row, or io.EOF after the last one. Any other
	// error means the file cannot be read further.
	Next() (Row, error)
}

// CSVOptions tunes the CSV reader.
type CSVOptions struct {
	Delimiter    rune // 0: comma
	MaxCellBytes int  // 0: 1 MiB
}

// ErrEmpty is returned for a file without a header row.
var ErrEmpty = errors.New("the file is empty: a header row is required")

type csvReader struct {
	r       *csv.Reader
	header  []string
	row     int // spreadsheet row number of the last record read
	endLine int // source line on which the last record ended
	maxCell int
	broken  int // consecutive unparsable records
}

// NewCSV reads the header row of a CSV stream. A UTF-8 byte order mark is dropped.
func NewCSV(in io.Reader, opts CSVOptions) (Reader, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	if opts.Delimiter != 0 {
		cr.Comma = opts.Delimiter
	}
	maxCell := opts.MaxCellBytes
	if maxCell == 0 {
		maxCell = 1 << 20
	}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, ErrEmpty
	}
	if err != nil {
		return nil, fmt.Errorf("header row: %w", err)
	}
	c := &csvReader{r: cr, header: header, row: 1, maxCell: maxCell}
	c.endLine = c.lastLine(header)
	return c, nil
}

// lastLine is the source line on which the record just read ended.
func (c *csvReader) lastLine(rec []string) int {
	if len(rec) == 0 {
		return c.endLine
	}
	line, _ := c.r.FieldPos(len(rec) - 1)
	return line + strings.Count(rec[len(rec)-1], "\n")
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

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func (c *csvReader) next() (Row, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	if err == nil {
		// encoding/csv drops blank lines silently; count them back in.
		start, _ := c.r.FieldPos(0)
		c.row += max(start-c.endLine-1, 0)
		c.endLine = c.lastLine(rec)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		c.row += max(pe.StartLine-c.endLine-1, 0)
		c.endLine = pe.Line
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
	c.broken = 0
	for _, cell := range rec {
		if len(cell) > c.maxCell {
			return Row{Number: c.row, Err: fmt.Errorf("a cell is longer than %d bytes", c.maxCell)}, nil
		}
	}
	return Row{Number: c.row, Cells: rec}, nil
}
