package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/imports"
)

// ReplayRequest changes what a replay does; empty fields keep the original's.
type ReplayRequest = imports.ReplayRequest

// Replayed is one import of a replayed window.
type Replayed = imports.Replayed

// Replay runs an import's raw rows again as a new import linked to the
// original (imports.Service.Replay).
func (a *API) Replay(ctx context.Context, tenant, original string, req ReplayRequest) (Submitted, error) {
	return a.imports.Replay(ctx, tenant, original, req)
}

// ReplayWindow replays every import of a tenant whose raw rows were stored
// since a time (imports.Service.ReplayWindow).
func (a *API) ReplayWindow(ctx context.Context, tenant string, since time.Time, req ReplayRequest) ([]Replayed, error) {
	return a.imports.ReplayWindow(ctx, tenant, since, req)
}

// replayImport handles POST /v1/imports/{id}/replay with an optional JSON
// body {mode, dry_run, key}: 202 with the new import's id.
func (a *API) replayImport(w http.ResponseWriter, r *http.Request) {
	var req ReplayRequest
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10)); len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "expected a JSON body {mode, dry_run, key} or none")
			return
		}
	}
	res, err := a.Replay(r.Context(), tenantOf(r), chi.URLParam(r, "id"), req)
	var re *RequestError
	switch {
	case errors.As(err, &re):
		writeJSON(w, re.Status, errorBody{Error: re.Message, Import: re.ImportID})
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"id": res.ID, "status": "processing", "rows": res.Rows, "replay_of": chi.URLParam(r, "id")})
	}
}

// replayWindow handles POST /v1/replay {since, mode?, dry_run?}.
func (a *API) replayWindow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Since  time.Time `json:"since"`
		Tenant string    `json:"tenant"`
		ReplayRequest
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Since.IsZero() {
		writeError(w, http.StatusBadRequest, "expected a JSON body {\"since\": \"2026-01-02T15:04:05Z\", \"mode\"?, \"dry_run\"?}")
		return
	}
	tenant := tenantOf(r)
	if req.Tenant != "" && req.Tenant != tenant {
		if p, _ := auth.FromContext(r.Context()); !p.Has(auth.CapOperator) || ids.ValidTenant(req.Tenant) != nil {
			writeError(w, http.StatusForbidden, "replaying another tenant's imports needs the operator capability")
			return
		}
		tenant = req.Tenant
	}
	done, err := a.ReplayWindow(r.Context(), tenant, req.Since, req.ReplayRequest)
	if done == nil {
		done = []Replayed{}
	}
	var re *RequestError
	switch {
	case errors.As(err, &re):
		writeJSON(w, re.Status, map[string]any{"error": re.Message, "replays": done})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "replays": done})
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"replays": done})
	}
}
