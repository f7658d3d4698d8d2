package ingest

import (
	"fmt"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Saved mappings: a tenant's column mappings by name, used by an upload
// as mapping=@name. Reading one needs imports:read, saving or deleting one
// schemas:write, as for schemas.

// putMapping saves the body, a JSON object of column header to field name
// (or null), under {name}.
func (a *API) putMapping(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMappingBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a mapping is at most %d bytes", maxMappingBytes))
		return
	}
	name := chi.URLParam(r, "name")
	g, err := a.imports.SaveMapping(r.Context(), tenantOf(r), name, body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "mapping": g})
}

func (a *API) getMapping(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	g, found, err := a.imports.SavedMapping(r.Context(), tenantOf(r), name)
	if answeredMissing(w, name, found, err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "mapping": g})
}

// answeredMissing answers a failed or empty read of a saved mapping and
// reports whether it did.
func answeredMissing(w http.ResponseWriter, name string, found bool, err error) bool {
	switch {
	case err != nil:
		writeRequestError(w, err)
	case !found:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no saved mapping named %q", name))
	default:
		return false
	}
	return true
}

func (a *API) deleteMapping(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	found, err := a.imports.DeleteMapping(r.Context(), tenantOf(r), name)
	if answeredMissing(w, name, found, err) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
