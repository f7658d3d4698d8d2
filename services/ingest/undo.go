package ingest

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// undoImport handles POST /v1/imports/{id}/undo[?dry_run=true]: 202 with
// the summary of the undo job, which GET /v1/imports/{undo id} follows
// (imports.Service.Undo says what an undo does and refuses).
func (a *API) undoImport(w http.ResponseWriter, r *http.Request) {
	dryRun := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "dry_run must be true or false")
			return
		}
		dryRun = b
	}
	sum, err := a.imports.Undo(r.Context(), tenantOf(r), chi.URLParam(r, "id"), dryRun)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, sum)
}
