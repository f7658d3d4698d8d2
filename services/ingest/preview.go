package ingest

import (
	"net/http"
	"strings"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/services/validator"
)

// previewImport handles POST /v1/imports/preview: the fields of an upload
// (schema, mode, key, delimiter, sheet, format, mapping, then file), and
// answers how the file would be imported (imports.Preview) without
// importing anything. Only the start of the file is read.
func (a *API) previewImport(w http.ResponseWriter, r *http.Request) {
	// The rest of the body is not read: the connection is not reused.
	w.Header().Set("Connection", "close")
	mr, ok := a.uploadBody(w, r)
	if !ok {
		return
	}
	var (
		opts         envelope.Options
		givenMapping string
		fileOpts     = filereader.Options{TempDir: a.cfg.TempDir}
	)
	options := map[string]*string{
		"schema": &opts.Schema, "mode": &opts.Mode, "key": &opts.Key, "mapping": &givenMapping,
		"delimiter": &fileOpts.Delimiter, "sheet": &fileOpts.Sheet, "format": &fileOpts.Format,
	}
	part, ok := a.readOptions(w, r, mr, options, refuseLongOptions, "no file: send the file in a multipart field named \"file\"")
	if !ok {
		return
	}
	if strings.HasPrefix(givenMapping, "@") {
		writeError(w, http.StatusBadRequest, "mapping: a preview takes the mapping itself, a JSON object of column to field or null, not a saved mapping's name")
		return
	}
	given, err := mapping.ParseGiven(givenMapping)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := a.imports.Preview(r.Context(), imports.PreviewRequest{Tenant: tenantOf(r), Body: part, Options: opts, Mapping: given, File: fileOpts}, validator.Validate)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
