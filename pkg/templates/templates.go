// Package templates writes import templates for entity schemas: a header
// row a person can fill in, and one example row, as CSV or XLSX. Every
// cell goes through SafeCell, so a template (or any cell an adapter writes
// with it, such as a failed-rows CSV) never carries a spreadsheet formula.
package templates

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/intake/intake/pkg/schema"
)

// Rows returns the template's rows before neutralisation: the header (each
// field's Header: its exact column name if it has one, else its name) and,
// if any field has an example, one example row.
func Rows(s *schema.Schema) [][]string {
	header := s.Headers()
	example := make([]string, len(s.Fields))
	any := false
	for i, f := range s.Fields {
		example[i] = f.Example
		any = any || f.Example != ""
	}
	if !any {
		return [][]string{header}
	}
	return [][]string{header, example}
}

// CSV returns the template as CSV (RFC 4180, CRLF line ends, UTF-8
// without byte-order mark).
func CSV(s *schema.Schema) []byte {
	var b bytes.Buffer
	WriteCSV(&b, Rows(s))
	return b.Bytes()
}

// WriteCSV writes rows as CSV with every cell passed through SafeCell.
func WriteCSV(b *bytes.Buffer, rows [][]string) {
	w := csv.NewWriter(b)
	w.UseCRLF = true
	for _, r := range rows {
		safe := make([]string, len(r))
		for i, c := range r {
			safe[i] = SafeCell(c)
		}
		_ = w.Write(safe) // writes to a bytes.Buffer do not fail
	}
	w.Flush()
}

// XLSX returns the template as an XLSX workbook: one sheet named after
// the schema, the header row in bold and frozen, the columns formatted as
// text (so "+44 20 7946 0958" or "00123" stay as typed), a drop-down list
// for enum fields whose values fit, and the same cells as CSV.
func XLSX(s *schema.Schema) ([]byte, error) {
	rows := Rows(s)
	f := excelize.NewFile()
	defer f.Close()
	sheet := sheetName(s.Name)
	if err := f.SetSheetName(f.GetSheetName(0), sheet); err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{NumFmt: 49, Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	n := len(rows[0])
	last, _ := excelize.ColumnNumberToName(n)
	if err := f.SetColStyle(sheet, "A:"+last, text); err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	for r, row := range rows {
		for c, v := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if err := f.SetCellStr(sheet, cell, SafeCell(v)); err != nil {
				return nil, fmt.Errorf("xlsx template: %w", err)
			}
		}
	}
	if err := f.SetRowStyle(sheet, 1, 1, bold); err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	for c := 0; c < n; c++ {
		w := 10
		for _, row := range rows {
			if l := utf8.RuneCountInString(row[c]) + 2; l > w {
				w = l
			}
		}
		if w > 60 {
			w = 60
		}
		col, _ := excelize.ColumnNumberToName(c + 1)
		if err := f.SetColWidth(sheet, col, col, float64(w)); err != nil {
			return nil, fmt.Errorf("xlsx template: %w", err)
		}
		if fd := s.Fields[c]; fd.Type == schema.TypeEnum && len(strings.Join(fd.Values, ",")) <= 250 {
			dv := excelize.NewDataValidation(true)
			dv.Sqref = col + "2:" + col + "1048576"
			if err := dv.SetDropList(fd.Values); err == nil {
				_ = f.AddDataValidation(sheet, dv) // a convenience only
			}
		}
	}
	if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, fmt.Errorf("xlsx template: %w", err)
	}
	return buf.Bytes(), nil
}

// sheetName fits a schema name to Excel's sheet-name rules (at most 31
// characters; schema names have no forbidden characters).
func sheetName(name string) string {
	if len(name) > 31 {
		return name[:31]
	}
	return name
}

var (
	numberRe = regexp.MustCompile(`^[+-]?(\d+([.,]\d+)*|\d*\.\d+)([eE][+-]?\d+)?$`)
	phoneRe  = regexp.MustCompile(`^\+[\d ().\-/]+$`)
)

// SafeCell neutralises a cell a spreadsheet would read as a formula (OWASP
// "CSV injection"): a value starting with = + - @ (or their full-width
// forms), a tab or a carriage return gets a leading apostrophe, which
// spreadsheets show as text. Values that start with + or - but are plainly
// a number ("-5", "+3.25", "-1,234.5", "1e-3") or a phone number ("+44 20
// 7946 0958", "+1 (415) 555-2671": + then digits, spaces and ( ) - . /,
// with 7 to 20 digits) are left alone: they hold no letters, so no
// function or reference can hide in them.
func SafeCell(v string) string {
	if v == "" {
		return v
	}
	r, _ := utf8.DecodeRuneInString(v)
	switch r {
	case '=', '@', '\t', '\r', '＝', '＠', '＋', '－':
		return "'" + v
	case '+', '-':
		if numberRe.MatchString(v) || phoneLike(v) {
			return v
		}
		return "'" + v
	}
	return v
}

func phoneLike(v string) bool {
	if !phoneRe.MatchString(v) {
		return false
	}
	digits := 0
	for i := 0; i < len(v); i++ {
		if v[i] >= '0' && v[i] <= '9' {
			digits++
		}
	}
	return digits >= 7 && digits <= 20
}
