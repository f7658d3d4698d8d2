package ingest

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/imports"
)

// cancelImport handles POST /v1/imports/{id}/cancel: rows not yet written
// fail, rows already written stay, nothing is deleted (replace mode), and
// the import ends "cancelled" once every row is accounted for.
func (a *API) cancelImport(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	err := a.imports.Cancel(r.Context(), tenantOf(r), id)
	var finished *imports.FinishedError
	switch {
	case errors.Is(err, imports.ErrNotFound):
		writeError(w, http.StatusNotFound, "import not found")
	case errors.As(err, &finished):
		writeError(w, http.StatusConflict, finished.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": "cancelling"})
	}
}
