package filereader

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/net/html/charset"
)

// maxParts bounds the number of parts (files) of a workbook.
const maxParts = 10000

// xlsxReader streams the rows of one worksheet with excelize's Rows
// iterator. Row numbers are the sheet's own: the header is row 1 of the
// sheet, and every row after it counts, empty or not.
type xlsxReader struct {
	dir       string // private temporary directory: the spooled upload and excelize's files
	f         *excelize.File
	rows      *excelize.Rows
	sheet     string
	header    []string
	row       int // sheet row number of the last row read
	maxCell   int
	maxRow    int
	maxHeader int
	maxCols   int
	check     *sheetCheck // the sheet's XML, decoded beside the reading
	broken    int         // consecutive unreadable rows
	err       error       // the error that ended the reading, if any
	done      bool

	once     sync.Once
	cleanErr error
}

func openXLSX(br *bufio.Reader, opts Options) (Reader, func() error, error) {
	dir, err := os.MkdirTemp(opts.TempDir, "intake-xlsx-")
	if err != nil {
		return nil, noCleanup, fmt.Errorf("creating a temporary directory: %w", err)
	}
	x := &xlsxReader{dir: dir, maxCell: opts.MaxCellBytes, maxRow: opts.MaxRowBytes, maxHeader: opts.MaxHeaderBytes, maxCols: opts.MaxColumns}
	if err := x.open(br, opts); err != nil {
		_ = x.cleanup()
		return nil, noCleanup, err
	}
	return x, x.cleanup, nil
}

// cleanup closes the workbook and removes the temporary directory.
func (x *xlsxReader) cleanup() error {
	x.once.Do(func() {
		x.check.close()
		if x.rows != nil {
			_ = x.rows.Close()
		}
		if x.f != nil {
			x.cleanErr = x.f.Close()
		}
		if err := os.RemoveAll(x.dir); err != nil && x.cleanErr == nil {
			x.cleanErr = err
		}
	})
	return x.cleanErr
}

func (x *xlsxReader) open(br *bufio.Reader, opts Options) error {
	path := filepath.Join(x.dir, "upload.xlsx")
	if err := spool(path, br, opts.MaxXLSXBytes); err != nil {
		return err
	}
	rowXML, err := inspectZip(path, opts)
	if err != nil {
		return err
	}
	f, err := openWorkbook(path, excelize.Options{
		UnzipSizeLimit:    opts.MaxUnzipBytes,
		UnzipXMLSizeLimit: opts.MaxUnzipXMLBytes,
		TmpDir:            x.dir,
		// Built-in formats 14 and 22 are the viewer's "short date" (and
		// time), which Excel shows in the reader's locale ("1/2/2024" or
		// "02.01.2024"); an unambiguous ISO date is the honest rendering.
		ShortDatePattern: "yyyy-mm-dd",
	})
	if f != nil {
		x.f = f
	}
	if err != nil {
		return err
	}
	if err := x.readHeader(opts.Sheet); err != nil {
		return err
	}
	if x.check, err = startSheetCheck(path, x.sheet, rowXML); err != nil {
		return err
	}
	// excelize and the sheet check have opened everything they need.
	_ = os.Remove(path)
	return nil
}

// spool copies the upload to path, refusing more than limit bytes.
func spool(path string, r io.Reader, limit int64) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spooling the XLSX file: %w", err)
	}
	n, err := io.Copy(out, io.LimitReader(r, limit+1))
	if cerr := out.Close(); err == nil && cerr != nil {
		return fmt.Errorf("spooling the XLSX file: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("reading the file: %w", err)
	}
	if n > limit {
		return newError(ErrTooLarge, "the XLSX file is larger than %s, the limit for XLSX uploads", FormatBytes(limit))
	}
	return nil
}

// inspectZip checks the archive before excelize unpacks it: the declared
// sizes against the limits (excelize keeps most parts in memory), that it is
// a workbook at all, and that its XML parts unpack cleanly to their declared
// size (excelize would silently cut a damaged part short). archive/zip
// refuses to inflate a part beyond its declared size, so a bomb that lies
// about its size is caught here too, in bounded memory.
//
// It returns the length of the longest row's XML of each worksheet part, by
// lower-case part name.
func inspectZip(path string, opts Options) (map[string]int64, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, wrapError(ErrCorrupt, err, "the XLSX file is damaged or truncated")
	}
	defer zr.Close()
	if len(zr.File) > maxParts {
		return nil, newError(ErrTooLarge, "the workbook has %d parts; at most %d are allowed", len(zr.File), maxParts)
	}
	var (
		total, inMemory uint64
		workbook        bool
		unzipLimit      = uint64(opts.MaxUnzipBytes)
		xmlLimit        = uint64(opts.MaxUnzipXMLBytes)
		memLimit        = min(4*xmlLimit, unzipLimit)
	)
	for _, f := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		workbook = workbook || strings.HasPrefix(name, "xl/")
		size := f.UncompressedSize64
		if size > unzipLimit || total+size > unzipLimit {
			return nil, newError(ErrTooLarge, "the workbook unpacks to more than %s, the limit", FormatBytes(opts.MaxUnzipBytes))
		}
		total += size
		// excelize unpacks large worksheets and shared strings to disk and
		// keeps everything else in memory.
		if (name == "xl/sharedstrings.xml" || strings.HasPrefix(name, "xl/worksheets/sheet")) && size > xmlLimit {
			continue
		}
		if size > xmlLimit {
			return nil, newError(ErrTooLarge, "the workbook part %q unpacks to more than %s, the limit", f.Name, FormatBytes(opts.MaxUnzipXMLBytes))
		}
		if inMemory += size; inMemory > memLimit {
			return nil, newError(ErrTooLarge, "the workbook parts held in memory unpack to more than %s, the limit", FormatBytes(int64(memLimit)))
		}
	}
	if !workbook {
		return nil, notWorkbook(zr)
	}
	rowXML := map[string]int64{}
	for _, f := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		if !strings.HasSuffix(name, ".xml") && !strings.HasSuffix(name, ".rels") {
			continue
		}
		longest, err := checkPart(f, name, opts)
		if err != nil {
			return nil, err
		}
		rowXML[name] = longest
	}
	return rowXML, nil
}

// checkPart unpacks a part to nowhere, which checks its size and checksum.
// In worksheets and shared strings it also measures the rows and strings:
// excelize streams those parts but holds one row (or string) in memory at
// a time, so none may be longer than MaxUnzipXMLBytes of XML (nor may what
// precedes the first), and a sheet may not have more rows than Excel
// allows. The shared-strings table is decoded whole when the workbook is
// opened, so its entries and their text are bounded too, and the scan
// stops at the first entry over the bound. That the sheet read is
// well-formed XML is checked beside the reading (see sheetCheck).
func checkPart(f *zip.File, name string, opts Options) (int64, error) {
	maxElem := opts.MaxUnzipXMLBytes
	var scan *elementScanner
	switch {
	case strings.HasPrefix(name, "xl/worksheets/"):
		scan = &elementScanner{local: "row"}
	case name == "xl/sharedstrings.xml":
		scan = &elementScanner{local: "si", maxCount: int64(opts.MaxSharedStrings), maxText: opts.MaxSharedStringBytes}
	}
	var w io.Writer = io.Discard
	if scan != nil {
		w = scan
	}
	if err := readPart(f, func(r io.Reader) error { _, err := io.Copy(w, r); return err }); err != nil {
		return 0, err
	}
	if scan == nil {
		return 0, nil
	}
	scan.finish()
	what := "a row"
	if scan.local == "si" {
		what = "a shared string"
	}
	if scan.longest > maxElem {
		return 0, newError(ErrTooLarge, "%s in the workbook part %q takes more than %s of XML, the limit", what, f.Name, FormatBytes(maxElem))
	}
	if scan.local == "row" && scan.count > excelize.TotalRows {
		return 0, newError(ErrTooLarge, "the workbook part %q has more than %d rows, the most a sheet can have", f.Name, excelize.TotalRows)
	}
	return scan.longest, nil
}

// readPart opens a part and hands its content to read, classifying the
// errors of unpacking and of XML.
func readPart(f *zip.File, read func(io.Reader) error) error {
	rc, err := f.Open()
	if err != nil {
		return wrapError(ErrCorrupt, err, "the XLSX file is damaged: part %q", f.Name)
	}
	defer rc.Close()
	err = read(rc)
	var syntax *xml.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTooLarge): // a bound of the scan
		return err
	case errors.Is(err, zip.ErrFormat):
		// archive/zip says so only for data beyond the declared size.
		return newError(ErrTooLarge, "the workbook part %q unpacks to more than the %d bytes it declares (a damaged file or a decompression bomb)", f.Name, f.UncompressedSize64)
	case errors.As(err, &syntax):
		return newError(ErrCorrupt, "the XLSX file is damaged: the workbook part %q is not well-formed XML (line %d: %s)", f.Name, syntax.Line, syntax.Msg)
	default:
		return wrapError(ErrCorrupt, err, "the XLSX file is damaged or truncated: part %q", f.Name)
	}
}

// wellFormed decodes an XML document to its end as excelize decodes it
// (Token, strict, with the same charset readers) and returns the first error.
func wellFormed(r io.Reader) error {
	dec := xml.NewDecoder(r)
	dec.CharsetReader = charset.NewReaderLabel
	for {
		if _, err := dec.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// elementScanner counts the elements of one local name (any namespace
// prefix) in a stream of XML and measures the longest one, from its start
// tag to the next one's (the last one to the end of the stream), or what
// precedes the first one if that is longer. It also counts the bytes of
// text outside markup, as written (entities unexpanded). With maxCount or
// maxText set, Write fails as soon as the stream has more elements or text.
type elementScanner struct {
	local    string
	maxCount int64 // 0: no bound
	maxText  int64 // 0: no bound
	count    int64
	longest  int64
	text     int64  // bytes outside markup
	pos      int64  // bytes seen
	start    int64  // offset of the last start tag seen
	inTag    bool   // between '<' and '>'
	inName   bool   // reading a tag name
	name     []byte // the tag name so far (capped)
	nameAt   int64  // offset of its '<'
}

func (s *elementScanner) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		switch {
		case !s.inTag:
			j := bytes.IndexByte(p[i:], '<')
			if j < 0 {
				s.text += int64(len(p) - i)
				i = len(p)
				continue
			}
			s.text += int64(j)
			i += j + 1
			s.inTag, s.inName, s.name, s.nameAt = true, true, s.name[:0], s.pos+int64(i-1)
		case s.inName:
			switch c := p[i]; {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || (c == '/' && len(s.name) > 0):
				s.inName = false
				s.inTag = c != '>'
				s.tag()
			case len(s.name) < 64:
				s.name = append(s.name, c)
			}
			i++
		default: // attributes, up to the end of the tag
			j := bytes.IndexByte(p[i:], '>')
			if j < 0 {
				i = len(p)
				continue
			}
			i += j + 1
			s.inTag = false
		}
	}
	s.pos += int64(len(p))
	if s.maxCount > 0 && s.count > s.maxCount {
		return 0, newError(ErrTooLarge, "the shared-strings table of the workbook has more than %d entries, the limit", s.maxCount)
	}
	if s.maxText > 0 && s.text > s.maxText {
		return 0, newError(ErrTooLarge, "the shared-strings table of the workbook holds more than %s of text, the limit", FormatBytes(s.maxText))
	}
	return len(p), nil
}

// tag handles a complete tag name.
func (s *elementScanner) tag() {
	n := s.name
	if len(n) > 0 && n[0] == '/' { // an end tag
		return
	}
	if k := bytes.LastIndexByte(n, ':'); k >= 0 {
		n = n[k+1:]
	}
	if string(n) != s.local {
		return
	}
	// What precedes the first element is measured too: a decoder holds a
	// text or comment there in memory just the same.
	s.longest = max(s.longest, s.nameAt-s.start)
	s.start = s.nameAt
	s.count++
}

func (s *elementScanner) finish() {
	s.longest = max(s.longest, s.pos-s.start)
}

// notWorkbook says what a ZIP archive without a workbook in it is.
func notWorkbook(zr *zip.ReadCloser) error {
	fe := &FormatError{Looks: "a ZIP archive", Want: "CSV or XLSX", Hint: "unpack it first"}
	for _, f := range zr.File {
		name := strings.ToLower(f.Name)
		switch {
		case name == "mimetype":
			if rc, err := f.Open(); err == nil {
				b, _ := io.ReadAll(io.LimitReader(rc, 128))
				_ = rc.Close()
				switch mt := string(b); {
				case strings.Contains(mt, "opendocument.spreadsheet"):
					return &FormatError{Looks: "an OpenDocument spreadsheet (.ods)", Want: "CSV or XLSX", Hint: "save it as .xlsx or CSV"}
				case strings.Contains(mt, "opendocument"):
					return &FormatError{Looks: "an OpenDocument file", Want: "CSV or XLSX"}
				}
			}
		case strings.HasPrefix(name, "word/"):
			return &FormatError{Looks: "a Word document", Want: "CSV or XLSX"}
		case strings.HasPrefix(name, "ppt/"):
			return &FormatError{Looks: "a PowerPoint presentation", Want: "CSV or XLSX"}
		}
	}
	return fe
}

// openWorkbook is excelize.OpenFile that turns a panic on a malformed file
// into an error.
func openWorkbook(path string, o excelize.Options) (f *excelize.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newError(ErrCorrupt, "the XLSX file is damaged (%v)", r)
		}
	}()
	f, err = excelize.OpenFile(path, o)
	if err != nil {
		if strings.Contains(err.Error(), "unzip size exceeds") {
			return f, wrapError(ErrTooLarge, err, "the workbook unpacks to more than %s, the limit", FormatBytes(o.UnzipSizeLimit))
		}
		return f, wrapError(ErrCorrupt, err, "the XLSX file cannot be read")
	}
	return f, nil
}

func (x *xlsxReader) readHeader(sheet string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newError(ErrCorrupt, "the XLSX file is damaged (%v)", r)
		}
	}()
	sheets := x.f.GetSheetList()
	if len(sheets) == 0 {
		return newError(ErrCorrupt, "the workbook has no sheets")
	}
	x.sheet = sheets[0]
	if sheet != "" {
		x.sheet = ""
		for _, s := range sheets {
			if s == sheet {
				x.sheet = s
				break
			}
		}
		for _, s := range sheets {
			if x.sheet == "" && strings.EqualFold(s, sheet) {
				x.sheet = s
			}
		}
		if x.sheet == "" {
			quoted := make([]string, len(sheets))
			for i, s := range sheets {
				quoted[i] = fmt.Sprintf("%q", s)
			}
			return newError(ErrSheetNotFound, "the workbook has no sheet %q; its sheets are %s", sheet, strings.Join(quoted, ", "))
		}
	}
	if x.rows, err = x.f.Rows(x.sheet); err != nil {
		return wrapError(ErrCorrupt, err, "sheet %q cannot be read", x.sheet)
	}
	if !x.rows.Next() {
		if err := x.rows.Error(); err != nil {
			return wrapError(ErrCorrupt, err, "sheet %q cannot be read", x.sheet)
		}
		return newError(ErrEmpty, "the sheet %q is empty: a header row is required", x.sheet)
	}
	x.row = 1
	header, err := x.rows.Columns()
	if err != nil {
		return wrapError(ErrCorrupt, err, "the header row (row 1) of sheet %q cannot be read", x.sheet)
	}
	if blank(header) {
		return newError(ErrEmpty, "the header row (row 1) of sheet %q is empty: a header row is required", x.sheet)
	}
	if err := checkHeader(header, len(header), x.maxCols, x.maxHeader); err != nil {
		return err
	}
	x.header = validUTF8(header)
	return nil
}

func (x *xlsxReader) Header() []string { return x.header }

func (x *xlsxReader) Next() (row Row, err error) {
	if x.done {
		if x.err != nil {
			return Row{}, x.err
		}
		return Row{}, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			x.done = true
			x.err = newError(ErrCorrupt, "row %d: the XLSX file is damaged (%v)", x.row, r)
			row, err = Row{}, x.err
		}
	}()
	for {
		if err := x.check.poll(false); err != nil {
			return x.malformed(err)
		}
		if !x.rows.Next() {
			x.done = true
			if err := x.rows.Error(); err != nil {
				x.err = wrapError(ErrCorrupt, err, "sheet %q after row %d", x.sheet, x.row)
				return Row{}, x.err
			}
			if err := x.check.poll(true); err != nil {
				return x.malformed(err)
			}
			_ = x.rows.Close()
			return Row{}, io.EOF
		}
		x.row++
		if x.row > excelize.TotalRows {
			x.done = true
			x.err = newError(ErrTooLarge, "sheet %q has more than %d rows, the most a sheet can have", x.sheet, excelize.TotalRows)
			return Row{}, x.err
		}
		cells, err := x.rows.Columns()
		if err != nil {
			x.broken++
			if x.broken > 1000 {
				x.done = true
				x.err = wrapError(ErrCorrupt, err, "row %d: %d unreadable rows in a row", x.row, x.broken)
				return Row{}, x.err
			}
			return Row{Number: x.row, Err: fmt.Errorf("the row cannot be read: %v", err)}, nil
		}
		if blank(cells) {
			continue
		}
		x.broken = 0
		cells = validUTF8(fitToHeader(cells, len(x.header)))
		if err := checkRow(cells, len(cells), x.maxCols, x.maxCell, x.maxRow); err != nil {
			return Row{Number: x.row, Err: err}, nil
		}
		return Row{Number: x.row, Cells: cells}, nil
	}
}

// malformed ends the reading with the sheet check's error: the rows read
// so far are all that excelize would have read before the problem.
func (x *xlsxReader) malformed(err error) (Row, error) {
	x.done = true
	x.err = wrapError(ErrCorrupt, err, "sheet %q cannot be read past row %d", x.sheet, x.row)
	return Row{}, x.err
}

// fitToHeader pads a row to the header's width: a spreadsheet row simply
// has no cells after its last value, which is not a ragged row. Empty cells
// beyond the header are dropped; values beyond it are kept for the
// validator to report.
func fitToHeader(cells []string, width int) []string {
	n := len(cells)
	for n > width && cells[n-1] == "" {
		n--
	}
	cells = cells[:n]
	for len(cells) < width {
		cells = append(cells, "")
	}
	return cells
}

func validUTF8(cells []string) []string {
	for i, c := range cells {
		if !utf8.ValidString(c) {
			cells[i] = strings.ToValidUTF8(c, "\uFFFD")
		}
	}
	return cells
}
