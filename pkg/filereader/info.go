package filereader

// Info says how Open read a file, for a preview of it.
type Info struct {
	Format    string `json:"format"`              // one of FormatNames
	Encoding  string `json:"encoding,omitempty"`  // text formats: Encoding*
	Delimiter string `json:"delimiter,omitempty"` // CSV: the field separator
	// HeaderRow is the spreadsheet row number of the header (CSV, XLSX):
	// 1, or later after a preamble; 0 for formats without a header row.
	HeaderRow int `json:"header_row,omitempty"`
}

// Describe says how rd, a Reader that Open returned, reads its file.
func Describe(rd Reader) Info {
	switch r := rd.(type) {
	case *csvReader:
		return r.info
	case *recordReader:
		return r.info
	case *xlsxReader:
		return Info{Format: FormatXLSX, HeaderRow: 1}
	}
	return Info{}
}
