// Package filereader reads uploaded files row by row, streaming, so that a
// file of any size is read in bounded memory.
//
// Open sniffs the format: a ZIP archive is read as an XLSX workbook; text
// whose first character (after white space) is "[" as a JSON array of
// objects, "{" as NDJSON (one object per line), and "BEGIN:VCARD" as vCard;
// anything else as CSV (or tab-separated "Unicode text"). Files that are
// clearly something else (images, PDFs, old .xls workbooks, binary files)
// are refused with a FormatError that says what the file looks like.
//
// Row numbers are the ones a person sees when the file is opened in a
// spreadsheet: the header is row 1 and the first data row is row 2. Blank
// lines and rows whose cells are all empty are skipped but keep their
// numbers, and a quoted cell spanning several lines is still one row, so the
// numbers in error reports match the spreadsheet. A CSV file may start with
// a preamble, lines of text before the header (LinkedIn's "Notes:"): see
// csvReader.skipPreamble for the rule; the header then keeps its own row
// number (4, say) and the first data row follows it (5). In an XLSX workbook the
// numbers are the sheet's own and the header must be row 1; cells come out
// as Excel displays them (a phone number stored as a number reads
// "4155550123", a date "2024-01-01" or in the cell's own date format), and
// rows are padded with empty cells to the header's width, since a sheet
// does not store the empty cells at the end of a row.
//
// JSON, NDJSON and vCard have no header row: row N is the Nth item of the
// array, the object on line N, or the Nth card, so numbering starts at 1
// where a spreadsheet's first data row is 2. Their rows come out in
// header order like CSV's (see recordReader for how the header is found).
//
// CSV may be UTF-8 (with or without a byte order mark), UTF-16 with a byte
// order mark (Excel's "Unicode text"), or Windows-1252 (Excel's "CSV" in
// western locales); line breaks may be LF, CRLF or CR. The delimiter is
// detected from the header line unless given, and an Excel "sep=;" first
// line is honoured.
package filereader

import (
	"bufio"
	"bytes"
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

// Formats accepted in Options.Format.
const (
	FormatAuto = ""     // sniff the content
	FormatCSV  = "csv"  // CSV or other delimited text
	FormatXLSX = "xlsx" // Office Open XML workbook
	// JSON: an array of objects, or one object per line (NDJSON); the
	// content says which.
	FormatJSON   = "json"
	FormatNDJSON = "ndjson" // one JSON object per line
	FormatVCard  = "vcard"  // vCard 2.1, 3 or 4 (.vcf)
)

// FormatNames lists the values accepted in Options.Format.
const FormatNames = "csv, xlsx, json, ndjson, vcard"

// Defaults for the zero values of Options.
const (
	DefaultMaxCellBytes     = 1 << 20
	DefaultMaxRowBytes      = 4 << 20
	DefaultMaxHeaderBytes   = 64 << 10
	DefaultMaxColumns       = 1000
	DefaultMaxXLSXBytes     = 256 << 20
	DefaultMaxUnzipBytes    = 1 << 30
	DefaultMaxUnzipXMLBytes = 64 << 20
	// A workbook's shared-strings table is decoded whole, at a few hundred
	// bytes per entry, before the first row is read: 1,000,000 entries is
	// a sheet of 200,000 rows with five distinct text columns.
	DefaultMaxSharedStrings     = 1_000_000
	DefaultMaxSharedStringBytes = 64 << 20
	// JSON has no header row: the columns are the keys of the first
	// 1,000 items (or of those within 16 MiB of values), read ahead
	// before the first row goes out.
	DefaultHeaderLookahead   = 1000
	DefaultMaxLookaheadBytes = 16 << 20
)

// Options tunes Open. The zero value sniffs the format and the delimiter and
// applies the defaults above.
type Options struct {
	// Format is "" (sniff the content) or one of FormatNames.
	Format string
	// Delimiter is the CSV field separator: "" detects it from the header
	// line (comma, semicolon, tab or pipe); otherwise one of "comma",
	// "semicolon", "pipe", "tab", "hyphen" or the character itself
	// (, ; | \t -). A hyphen is never detected, only used when asked for.
	Delimiter string
	// Sheet is the XLSX worksheet to read; "" reads the first one.
	Sheet string
	// MaxCellBytes fails a row with a longer cell (0: 1 MiB).
	MaxCellBytes int
	// MaxRowBytes fails a row whose cells together are longer (0: 4 MiB,
	// or MaxCellBytes if that is larger). A row travels to the validator in
	// one broker message, and a CSV reader holds no more of a row than this
	// in memory, however long the row in the file is.
	MaxRowBytes int
	// MaxHeaderBytes refuses a header row whose cells together are longer
	// (0: 64 KiB). The header names the columns and travels with every
	// chunk of rows.
	MaxHeaderBytes int
	// MaxColumns refuses a wider header and fails a wider row (0: 1000).
	MaxColumns int
	// MaxXLSXBytes is the largest XLSX upload spooled to disk (0: 256 MiB).
	MaxXLSXBytes int64
	// MaxUnzipBytes is the largest total unpacked size of an XLSX workbook
	// (0: 1 GiB; excelize's UnzipSizeLimit).
	MaxUnzipBytes int64
	// MaxUnzipXMLBytes is the largest worksheet or shared-strings part kept
	// in memory; larger ones are unpacked to TempDir and streamed (0: 64 MiB;
	// excelize's UnzipXMLSizeLimit). Every other part of a workbook is
	// always held in memory, so a single such part may not exceed this
	// size, all in-memory parts together may not exceed four times it, and
	// no single row or shared string may take more XML than it either.
	MaxUnzipXMLBytes int64
	// MaxSharedStrings refuses an XLSX workbook whose shared-strings table
	// has more entries (0: 1,000,000), and MaxSharedStringBytes one whose
	// entries hold more text, as written (0: 64 MiB). Both are checked by
	// streaming the table before excelize decodes it.
	MaxSharedStrings     int
	MaxSharedStringBytes int64
	// HeaderLookahead is how many JSON or NDJSON items are read ahead to
	// find the columns (0: 1,000), and MaxLookaheadBytes how many bytes of
	// their keys and values at most (0: 16 MiB). A key first met after
	// them fails its row (ErrUnknownColumn).
	HeaderLookahead   int
	MaxLookaheadBytes int
	// JSONFields, if set, says how JSON keys meet the schema's fields
	// (nil: every object is flattened, every array joined with
	// MultiValueSeparator).
	JSONFields JSONFields
	// TempDir holds the spooled XLSX upload and excelize's temporary files
	// ("": os.TempDir()).
	TempDir string
}

// JSONFields tells a JSON reader about the fields its keys (dotted, as
// flattened) name. An implementation must be comparable (a pointer, say):
// Options are compared.
type JSONFields interface {
	// KeepWhole reports a key whose object or array is kept whole, as
	// compact JSON text in one cell, instead of being flattened: the
	// column of a json field.
	KeepWhole(key string) bool
	// ListSeparator is the separator that joins an array of scalars
	// under key ("": MultiValueSeparator): a list field's.
	ListSeparator(key string) string
}

// Sentinel errors, for errors.Is. The errors returned carry a message for
// people (stating the limit that was hit) and match one of these.
var (
	// ErrEmpty: the file has no header row.
	ErrEmpty = errors.New("the file is empty: a header row is required")
	// ErrUnsupportedFormat: the file is neither CSV nor XLSX (see FormatError),
	// or Options.Format names an unknown format.
	ErrUnsupportedFormat = errors.New("unsupported file format")
	// ErrTooManyColumns: the header (an Open error) or a row (a Row.Err) is
	// wider than Options.MaxColumns.
	ErrTooManyColumns = errors.New("too many columns")
	// ErrTooLarge: an XLSX upload over MaxXLSXBytes, a workbook unpacking to
	// more than the unzip limits, or a cell over MaxCellBytes or a row over
	// MaxRowBytes (a Row.Err).
	ErrTooLarge = errors.New("the file is too large")
	// ErrHeaderTooLong: the header row is longer than MaxHeaderBytes (an
	// Open error); usually the first row of the file is not a header.
	ErrHeaderTooLong = errors.New("the header row is too long")
	// ErrCorrupt: the file is damaged or truncated (XLSX).
	ErrCorrupt = errors.New("the file is damaged")
	// ErrSheetNotFound: Options.Sheet names no sheet of the workbook.
	ErrSheetNotFound = errors.New("no such sheet")
	// ErrInvalidOption: an Options field has a value Open does not know.
	ErrInvalidOption = errors.New("invalid option")
)

// kindError is an error with its own message that matches a sentinel.
type kindError struct {
	kind error
	msg  string
	err  error // optional cause, also visible to errors.Is/As
}

func (e *kindError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *kindError) Unwrap() []error {
	if e.err != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.kind}
}

func newError(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func wrapError(kind, cause error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...), err: cause}
}

// FormatError says what a refused file looks like. It matches
// ErrUnsupportedFormat.
type FormatError struct {
	Looks string // what the file looks like, e.g. "a PNG image"
	Want  string // what was expected, e.g. "CSV or XLSX"
	Hint  string // optional advice
}

func (e *FormatError) Error() string {
	msg := "the file looks like " + e.Looks + ", not " + e.Want
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *FormatError) Is(target error) bool { return target == ErrUnsupportedFormat }

// delimiters maps the names accepted in Options.Delimiter.
var delimiters = map[string]rune{
	"comma": ',', ",": ',',
	"semicolon": ';', ";": ';',
	"pipe": '|', "|": '|',
	"tab": '\t', "\t": '\t', `\t`: '\t',
	"hyphen": '-', "-": '-',
}

// DelimiterNames lists the names accepted in Options.Delimiter.
const DelimiterNames = "comma, semicolon, pipe, tab, hyphen"

func (o Options) withDefaults() (Options, rune, error) {
	o.Format = strings.ToLower(strings.TrimSpace(o.Format))
	switch o.Format {
	case FormatAuto, FormatCSV, FormatXLSX, FormatJSON, FormatNDJSON, FormatVCard:
	case "vcf":
		o.Format = FormatVCard
	default:
		return o, 0, newError(ErrUnsupportedFormat, "unknown format %q (one of: %s)", o.Format, FormatNames)
	}
	var delim rune
	if o.Delimiter != "" {
		d, ok := delimiters[strings.ToLower(o.Delimiter)]
		if !ok {
			d, ok = delimiters[strings.ToLower(strings.TrimSpace(o.Delimiter))]
		}
		if !ok {
			return o, 0, newError(ErrInvalidOption, "unknown delimiter %q (one of: %s)", o.Delimiter, DelimiterNames)
		}
		delim = d
	}
	unsetToDefault(&o.MaxCellBytes, DefaultMaxCellBytes)
	unsetToDefault(&o.MaxRowBytes, max(DefaultMaxRowBytes, o.MaxCellBytes))
	unsetToDefault(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	unsetToDefault(&o.MaxColumns, DefaultMaxColumns)
	unsetToDefault(&o.MaxXLSXBytes, DefaultMaxXLSXBytes)
	unsetToDefault(&o.MaxUnzipBytes, DefaultMaxUnzipBytes)
	unsetToDefault(&o.MaxUnzipXMLBytes, DefaultMaxUnzipXMLBytes)
	o.MaxUnzipXMLBytes = min(o.MaxUnzipXMLBytes, o.MaxUnzipBytes)
	unsetToDefault(&o.MaxSharedStrings, DefaultMaxSharedStrings)
	unsetToDefault(&o.MaxSharedStringBytes, DefaultMaxSharedStringBytes)
	unsetToDefault(&o.HeaderLookahead, DefaultHeaderLookahead)
	unsetToDefault(&o.MaxLookaheadBytes, DefaultMaxLookaheadBytes)
	return o, delim, nil
}

// unsetToDefault gives a limit left unset (zero, or negative) its default.
func unsetToDefault[T int | int64](limit *T, def T) {
	if *limit <= 0 {
		*limit = def
	}
}

func noCleanup() error { return nil }

// sniffSize is how much of the file Open looks at before choosing a reader.
const sniffSize = 64 << 10

// Open reads the header of an uploaded file and returns a Reader for its
// rows. The format is sniffed from the first bytes unless opts.Format says
// otherwise. cleanup releases what the reader holds (temporary files of an
// XLSX workbook); it is never nil, may be called any number of times, and
// must be called once the rows are read. When Open fails it has already
// cleaned up after itself.
//
// Errors from r (such as *http.MaxBytesError) stay visible to errors.As,
// both from Open and from Next.
func Open(r io.Reader, opts Options) (rd Reader, cleanup func() error, err error) {
	opts, delim, err := opts.withDefaults()
	if err != nil {
		return nil, noCleanup, err
	}
	return open(r, opts, delim)
}

// open is Open with opts defaulted and the delimiter resolved (0: detect).
func open(r io.Reader, opts Options, delim rune) (rd Reader, cleanup func() error, err error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, noCleanup, fmt.Errorf("reading the file: %w", err)
	}
	if len(head) == 0 {
		return nil, noCleanup, ErrEmpty
	}
	zipped := isZip(head)
	switch {
	case zipped && opts.Format != FormatAuto && opts.Format != FormatXLSX:
		return nil, noCleanup, &FormatError{Looks: "a ZIP archive (an XLSX workbook?)", Want: strings.ToUpper(opts.Format)}
	case zipped:
		return openXLSX(br, opts)
	case opts.Format == FormatXLSX:
		if fe := sniffBinary(head); fe != nil {
			fe.Want = "XLSX"
			return nil, noCleanup, fe
		}
		return nil, noCleanup, &FormatError{Looks: "text or an unknown format", Want: "an XLSX workbook"}
	}
	if fe := sniffBinary(head); fe != nil {
		return nil, noCleanup, fe
	}
	if opts.Format != FormatCSV {
		if rd, ok, err := openText(br, head, opts); ok {
			if err != nil {
				return nil, noCleanup, err
			}
			return rd, noCleanup, nil
		}
	}
	rd, err = openCSV(br, head, opts, delim)
	if err != nil {
		return nil, noCleanup, err
	}
	return rd, noCleanup, nil
}

var signatures = []struct {
	magic string
	looks string
	hint  string
}{
	{"\x89PNG\r\n\x1a\n", "a PNG image", ""},
	{"\xff\xd8\xff", "a JPEG image", ""},
	{"GIF87a", "a GIF image", ""},
	{"GIF89a", "a GIF image", ""},
	{"%PDF-", "a PDF document", ""},
	{"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls), a password-protected workbook or another legacy Office file",
		"save it as .xlsx (without a password) or as CSV"},
	{"\x1f\x8b", "a gzip archive", "unpack it first"},
	{"Rar!\x1a\x07", "a RAR archive", "unpack it first"},
	{"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it first"},
}

// sniffBinary recognises files that are clearly not delimited text.
func sniffBinary(head []byte) *FormatError {
	for _, s := range signatures {
		if bytes.HasPrefix(head, []byte(s.magic)) {
			return &FormatError{Looks: s.looks, Want: "CSV or XLSX", Hint: s.hint}
		}
	}
	if hasUTF16BOM(head) {
		return nil
	}
	if bytes.IndexByte(head[:min(len(head), 8<<10)], 0) >= 0 {
		return &FormatError{Looks: "a binary file (it contains NUL bytes)", Want: "CSV or XLSX",
			Hint: "UTF-16 text needs a byte order mark; saving it as UTF-8 CSV works best"}
	}
	return nil
}

// isZip reports a ZIP archive (an XLSX workbook is one).
func isZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
}

func hasUTF16BOM(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF})
}

// FormatBytes prints a size limit for people: "256 MiB".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkHeader applies the column and length limits to a header row; width
// is the number of columns it has in the file.
func checkHeader(header []string, width, maxCols, maxBytes int) error {
	if width > maxCols || len(header) > maxCols {
		return newError(ErrTooManyColumns, "the header has %d columns; at most %d are allowed", max(width, len(header)), maxCols)
	}
	n := 0
	for _, h := range header {
		n += len(h)
	}
	if n > maxBytes {
		return newError(ErrHeaderTooLong, "the header row is longer than %s; it should name the columns (is the first row of the file a header?)", FormatBytes(int64(maxBytes)))
	}
	return nil
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
