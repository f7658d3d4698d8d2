package ingest

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// mountWeb serves the upload page at / (to be built).
func (a *API) mountWeb(r chi.Router) {}

// getEvents streams an import's progress as server-sent events:
// GET /v1/imports/{id}/events (to be built).
func (a *API) getEvents(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "not built yet")
}
