package filereader

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// field is one named value of a record: a flattened JSON key or a vCard
// column.
type field struct {
	key, value string
}

// record is one item of a format without a header row (JSON, NDJSON,
// vCard): its fields by name, in the order met.
type record struct {
	number int     // row number: item, line or card number
	fields []field // in the order met
	err    error   // set when the item could not be parsed; the row fails with it
}

// recordSource yields the records of a file. next returns io.EOF after the
// last one; any other error means the file cannot be read further.
type recordSource interface {
	next() (record, error)
}

// recordReader turns records into rows under one header. Rows travel in
// chunks that share one header (envelope.RowChunk), fixed before the first
// row is published, so the header of an open set of keys (JSON) is the
// union of the keys of the first records in first-seen order, read ahead
// within a bound; a later record with a key outside it fails that row and
// names the key. A format with a fixed set of columns (vCard) gives its
// header and reads nothing ahead.
type recordReader struct {
	src     recordSource
	noun    string // "item", "line", "card": what a row number counts
	header  []string
	index   map[string]int
	pending []record // read ahead, handed out first
	srcErr  error    // the error that ended the look-ahead, after pending
	maxCell int
	maxRow  int
	maxCols int
	ahead   int // records read ahead, for the message of a later key
	info    Info
}

// newRecordReader reads the header of src: fixed if given, else from a
// look-ahead of at most lookahead records and lookaheadBytes of values.
func newRecordReader(src recordSource, noun string, fixed []string, opts Options) (*recordReader, error) {
	rr := &recordReader{src: src, noun: noun, maxCell: opts.MaxCellBytes, maxRow: opts.MaxRowBytes, maxCols: opts.MaxColumns, index: map[string]int{}}
	for _, h := range fixed {
		rr.add(h)
	}
	if fixed == nil {
		if err := rr.readAhead(opts); err != nil {
			return nil, err
		}
	}
	if len(rr.header) == 0 {
		if len(rr.pending) == 0 && rr.srcErr != nil {
			return nil, rr.srcErr
		}
		for _, r := range rr.pending {
			if r.err != nil {
				return nil, wrapError(ErrEmpty, r.err, "no %s of the file has a value to import (%s %d)", noun, noun, r.number)
			}
		}
		return nil, newError(ErrEmpty, "the file is empty: no %s has a value to import", noun)
	}
	if err := checkHeader(rr.header, len(rr.header), rr.maxCols, opts.MaxHeaderBytes); err != nil {
		return nil, err
	}
	return rr, nil
}

func (rr *recordReader) add(key string) {
	if _, ok := rr.index[key]; !ok {
		rr.index[key] = len(rr.header)
		rr.header = append(rr.header, key)
	}
}

// readAhead fills pending and the header. A record that fails on its own
// adds no key; more distinct keys than MaxColumns refuse the file, as a CSV
// header that wide is refused.
func (rr *recordReader) readAhead(opts Options) error {
	size := 0
	for len(rr.pending) < opts.HeaderLookahead && size < opts.MaxLookaheadBytes {
		r, err := rr.src.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			rr.srcErr = err
			return nil
		}
		// A row that fails keeps nothing while it waits: the look-ahead's
		// byte bound counts only the values it holds.
		if r.err == nil && len(r.fields) > rr.maxCols {
			r.err = rr.tooWide(len(r.fields))
		}
		if r.err != nil {
			r.fields = nil
		}
		rr.pending = append(rr.pending, r)
		rr.ahead++
		for _, f := range r.fields {
			size += len(f.key) + len(f.value)
			rr.add(f.key)
			if len(rr.header) > rr.maxCols {
				return newError(ErrTooManyColumns, "the first %d %ss have more than %d distinct keys, the most columns a file may have", rr.ahead, rr.noun, rr.maxCols)
			}
		}
	}
	return nil
}

func (rr *recordReader) tooWide(n int) error {
	return newError(ErrTooManyColumns, "the %s has %d values; at most %d columns are allowed", rr.noun, n, rr.maxCols)
}

func (rr *recordReader) Header() []string { return rr.header }

func (rr *recordReader) Next() (Row, error) {
	for {
		r, err := rr.nextRecord()
		if err != nil {
			return Row{}, err
		}
		row := rr.row(r)
		if row.Err != nil || !blank(row.Cells) {
			return row, nil
		}
	}
}

func (rr *recordReader) nextRecord() (record, error) {
	if len(rr.pending) > 0 {
		r := rr.pending[0]
		rr.pending[0] = record{}
		rr.pending = rr.pending[1:]
		return r, nil
	}
	if rr.srcErr != nil {
		return record{}, rr.srcErr
	}
	return rr.src.next()
}

// ErrUnknownColumn: a record has a key that is not in the header, which was
// taken from the first records of the file (a Row.Err).
var ErrUnknownColumn = errors.New("a key outside the header")

func (rr *recordReader) row(r record) Row {
	if r.err != nil {
		return Row{Number: r.number, Err: r.err}
	}
	if len(r.fields) > rr.maxCols {
		return Row{Number: r.number, Err: rr.tooWide(len(r.fields))}
	}
	cells := make([]string, len(rr.header))
	seen := make([]bool, len(rr.header))
	for _, f := range r.fields {
		i, ok := rr.index[f.key]
		if !ok {
			if f.value == "" {
				continue // nothing lost
			}
			return Row{Number: r.number, Err: newError(ErrUnknownColumn, "key %q first appears after the first %d %ss, from which the columns were taken; put it in an earlier %s (even empty) to import it", shortKey(f.key), rr.ahead, rr.noun, rr.noun)}
		}
		if seen[i] {
			return Row{Number: r.number, Err: fmt.Errorf("key %q appears twice", shortKey(f.key))}
		}
		seen[i] = true
		cells[i] = f.value
	}
	if err := checkRow(cells, len(cells), rr.maxCols, rr.maxCell, rr.maxRow); err != nil {
		return Row{Number: r.number, Err: err}
	}
	return Row{Number: r.number, Cells: cells}
}

// shortKey is a key as an error message names it: a key may be as long as
// a row, and failed rows wait in the look-ahead with their messages.
func shortKey(k string) string {
	const most = 200
	if len(k) <= most {
		return k
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "…"
}
