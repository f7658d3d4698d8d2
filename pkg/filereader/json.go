package filereader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MultiValueSeparator joins the values of one cell that holds several (a
// JSON array of scalars, a vCard's further e-mail addresses), as Google
// Contacts writes them in its CSV export.
const MultiValueSeparator = " ::: "

// maxJSONDepth is the deepest nesting of objects a JSON item may have;
// a deeper item fails its row (columns named by ten dotted keys are already
// more than any export writes).
const maxJSONDepth = 32

// jsonItemBytes is the most JSON text one item or line may take: its
// values may be MaxRowBytes, and escapes and keys take more room than the
// values they spell.
func jsonItemBytes(opts Options) int64 { return 2 * int64(opts.MaxRowBytes) }

// errItemTooLong stops the decoder at an item longer than jsonItemBytes.
var errItemTooLong = errors.New("item too long")

// itemGuard bounds what the decoder reads past the start of the current
// item, so that one huge string or a never-ending item cannot make it
// buffer the file.
type itemGuard struct {
	r     io.Reader
	read  int64
	limit int64
}

func (g *itemGuard) Read(p []byte) (int, error) {
	if g.read >= g.limit {
		return 0, errItemTooLong
	}
	p = p[:min(int64(len(p)), g.limit-g.read)]
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

// jsonArray reads the items of a JSON array of objects one at a time with
// the decoder's token API: the array is never held whole. Row numbers are
// item numbers: the first item is row 1.
type jsonArray struct {
	dec     *json.Decoder
	guard   *itemGuard
	maxItem int64
	opts    *Options
	n       int
	done    bool
}

func openJSONArray(text io.Reader, opts Options) (Reader, error) {
	g := &itemGuard{r: text, limit: jsonItemBytes(opts)}
	dec := json.NewDecoder(g)
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, &FormatError{Looks: "text that is not a JSON array", Want: "a JSON array of objects"}
	}
	return newRecordReader(&jsonArray{dec: dec, guard: g, maxItem: jsonItemBytes(opts), opts: &opts}, "item", nil, opts)
}

func (a *jsonArray) next() (record, error) {
	if a.done {
		return record{}, io.EOF
	}
	a.guard.limit = a.guard.read + a.maxItem
	if !a.dec.More() {
		a.done = true
		if _, err := a.dec.Token(); err != nil { // the closing ]
			if errors.Is(err, io.EOF) {
				return record{}, newError(ErrCorrupt, "the file is not valid JSON: it ends before the array is closed (after item %d)", a.n)
			}
			return record{}, a.fatal(err)
		}
		if _, err := a.dec.Token(); !errors.Is(err, io.EOF) {
			return record{}, newError(ErrCorrupt, "the file goes on after the end of the JSON array (after item %d)", a.n)
		}
		return record{}, io.EOF
	}
	a.n++
	fields, itemErr, err := flattenItem(a.dec, a.opts)
	if err != nil {
		a.done = true
		return record{}, a.fatal(err)
	}
	if itemErr != nil {
		fields = nil // a failed item holds nothing while it waits in the look-ahead
	}
	return record{number: a.n, fields: fields, err: itemErr}, nil
}

// fatal describes an error that stops the file at item a.n.
func (a *jsonArray) fatal(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, errItemTooLong):
		return newError(ErrTooLarge, "item %d is longer than %s of JSON", a.n, FormatBytes(a.maxItem))
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return wrapError(ErrCorrupt, err, "item %d is not valid JSON", a.n)
	}
	return fmt.Errorf("item %d: %w", a.n, err)
}

// ndjson reads one JSON object per line. Row numbers are line numbers;
// blank lines are skipped and keep their numbers, and a line that is not an
// object fails its row only.
type ndjson struct {
	lines  *lineReader
	opts   *Options
	line   int
	broken int // consecutive failed lines
}

func openNDJSON(text io.Reader, opts Options) (Reader, error) {
	return newRecordReader(&ndjson{lines: newLineReader(text, jsonItemBytes(opts)), opts: &opts}, "line", nil, opts)
}

func (n *ndjson) next() (record, error) {
	for {
		line, tooLong, err := n.lines.read()
		if err != nil {
			return record{}, err
		}
		n.line++
		if tooLong {
			return n.failed(newError(ErrTooLarge, "the line is longer than %s", FormatBytes(n.lines.max)))
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		fields, itemErr, err := flattenItem(dec, n.opts)
		if err == nil {
			if _, end := dec.Token(); !errors.Is(end, io.EOF) {
				err = errors.New("more than one JSON value on the line")
			}
		}
		if err != nil {
			return n.failed(fmt.Errorf("not valid JSON: %w", err))
		}
		if itemErr != nil {
			return n.failed(itemErr)
		}
		n.broken = 0
		return record{number: n.line, fields: fields}, nil
	}
}

// failed fails the current line; a long run of them means the file is
// not NDJSON at all, and stops it.
func (n *ndjson) failed(err error) (record, error) {
	n.broken++
	if n.broken > 1000 {
		return record{}, wrapError(ErrCorrupt, err, "line %d: %d failed lines in a row, is this an NDJSON file?", n.line, n.broken)
	}
	return record{number: n.line, err: err}, nil
}

// flattenItem reads one JSON value, which must be an object, into fields:
// nested objects become dotted keys ({"address": {"city": "X"}} is column
// "address.city"), an array of scalars one cell of its values joined with
// MultiValueSeparator, null an empty cell. itemErr fails this item only (the
// whole value has been read); err is the decoder's and stops the file.
func flattenItem(dec *json.Decoder, opts *Options) (fields []field, itemErr, err error) {
	f := &flattener{dec: dec, schema: opts.JSONFields}
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if tok != json.Delim('{') {
		if d, ok := tok.(json.Delim); ok {
			if err := f.skip(d); err != nil {
				return nil, nil, err
			}
		}
		return nil, fmt.Errorf("the item is %s, not an object", describeJSON(tok)), nil
	}
	if err := f.object("", 1); err != nil {
		return nil, nil, err
	}
	return f.fields, f.err, nil
}

type flattener struct {
	dec    *json.Decoder
	schema JSONFields // may be nil
	fields []field
	err    error // the first problem of the item
}

func (f *flattener) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

// object reads the members of an object whose { is read, up to its }.
func (f *flattener) object(prefix string, depth int) error {
	if depth > maxJSONDepth {
		f.fail(fmt.Errorf("%s: objects are nested more than %d deep", shortKey(prefix), maxJSONDepth))
		return f.skip(json.Delim('{'))
	}
	for f.dec.More() {
		tok, err := f.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // the decoder allows only strings here
		if prefix != "" {
			key = prefix + "." + key
		}
		if err := f.value(key, depth); err != nil {
			return err
		}
	}
	_, err := f.dec.Token() // }
	return err
}

func (f *flattener) value(key string, depth int) error {
	tok, err := f.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && f.schema != nil && f.schema.KeepWhole(key) {
		var b bytes.Buffer
		if err := f.encode(&b, d, depth); err != nil {
			return err
		}
		f.fields = append(f.fields, field{key: key, value: b.String()})
		return nil
	}
	switch tok {
	case json.Delim('{'):
		return f.object(key, depth+1)
	case json.Delim('['):
		return f.array(key)
	}
	f.fields = append(f.fields, field{key: key, value: scalar(tok)})
	return nil
}

// array reads an array whose [ is read: scalars make one cell; an array
// of objects or arrays has no cell to go to and fails the item.
func (f *flattener) array(key string) error {
	var vals []string
	for f.dec.More() {
		tok, err := f.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			f.fail(fmt.Errorf("%s: an array of %ss cannot be a cell (only an array of strings, numbers or booleans can)", shortKey(key), describeJSON(tok)[3:]))
			if err := f.skip(d); err != nil {
				return err
			}
			continue
		}
		if v := scalar(tok); v != "" {
			vals = append(vals, v)
		}
	}
	if _, err := f.dec.Token(); err != nil { // ]
		return err
	}
	sep := MultiValueSeparator
	if f.schema != nil {
		if s := f.schema.ListSeparator(key); s != "" {
			sep = s
		}
	}
	f.fields = append(f.fields, field{key: key, value: strings.Join(vals, sep)})
	return nil
}

// encode writes the object or array whose opening d is read back as
// compact JSON, for a column that takes it whole (JSONFields.KeepWhole).
func (f *flattener) encode(b *bytes.Buffer, d json.Delim, depth int) error {
	if depth > maxJSONDepth {
		f.fail(fmt.Errorf("objects are nested more than %d deep", maxJSONDepth))
		return f.skip(d)
	}
	b.WriteByte(byte(d))
	object := d == '{'
	for i := 0; f.dec.More(); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		tok, err := f.dec.Token()
		if err != nil {
			return err
		}
		if object {
			writeJSONToken(b, tok) // the key
			b.WriteByte(':')
			if tok, err = f.dec.Token(); err != nil {
				return err
			}
		}
		if inner, ok := tok.(json.Delim); ok {
			if err := f.encode(b, inner, depth+1); err != nil {
				return err
			}
			continue
		}
		writeJSONToken(b, tok)
	}
	end, err := f.dec.Token()
	if err != nil {
		return err
	}
	b.WriteByte(byte(end.(json.Delim)))
	return nil
}

func writeJSONToken(b *bytes.Buffer, tok json.Token) {
	switch v := tok.(type) {
	case string:
		enc, _ := json.Marshal(v)
		b.Write(enc)
	case nil:
		b.WriteString("null")
	default:
		b.WriteString(scalar(tok))
	}
}

// skip reads to the end of the object or array whose opening d is read,
// without recursion or keeping anything.
func (f *flattener) skip(d json.Delim) error {
	if d != '{' && d != '[' {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := f.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// scalar is the cell text of a JSON string, number, boolean or null.
func scalar(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return "" // null
}

func describeJSON(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		if tok == json.Delim('[') {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}
