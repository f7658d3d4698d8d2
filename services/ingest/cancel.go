package ingest

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// cancelImport handles POST /v1/imports/{id}/cancel: rows not yet written
// fail, rows already written stay, nothing is deleted (replace mode), and
// the import ends "cancelled" once every row is accounted for.
func (a *API) cancelImport(w http.ResponseWriter, r *http.Request) {
	id, tenant := chi.URLParam(r, "id"), tenantOf(r)
	if ids.ValidImport(id) != nil {
		writeError(w, http.StatusNotFound, "import not found")
		return
	}
	sum, found, err := a.d.Store.GetSummary(r.Context(), tenant, id)
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot read the import: "+err.Error())
		return
	case !found:
		writeError(w, http.StatusNotFound, "import not found")
		return
	case sum.Status != store.StatusProcessing:
		writeError(w, http.StatusConflict, "the import has already finished ("+sum.Status+")")
		return
	}
	pub := newWindow(a.d.JS, 1)
	acc := envelope.Accounting{Kind: envelope.KindCancel, Tenant: tenant, Import: id, At: time.Now().UTC()}
	if err := pub.json(r.Context(), subjects.For(subjects.Outcomes, tenant, id), subjects.MsgID(tenant, id, "cancel", 0), acc); err != nil {
		writeError(w, http.StatusServiceUnavailable, "the cancel could not be stored; retry: "+err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": "cancelling"})
}
