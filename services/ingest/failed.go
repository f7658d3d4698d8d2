package ingest

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/xuri/excelize/v2"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/templates"
)

// FailedRows reads an import's failed rows back as uploaded
// (imports.Service.FailedRows).
func (a *API) FailedRows(ctx context.Context, tenant, id string, out imports.FailedRowsOut) error {
	return a.imports.FailedRows(ctx, tenant, id, out)
}

// failedFile is a failed-rows file being written: a header row, then
// rows, each ending with the reasons column. close finishes it; abort
// drops what close would not send (the XLSX is sent whole at close).
type failedFile interface {
	write(cells []string) error
	close() error
	abort()
}

// getFailedRows handles GET /v1/imports/{id}/failed.csv and failed.xlsx:
// the import's failed rows with their original cells and a last column of
// reasons, every cell through templates.SafeCell, streamed as it is read.
func (a *API) getFailedRows(w http.ResponseWriter, r *http.Request) {
	id, format := chi.URLParam(r, "id"), chi.URLParam(r, "format")
	if format != "csv" && format != "xlsx" {
		writeError(w, http.StatusNotFound, "failed rows are failed.csv or failed.xlsx")
		return
	}
	name := id + "-failed." + format
	var file failedFile
	err := a.FailedRows(r.Context(), tenantOf(r), id, imports.FailedRowsOut{
		Header: func(header []string) error {
			var err error
			if format == "csv" {
				file = newFailedCSV(w, name)
			} else if file, err = newFailedXLSX(w, name); err != nil {
				return err
			}
			return file.write(append(append([]string(nil), header...), schema.ReasonsColumn))
		},
		Row: func(cells []string, reasons string) error {
			return file.write(append(append(make([]string, 0, len(cells)+1), cells...), reasons))
		},
	})
	if err == nil {
		err = file.close()
	}
	var re *RequestError
	switch {
	case err == nil:
		return
	case w.Header().Get("Content-Disposition") != "":
		// The status is sent: end the answer broken rather than let a
		// truncated file look complete.
		a.log.Warn("failed rows: answer cut short", zap.String("import_id", id), zap.Error(err))
		panic(http.ErrAbortHandler)
	case file != nil:
		file.abort()
	}
	if errors.As(err, &re) {
		writeJSON(w, re.Status, errorBody{Error: re.Message})
		return
	}
	writeError(w, http.StatusServiceUnavailable, "cannot read the failed rows: "+err.Error())
}

// attach starts a file answer.
func attach(w http.ResponseWriter, contentType, name string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.WriteHeader(http.StatusOK)
}

// failedCSV writes RFC 4180 CSV with CRLF line ends, like the templates,
// as the rows come.
type failedCSV struct {
	buf *bufio.Writer
	csv *csv.Writer
}

func newFailedCSV(w http.ResponseWriter, name string) *failedCSV {
	attach(w, "text/csv; charset=utf-8", name)
	buf := bufio.NewWriterSize(w, 64<<10)
	c := csv.NewWriter(buf)
	c.UseCRLF = true
	return &failedCSV{buf: buf, csv: c}
}

func (f *failedCSV) write(cells []string) error {
	for i, c := range cells {
		cells[i] = templates.SafeCell(c)
	}
	return f.csv.Write(cells)
}

func (f *failedCSV) close() error {
	f.csv.Flush()
	if err := f.csv.Error(); err != nil {
		return err
	}
	return f.buf.Flush()
}

func (f *failedCSV) abort() {}

// failedXLSX writes a workbook through excelize's StreamWriter, which
// spools rows to a temporary file past a threshold instead of holding them
// in memory; the workbook is sent at close (a zip is written whole).
type failedXLSX struct {
	w    http.ResponseWriter
	name string
	file *excelize.File
	sw   *excelize.StreamWriter
	row  int
}

func newFailedXLSX(w http.ResponseWriter, name string) (*failedXLSX, error) {
	f := excelize.NewFile()
	const sheet = "failed rows"
	if err := f.SetSheetName(f.GetSheetName(0), sheet); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("xlsx: %w", err)
	}
	return &failedXLSX{w: w, name: name, file: f, sw: sw}, nil
}

func (f *failedXLSX) write(cells []string) error {
	f.row++
	vals := make([]any, len(cells))
	for i, c := range cells {
		vals[i] = templates.SafeCell(c) // strings: stored as text, never a formula
	}
	cell, _ := excelize.CoordinatesToCellName(1, f.row)
	if err := f.sw.SetRow(cell, vals); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

func (f *failedXLSX) close() error {
	defer f.file.Close()
	if err := f.sw.Flush(); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	attach(f.w, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", f.name)
	if _, err := f.file.WriteTo(f.w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

func (f *failedXLSX) abort() { _ = f.file.Close() }
