package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/templates"
)

// RowError is one problem with one row, as people read it.
type RowError = client.RowError

// ImportView is an import's summary as the API shows it: the one read
// model, client.Summary, which the NATS protocol answers too.
type ImportView = client.Summary

// Summary reads an import of tenant, with up to errorLimit row errors. found
// is false for an unknown import or another tenant's.
func (a *API) Summary(ctx context.Context, tenant, id string, errorLimit int) (ImportView, bool, error) {
	v, found, err := a.imports.Summary(ctx, tenant, id, errorLimit)
	return v.Summary, found, err
}

func (a *API) getImport(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if ws := r.URL.Query().Get("wait"); ws != "" {
		d, err := time.ParseDuration(ws)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, "wait: want a duration such as 10s")
			return
		}
		wait = min(d, a.cfg.MaxWait)
	}
	v, found, err := a.Wait(r.Context(), tenantOf(r), chi.URLParam(r, "id"), wait)
	switch {
	case r.Context().Err() != nil:
		return // client went away
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot read the import: "+err.Error())
	case !found:
		writeError(w, http.StatusNotFound, "import not found")
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// Wait returns an import's summary once it has finished or wait has passed.
func (a *API) Wait(ctx context.Context, tenant, id string, wait time.Duration) (ImportView, bool, error) {
	return a.imports.Wait(ctx, tenant, id, wait)
}

func (a *API) listImports(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if ls := r.URL.Query().Get("limit"); ls != "" {
		n, err := strconv.Atoi(ls)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit: want a number from 1 to 1000")
			return
		}
		limit = n
	}
	out, err := a.imports.List(r.Context(), tenantOf(r), limit) // errors: [] here; they are in each import's summary
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot list imports: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": out})
}

// getErrors lists every row problem of an import; ?result=skipped lists the
// reasons rows were skipped instead.
func (a *API) getErrors(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	result := r.URL.Query().Get("result")
	if result == "" {
		result = envelope.Failed
	}
	if result != envelope.Failed && result != envelope.Skipped {
		writeError(w, http.StatusBadRequest, "result: failed or skipped")
		return
	}
	notes, status, found, err := a.Problems(r.Context(), tenantOf(r), id, result)
	var re *RequestError
	switch {
	case errors.As(err, &re):
		writeError(w, re.Status, re.Message)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot read the row errors: "+err.Error())
	case !found:
		writeError(w, http.StatusNotFound, "import not found")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": status, "result": result, "rows": len(notes), "errors": imports.Flatten(notes)})
	}
}

// Problems returns the rows of an import with the given result (failed or
// skipped) and why, by row number, and the import's status.
func (a *API) Problems(ctx context.Context, tenant, id, result string) ([]envelope.Outcome, string, bool, error) {
	return a.imports.Problems(ctx, tenant, id, result)
}

func (a *API) listSchemas(w http.ResponseWriter, r *http.Request) {
	names, err := a.d.Schemas.Names(r.Context(), tenantOf(r))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot list schemas: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": names})
}

// schemaOf finds the request's schema for its tenant, or answers 404/503.
func (a *API) schemaOf(w http.ResponseWriter, r *http.Request) (*schema.Schema, bool) {
	s, ok, err := a.d.Schemas.Get(r.Context(), tenantOf(r), chi.URLParam(r, "name"))
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot read the schema: "+err.Error())
		return nil, false
	case !ok:
		writeError(w, http.StatusNotFound, "schema not found")
		return nil, false
	}
	return s, true
}

func (a *API) getSchema(w http.ResponseWriter, r *http.Request) {
	if s, ok := a.schemaOf(w, r); ok {
		writeJSON(w, http.StatusOK, s)
	}
}

// putSchema registers the tenant's own schema under {name} (it may replace
// a built-in one for this tenant). The body is the schema document.
func (a *API) putSchema(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "a schema document is at most 1 MiB")
		return
	}
	var head struct{ Name string }
	if err := json.Unmarshal(raw, &head); err != nil {
		writeError(w, http.StatusBadRequest, "the body must be a JSON schema document: "+err.Error())
		return
	}
	if head.Name != chi.URLParam(r, "name") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the document's name %q differs from the path's %q", head.Name, chi.URLParam(r, "name")))
		return
	}
	s, err := a.d.Schemas.Put(r.Context(), tenantOf(r), raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// getTemplate serves a file with the schema's header row and an example row
// for people to fill in: template.csv or template.xlsx.
func (a *API) getTemplate(w http.ResponseWriter, r *http.Request) {
	s, ok := a.schemaOf(w, r)
	if !ok {
		return
	}
	switch chi.URLParam(r, "format") {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", s.Name+"-template.csv"))
		_, _ = w.Write(templates.CSV(s))
	case "xlsx":
		data, err := templates.XLSX(s)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "cannot build the template: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", s.Name+"-template.xlsx"))
		_, _ = w.Write(data)
	default:
		writeError(w, http.StatusNotFound, "templates are template.csv or template.xlsx")
	}
}
