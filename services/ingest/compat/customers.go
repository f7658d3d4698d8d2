package compat

import (
	"fmt"
	"net/http"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
)

// Contract 1: POST /customers/import (seeds/000, OpenAPI 3.1).

// CustomerImportResult is the contract's 200 body.
type CustomerImportResult struct {
	Total   int                   `json:"total"`
	Created int                   `json:"created"`
	Updated int                   `json:"updated"`
	Skipped int                   `json:"skipped"`
	Errors  []CustomerImportError `json:"errors"`
}

// CustomerImportError is one problem of one failed row.
type CustomerImportError struct {
	Row     int    `json:"row"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// HTTPValidationError is the contract's 422 body (FastAPI's).
type HTTPValidationError struct {
	Detail []ValidationError `json:"detail"`
}

// ValidationError is one entry of HTTPValidationError; loc holds strings
// and integers.
type ValidationError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// customersDetail is the body of every status the contract does not
// document (401, 403, 429, 503, 504, 500): FastAPI's {"detail": "..."}.
type customersDetail struct {
	Detail string `json:"detail"`
}

func customersAuthError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	writeJSON(w, status, customersDetail{Detail: authMessage(status, err)})
}

func customers422(w http.ResponseWriter, typ, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, HTTPValidationError{Detail: []ValidationError{{
		Loc: []any{"body", "file"}, Msg: msg, Type: typ,
	}}})
}

// customersRequestError renders a request that cannot be imported: 422 for
// everything about the file, as the contract says.
func customersRequestError(w http.ResponseWriter, e *reqError) {
	switch e.kind {
	case "missing":
		customers422(w, "missing", "Field required: send the CSV or XLSX file in a multipart field named \"file\"")
	case "too_large":
		customers422(w, "value_error.too_large", e.msg)
	default:
		customers422(w, "value_error", e.msg)
	}
}

func (h *handlers) customers(w http.ResponseWriter, r *http.Request) {
	const contract = "customers"
	tenant := principal(r).Tenant
	form, rerr := parseForm(w, r, h.cfg.CustomersMaxBytes, h.cfg.CustomersMaxBytes)
	if rerr != nil {
		customersRequestError(w, rerr)
		return
	}
	fh, ok := formFile(form, "file")
	if !ok {
		customersRequestError(w, &reqError{kind: "missing"})
		return
	}
	// "More is a 422": count before anything is imported, with the
	// pipeline's reader (blank rows do not count, as in the pipeline), in
	// the one reading of the file, which keeps the rows it may import.
	fileOpts := filereader.Options{TempDir: h.cfg.TempDir}
	held, n, err := h.readUpload(r.Context(), tenant, fh, fileOpts, h.cfg.CustomersMaxRows)
	if err != nil {
		h.customersSubmitError(w, err, contract)
		return
	}
	if n > h.cfg.CustomersMaxRows {
		customers422(w, "value_error.too_many_rows", fmt.Sprintf("the file has %d data rows; at most %d are allowed per file", n, h.cfg.CustomersMaxRows))
		return
	}
	sub, err := h.imp.Submit(r.Context(), imports.SubmitRequest{
		Tenant: tenant, Source: fh.Filename, Rows: held,
		Options: envelope.Options{Schema: "customers", Mode: envelope.ModeUpsert},
		File:    fileOpts, MaxRows: h.cfg.CustomersMaxRows,
	})
	if err != nil {
		h.customersSubmitError(w, err, contract)
		return
	}
	v, err := h.finish(r.Context(), tenant, sub.ID, contract)
	if err != nil {
		customersWaitError(w, err)
		return
	}
	errs := v.Errors
	if v.ErrorsTruncated {
		notes, err := h.problems(r.Context(), tenant, sub.ID, envelope.Failed, v.Failed, contract)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, customersDetail{Detail: "the import finished but its errors could not be read; see /v1/imports/" + sub.ID})
			return
		}
		errs = imports.Flatten(notes)
	}
	out := CustomerImportResult{Total: v.Total, Created: v.Created, Updated: v.Updated, Skipped: v.Skipped, Errors: make([]CustomerImportError, 0, len(errs))}
	for _, e := range errs {
		out.Errors = append(out.Errors, CustomerImportError{Row: e.Row, Field: e.Field, Message: e.Message}) // the contract's shape: no code
	}
	writeJSON(w, http.StatusOK, out)
}

// customersSubmitError answers an error of Submit (or of its checks).
func (h *handlers) customersSubmitError(w http.ResponseWriter, err error, contract string) {
	if rerr := h.submitError(err, contract); rerr != nil {
		customersRequestError(w, rerr)
		return
	}
	writeJSON(w, http.StatusInternalServerError, customersDetail{Detail: "the import could not be started; try again"})
}

func customersWaitError(w http.ResponseWriter, err error) {
	var sp stillProcessing
	if asStill(err, &sp) {
		writeJSON(w, http.StatusGatewayTimeout, customersDetail{Detail: sp.Error()})
		return
	}
	writeJSON(w, http.StatusInternalServerError, customersDetail{Detail: "the import's summary could not be read; try again"})
}
