package compat

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/imports"
)

// Contract 3: POST /apis/v1/users/bulk-import and /bulk-update (seeds/002,
// Returning.AI), and the community's import log.

const communitySchema = "community_users"

// messageBody is the error body of the contracts that document none:
// {"message": "..."}.
type messageBody struct {
	Message string `json:"message"`
}

func messageAuthError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	writeJSON(w, status, messageBody{Message: authMessage(status, err)})
}

// communityTenant reads and checks the communityId (a form field or, for
// the log, a query parameter): it must be a valid tenant ID and the
// principal's tenant. ok false: the answer is written.
func communityTenant(w http.ResponseWriter, r *http.Request, id string) (string, bool) {
	if id == "" {
		writeJSON(w, http.StatusBadRequest, messageBody{Message: "communityId is required"})
		return "", false
	}
	if ids.ValidTenant(id) != nil {
		writeJSON(w, http.StatusBadRequest, messageBody{Message: "communityId: not a valid community ID (1-64 characters of A-Z a-z 0-9 _ -)"})
		return "", false
	}
	if !sameTenant(principal(r), id) {
		writeJSON(w, http.StatusForbidden, messageBody{Message: "forbidden: the credentials do not belong to community " + id})
		return "", false
	}
	return id, true
}

func (h *handlers) communityImport(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The seed's example sends the file before communityId, so the
		// body is parsed whole (large files are spooled to disk) before
		// anything is imported.
		form, rerr := parseForm(w, r, h.cfg.AsyncMaxBytes, 1<<20)
		if rerr != nil {
			writeJSON(w, rerr.status, messageBody{Message: rerr.msg})
			return
		}
		tenant, ok := communityTenant(w, r, formValue(form, "communityId"))
		if !ok {
			return
		}
		f, fh, rerr := openCSVPart(form, "data")
		if rerr != nil {
			writeJSON(w, rerr.status, messageBody{Message: rerr.msg})
			return
		}
		defer f.Close()
		_, err := h.imp.Submit(r.Context(), imports.SubmitRequest{
			Tenant: tenant, Source: fh.Filename, Body: f,
			Options: envelope.Options{Schema: communitySchema, Mode: mode},
			File:    filereader.Options{Format: filereader.FormatCSV},
		})
		if err != nil {
			if rerr := h.submitError(err, "community_users"); rerr != nil {
				writeJSON(w, rerr.status, messageBody{Message: rerr.msg})
				return
			}
			writeJSON(w, http.StatusInternalServerError, messageBody{Message: "the import could not be started; try again"})
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

// CommunityLog is one import in a community's import log.
type CommunityLog struct {
	ID        string `json:"id"`
	Type      string `json:"type"`   // bulk-import or bulk-update
	Status    string `json:"status"` // processing, completed or failed
	File      string `json:"file,omitempty"`
	Total     int    `json:"total"`
	Processed int    `json:"processed"`
	envelope.Counts
	Reason      string     `json:"reason,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// CommunityLogDetail is one import with every problem of its rows.
type CommunityLogDetail struct {
	CommunityLog
	Errors      []RowError `json:"errors"`       // every problem of every failed row
	SkippedRows []RowError `json:"skipped_rows"` // why rows were skipped
}

func communityLogOf(v client.Summary) CommunityLog {
	typ := "bulk-import"
	if v.Mode == envelope.ModeUpdate {
		typ = "bulk-update"
	}
	return CommunityLog{
		ID: v.ID, Type: typ, Status: v.Status, File: v.Source, Total: v.Total, Processed: v.Processed,
		Counts: v.Counts, Reason: v.Reason,
		CreatedAt: v.CreatedAt, CompletedAt: v.CompletedAt,
	}
}

// communityLogs lists the community's imports, newest first:
// GET /apis/v1/users/bulk-import/logs?communityId=...&limit=50.
func (h *handlers) communityLogs(w http.ResponseWriter, r *http.Request) {
	tenant, ok := communityTenant(w, r, r.URL.Query().Get("communityId"))
	if !ok {
		return
	}
	limit := 50
	if ls := r.URL.Query().Get("limit"); ls != "" {
		n, err := strconv.Atoi(ls)
		if err != nil || n < 1 || n > 500 {
			writeJSON(w, http.StatusBadRequest, messageBody{Message: "limit: want a number from 1 to 500"})
			return
		}
		limit = n
	}
	if h.cfg.ListImports == nil {
		writeJSON(w, http.StatusNotImplemented, messageBody{Message: "the import log is not available on this server"})
		return
	}
	// The community's tenant may also hold imports of other schemas (made
	// through the native API); the log shows the user imports only, so
	// more are read than shown.
	views, err := h.cfg.ListImports(r.Context(), tenant, min(limit*4, 2000))
	if err != nil {
		h.log.Error("list imports failed", logTenant(tenant), logErr(err))
		writeJSON(w, http.StatusInternalServerError, messageBody{Message: "the import log could not be read; try again"})
		return
	}
	logs := []CommunityLog{}
	for _, v := range views {
		if v.Schema == communitySchema && len(logs) < limit {
			logs = append(logs, communityLogOf(v))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"communityId": tenant, "logs": logs})
}

// communityLog is one import of the log with every problem:
// GET /apis/v1/users/bulk-import/logs/{id}?communityId=...
func (h *handlers) communityLog(w http.ResponseWriter, r *http.Request) {
	tenant, ok := communityTenant(w, r, r.URL.Query().Get("communityId"))
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	v, found, err := h.importOf(r.Context(), tenant, id, communitySchema)
	var failed, skipped []envelope.Outcome
	if err == nil && found {
		failed, err = h.problems(r.Context(), tenant, id, envelope.Failed, v.Failed, "community_users")
	}
	if err == nil && found {
		skipped, err = h.problems(r.Context(), tenant, id, envelope.Skipped, v.Skipped, "community_users")
	}
	switch {
	case err != nil:
		h.log.Error("read import failed", logTenant(tenant), logErr(err))
		writeJSON(w, http.StatusInternalServerError, messageBody{Message: "the import could not be read; try again"})
	case !found:
		writeJSON(w, http.StatusNotFound, messageBody{Message: "import not found"})
	default:
		writeJSON(w, http.StatusOK, CommunityLogDetail{CommunityLog: communityLogOf(v), Errors: rowErrors(imports.Flatten(failed)), SkippedRows: rowErrors(imports.Flatten(skipped))})
	}
}
