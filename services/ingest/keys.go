package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/store"
)

// Keys API (admin capability). An admin manages its own tenant's keys; an
// operator (auth.CapOperator) manages every tenant's, and only an operator
// may issue a key carrying operator.

type createKeyRequest struct {
	Name         string   `json:"name"`
	Tenant       string   `json:"tenant"`
	Capabilities []string `json:"capabilities"`
}

// errOpenNoKeys answers POST /v1/keys on a server without credentials.
const errOpenNoKeys = "this server has no credential configured, so it runs open on loopback and creates no keys: " +
	"set an admin key (INTAKE_BOOTSTRAP_API_KEY=<32 or more random characters>, or --bootstrap-api-key) and restart it, " +
	"then create keys with --api-key set to that key"

// createKey: POST /v1/keys {name, tenant?, capabilities?} -> 201 with the
// plaintext key, shown this once.
func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if p.Method == auth.MethodOpen {
		// A key made here would not be required (the server stays open, so
		// it would accept anything), and after a restart it would switch
		// authentication on with no admin key left: locked out.
		writeError(w, http.StatusForbidden, errOpenNoKeys)
		return
	}
	var req createKeyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "expected a JSON body {name, tenant, capabilities}")
		return
	}
	if req.Tenant == "" {
		req.Tenant = p.Tenant
	}
	if err := ids.ValidTenant(req.Tenant); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !mayManage(p, req.Tenant) {
		writeError(w, http.StatusForbidden, "creating keys for another tenant needs the operator capability; an admin manages its own tenant ("+p.Tenant+")")
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
	if slices.Contains(req.Capabilities, auth.CapOperator) && !p.Has(auth.CapOperator) {
		writeError(w, http.StatusForbidden, "only an operator may create a key with the operator capability")
		return
	}
	plain, key, err := a.d.Store.CreateKey(r.Context(), req.Tenant, req.Name, req.Capabilities)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot create the key")
		return
	}
	writeJSON(w, http.StatusCreated, client.NewKey{Secret: plain, Key: key})
}

// mayManage reports whether p may manage tenant's keys: its own tenant as
// admin, any tenant as operator.
func mayManage(p auth.Principal, tenant string) bool {
	return p.Has(auth.CapOperator) || (p.Tenant == tenant && p.Has(auth.CapAdmin))
}

func known(c string) bool {
	for _, k := range auth.AllCapabilities() {
		if k == c {
			return true
		}
	}
	return c == "phonebook.ad_phonebook" // a contract's own capability
}

// listKeys: GET /v1/keys[?tenant=] lists keys without secrets: an
// operator's every tenant's (or ?tenant='s), an admin's its own tenant's.
func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	tenant := r.URL.Query().Get("tenant")
	switch {
	case tenant == "" && !p.Has(auth.CapOperator):
		tenant = p.Tenant
	case tenant != "" && !mayManage(p, tenant):
		writeError(w, http.StatusForbidden, "listing another tenant's keys needs the operator capability")
		return
	}
	keys, err := a.d.Store.ListKeys(r.Context(), tenant)
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
	p, _ := auth.FromContext(r.Context())
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" {
		tenant = p.Tenant
	}
	if !mayManage(p, tenant) {
		writeError(w, http.StatusForbidden, "revoking another tenant's keys needs the operator capability")
		return
	}
	id := chi.URLParam(r, "id")
	if !p.Has(auth.CapOperator) {
		// An admin of tenant default must not revoke the operator's key.
		k, found, err := a.findKey(r, tenant, id)
		switch {
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, "cannot revoke the key")
			return
		case found && slices.Contains(k.Capabilities, auth.CapOperator):
			writeError(w, http.StatusForbidden, "only an operator may revoke a key with the operator capability")
			return
		}
	}
	err := a.d.Store.RevokeKey(r.Context(), tenant, id)
	switch {
	case errors.Is(err, store.ErrKeyNotFound):
		writeError(w, http.StatusNotFound, "key not found")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot revoke the key")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// findKey finds tenant's key by its public ID or hash, as RevokeKey does.
func (a *API) findKey(r *http.Request, tenant, id string) (auth.Key, bool, error) {
	keys, err := a.d.Store.ListKeys(r.Context(), tenant)
	if err != nil {
		return auth.Key{}, false, err
	}
	for _, k := range keys {
		if k.ID == id || (auth.IsKeyHash(id) && auth.KeyID(id) == k.ID) {
			return k, true, nil
		}
	}
	return auth.Key{}, false, nil
}
