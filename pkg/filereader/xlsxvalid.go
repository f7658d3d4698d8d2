package filereader

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"strings"

	"golang.org/x/net/html/charset"
)

// sheetCheck decodes the XML of the sheet being read, in the background,
// as excelize decodes it, to find what excelize's row iterator hides: it
// drops the XML decoder's errors, so a syntax error in a sheet (an entity
// the document declares, as in the "billion laughs", an external entity,
// an undefined one, a mismatched tag) ends the sheet there, silently, and
// the import would complete without the rows after it, or with the row it
// is in cut short. inspectZip has already checked sizes and checksums and
// that no row is too long, so the decoder holds at most one row's XML.
//
// The check runs beside the reading rather than before it because
// encoding/xml decodes about 35 MB/s, close to what excelize itself takes:
// up front it would double the time before the first row is published.
// Next returns its error as soon as it is known, and waits for it before
// saying the sheet has ended. A sheet with a row longer than syncCheckRowXML
// (never a real one: a row may hold MaxRowBytes of text) is checked before
// the reading instead, so that the decoder and excelize never hold that row
// at the same time.
type sheetCheck struct {
	zr     *zip.ReadCloser
	result chan error // one value: nil or the first problem
	stop   chan struct{}
	err    error
	known  bool
}

// syncCheckRowXML is the longest row's XML for which the sheet check runs
// beside the reading.
const syncCheckRowXML = 4 << 20

// startSheetCheck opens the spooled workbook at file (so it may be removed
// afterwards) and starts checking the part of sheet; rowXML is the longest
// row's XML of each worksheet part (from inspectZip).
func startSheetCheck(file, sheet string, rowXML map[string]int64) (*sheetCheck, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, wrapError(ErrCorrupt, err, "the XLSX file is damaged or truncated")
	}
	parts := sheetParts(&zr.Reader, sheet)
	c := &sheetCheck{zr: zr, result: make(chan error, 1), stop: make(chan struct{})}
	if longestRow(parts, rowXML) > syncCheckRowXML {
		for _, f := range parts {
			if err := readPart(f, wellFormed); err != nil {
				_ = zr.Close()
				return nil, err
			}
		}
		c.known = true
		return c, nil
	}
	go func() {
		for _, f := range parts {
			if err := readPart(f, wellFormed); err != nil {
				select {
				case <-c.stop: // closing the archive ended the reading
					c.result <- nil
				default:
					c.result <- err
				}
				return
			}
		}
		c.result <- nil
	}()
	return c, nil
}

func longestRow(parts []*zip.File, rowXML map[string]int64) int64 {
	var n int64
	for _, f := range parts {
		n = max(n, rowXML[strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))])
	}
	return n
}

// poll returns the check's error if it has finished with one; with wait it
// waits for the check to finish.
func (c *sheetCheck) poll(wait bool) error {
	if c == nil || c.known {
		return c.errOrNil()
	}
	if wait {
		c.err, c.known = <-c.result, true
		return c.err
	}
	select {
	case c.err = <-c.result:
		c.known = true
	default:
	}
	return c.errOrNil()
}

func (c *sheetCheck) errOrNil() error {
	if c == nil {
		return nil
	}
	return c.err
}

// close stops the check and waits for it.
func (c *sheetCheck) close() {
	if c == nil {
		return
	}
	close(c.stop)
	_ = c.zr.Close()
	if !c.known {
		c.err, c.known = <-c.result, true
	}
}

// sheetParts finds the part of the named sheet through the workbook and its
// relationships, as excelize does; when that fails, every worksheet part.
func sheetParts(zr *zip.Reader, sheet string) []*zip.File {
	byName := map[string]*zip.File{}
	var sheets []*zip.File
	for _, f := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		byName[name] = f
		if strings.HasPrefix(name, "xl/worksheets/") && strings.HasSuffix(name, ".xml") {
			sheets = append(sheets, f)
		}
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if decodePart(byName["xl/workbook.xml"], &wb) != nil || decodePart(byName["xl/_rels/workbook.xml.rels"], &rels) != nil {
		return sheets
	}
	for _, s := range wb.Sheets {
		if s.Name != sheet {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID != s.ID {
				continue
			}
			target := strings.ReplaceAll(r.Target, `\`, "/")
			if strings.HasPrefix(target, "/") {
				target = strings.TrimPrefix(target, "/")
			} else {
				target = path.Join("xl", target)
			}
			if f, ok := byName[strings.ToLower(path.Clean(target))]; ok {
				return []*zip.File{f}
			}
		}
	}
	return sheets
}

// decodePart unmarshals a small part (workbook, relationships).
func decodePart(f *zip.File, v any) error {
	if f == nil {
		return errors.New("missing")
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, 16<<20))
	dec.CharsetReader = charset.NewReaderLabel
	return dec.Decode(v)
}
