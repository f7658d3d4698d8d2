package compat

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"sort"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/templates"
)

// Contract 2: POST /persons/bulk-import (seeds/001, SlashID).

// PersonsResponse is the contract's body for every status: Result only on 200.
type PersonsResponse struct {
	Meta   PersonsMeta    `json:"meta"`
	Errors []PersonsError `json:"errors"`
	Result *PersonsResult `json:"result,omitempty"`
}

// PersonsMeta is the envelope's meta object.
type PersonsMeta struct {
	Pagination PersonsPagination `json:"pagination"`
}

// PersonsPagination is meta.pagination.
type PersonsPagination struct {
	Limit      int   `json:"limit"`
	Offset     int   `json:"offset"`
	TotalCount int64 `json:"total_count"`
}

// PersonsError is one entry of errors.
type PersonsError struct {
	HTTPCode int    `json:"httpcode"`
	Message  string `json:"message"`
}

// PersonsResult is the import's outcome.
type PersonsResult struct {
	SuccessfulImports int    `json:"successful_imports"`
	FailedImports     int    `json:"failed_imports"`
	FailedCSV         string `json:"failed_csv"`
}

// PersonsOrgHeader names the organisation, which is the tenant.
const PersonsOrgHeader = "SlashID-OrgID"

// PersonsReasonColumn is the column failed_csv adds to the file's header.
const PersonsReasonColumn = "reason"

func personsError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, PersonsResponse{Errors: []PersonsError{{HTTPCode: status, Message: msg}}})
}

// personsSubmitError answers an error of Submit (or of its checks).
func (h *handlers) personsSubmitError(w http.ResponseWriter, err error, contract string) {
	if rerr := h.submitError(err, contract); rerr != nil {
		personsError(w, rerr.badRequestStatus(), rerr.msg)
		return
	}
	personsError(w, http.StatusInternalServerError, "the import could not be started; try again")
}

func personsAuthError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	personsError(w, status, authMessage(status, err))
}

func (h *handlers) persons(w http.ResponseWriter, r *http.Request) {
	const contract = "persons"
	org := r.Header.Get(PersonsOrgHeader)
	if org == "" {
		personsError(w, http.StatusBadRequest, "the "+PersonsOrgHeader+" header is required: the ID of the organization to import into")
		return
	}
	if ids.ValidTenant(org) != nil {
		personsError(w, http.StatusBadRequest, PersonsOrgHeader+": not a valid organization ID (1-64 characters of A-Z a-z 0-9 _ -)")
		return
	}
	if !sameTenant(principal(r), org) {
		personsError(w, http.StatusForbidden, "forbidden: the credentials do not belong to organization "+org)
		return
	}
	form, rerr := parseForm(w, r, h.cfg.SyncMaxBytes, h.cfg.SyncMaxBytes)
	if rerr != nil {
		personsError(w, rerr.status, rerr.msg)
		return
	}
	fh, rerr := csvPart(form, "persons")
	if rerr != nil {
		personsError(w, rerr.status, rerr.msg)
		return
	}
	// The rows are read here, once (with the pipeline's reader), to apply
	// the plan limit before anything is imported, and to give failed_csv
	// the original cells of the failed rows; the rows read are imported.
	fileOpts := filereader.Options{Format: filereader.FormatCSV}
	held, _, err := h.readUpload(r.Context(), org, fh, fileOpts, math.MaxInt)
	if err != nil {
		h.personsSubmitError(w, err, contract)
		return
	}
	sc := scanned{header: held.header, rows: held.rows}
	if limit := h.cfg.PersonsRowLimit(org); limit > 0 && len(sc.rows) > limit {
		personsError(w, http.StatusPaymentRequired, fmt.Sprintf("Pricing Tier Violation: the file has %d persons; the organization's plan allows at most %d per import", len(sc.rows), limit))
		return
	}
	sub, err := h.imp.Submit(r.Context(), imports.SubmitRequest{
		Tenant: org, Source: fh.Filename, Rows: &heldRows{header: sc.header, rows: sc.rows},
		Options: envelope.Options{Schema: "persons", Mode: envelope.ModeUpsert}, // matched on any handle
		File:    fileOpts,
	})
	if err != nil {
		h.personsSubmitError(w, err, contract)
		return
	}
	v, err := h.finish(r.Context(), org, sub.ID, contract)
	if err != nil {
		var sp stillProcessing
		if asStill(err, &sp) {
			personsError(w, http.StatusGatewayTimeout, sp.Error())
			return
		}
		personsError(w, http.StatusInternalServerError, "the import's summary could not be read; try again")
		return
	}
	failed, err := h.problems(r.Context(), org, sub.ID, envelope.Failed, v.Failed, contract)
	if err != nil {
		personsError(w, http.StatusInternalServerError, "the import finished but its failed rows could not be read; see /v1/imports/"+sub.ID)
		return
	}
	skipped, err := h.problems(r.Context(), org, sub.ID, envelope.Skipped, v.Skipped, contract)
	if err != nil {
		personsError(w, http.StatusInternalServerError, "the import finished but its skipped rows could not be read; see /v1/imports/"+sub.ID)
		return
	}
	// A row that left the person as the file has it (created, updated or
	// unchanged) was imported; every other row failed, with its reason.
	bad := failed
	ok2 := v.Created + v.Updated
	for _, o := range skipped {
		if unchanged(o) {
			ok2++
		} else {
			bad = append(bad, o)
		}
	}
	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Row < bad[j].Row })
	writeJSON(w, http.StatusOK, PersonsResponse{
		Meta:   PersonsMeta{Pagination: PersonsPagination{TotalCount: int64(v.Total)}},
		Errors: []PersonsError{},
		Result: &PersonsResult{SuccessfulImports: ok2, FailedImports: v.Total - ok2, FailedCSV: failedCSV(sc, bad)},
	})
}

// failedCSV is the file's header plus a reason column, and for each failed
// row its original cells plus the reason, every cell neutralised against
// formulas. No failed rows: "".
func failedCSV(sc scanned, bad []envelope.Outcome) string {
	if len(bad) == 0 {
		return ""
	}
	cells := make(map[int][]string, len(sc.rows))
	for _, r := range sc.rows {
		cells[r.Number] = r.Cells
	}
	rows := make([][]string, 0, len(bad)+1)
	rows = append(rows, append(append([]string{}, sc.header...), PersonsReasonColumn))
	for _, o := range bad {
		row := make([]string, len(sc.header))
		copy(row, cells[o.Row]) // a ragged row keeps what it had, padded or cut to the header
		rows = append(rows, append(row, reason(o)))
	}
	var b bytes.Buffer
	templates.WriteCSV(&b, rows)
	return b.String()
}
