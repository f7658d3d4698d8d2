package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/store"
)

// Keys API (admin capability). Admin is an operator capability: an admin
// key manages the keys of every tenant.

type createKeyRequest struct {
	Name         string   `json:"name"`
	Tenant       string   `json:"tenant"`
	Capabilities []string `json:"capabilities"`
}

// createKey: POST /v1/keys {name, tenant?, capabilities?} -> 201 with the
// plaintext key, shown this once.
func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	var req createKeyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "expected a JSON body {name, tenant, capabilities}")
		return
	}
	if req.Tenant == "" {
		req.Tenant = tenantOf(r)
	}
	if err := ids.ValidTenant(req.Tenant); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, "name: required")
		return
	}
	if len(req.Capabilities) == 0 {
		req.Capabilities = []string{auth.CapImportsWrite, auth.CapImportsRead}
	}
	for _, c := range req.Capabilities {
		if !known(c) {
			writeError(w, http.StatusBadRequest, "unknown capability "+c)
			return
		}
	}
	plain, key, err := a.d.Store.CreateKey(r.Context(), req.Tenant, req.Name, req.Capabilities)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot create the key")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": plain, "id": key.ID, "name": key.Name, "tenant": key.Tenant,
		"capabilities": key.Capabilities, "created_at": key.CreatedAt})
}

func known(c string) bool {
	for _, k := range auth.AllCapabilities() {
		if k == c {
			return true
		}
	}
	return c == "phonebook.ad_phonebook" // a contract's own capability
}

// listKeys: GET /v1/keys[?tenant=] lists keys without secrets.
func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.d.Store.ListKeys(r.Context(), r.URL.Query().Get("tenant"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot list keys")
		return
	}
	if keys == nil {
		keys = []auth.Key{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// revokeKey: DELETE /v1/keys/{id}?tenant= revokes a key by its public id.
func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" {
		tenant = tenantOf(r)
	}
	err := a.d.Store.RevokeKey(r.Context(), tenant, chi.URLParam(r, "id"))
	switch {
	case errors.Is(err, store.ErrKeyNotFound):
		writeError(w, http.StatusNotFound, "key not found")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot revoke the key")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
