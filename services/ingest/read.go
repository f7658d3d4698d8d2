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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/pkg/templates"
)

// summaryErrorLimit bounds the errors listed inside a summary; all of them
// are at /v1/imports/{id}/errors.
const summaryErrorLimit = 100

// RowError is one problem with one row, as people read it.
type RowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ImportView is an import's summary as the API shows it.
type ImportView struct {
	ID          string     `json:"id"`
	Tenant      string     `json:"tenant"`
	Status      string     `json:"status"`
	Schema      string     `json:"schema,omitempty"`
	Mode        string     `json:"mode,omitempty"`
	Key         string     `json:"key,omitempty"`
	DryRun      bool       `json:"dry_run,omitempty"`
	Source      string     `json:"source,omitempty"`
	ReplayOf    string     `json:"replay_of,omitempty"`
	Total       int        `json:"total"`
	Processed   int        `json:"processed"`
	Created     int        `json:"created"`
	Updated     int        `json:"updated"`
	Skipped     int        `json:"skipped"`
	Failed      int        `json:"failed"`
	Deleted     int        `json:"deleted"`
	Errors      []RowError `json:"errors"`
	ErrorsMore  bool       `json:"errors_truncated,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Notice      string     `json:"notice,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

func viewOf(sum *store.Summary) ImportView {
	v := ImportView{
		ID: sum.ID, Tenant: sum.Tenant, Status: sum.Status,
		Schema: sum.Options.Schema, Mode: sum.Options.Mode, Key: sum.Options.Key, Source: sum.Source,
		Total: sum.Total, Processed: sum.Counts.Sum(),
		Created: sum.Counts.Created, Updated: sum.Counts.Updated, Skipped: sum.Counts.Skipped, Failed: sum.Counts.Failed,
		Errors: []RowError{}, Reason: sum.Reason, CompletedAt: sum.CompletedAt,
		DryRun: sum.Options.DryRun, Deleted: sum.Deleted, Notice: sum.Notice, ReplayOf: sum.ReplayOf,
	}
	if !sum.Sealed && v.Processed > v.Total {
		v.Total = v.Processed // rows known so far; final once sealed
	}
	if !sum.CreatedAt.IsZero() {
		v.CreatedAt = &sum.CreatedAt
	}
	if !sum.UpdatedAt.IsZero() {
		v.UpdatedAt = &sum.UpdatedAt
	}
	return v
}

// flatten turns noted rows into one error per problem.
func flatten(notes []envelope.Outcome) []RowError {
	out := []RowError{}
	for _, n := range notes {
		for _, p := range n.Problems {
			out = append(out, RowError{Row: n.Row, Field: p.Field, Message: p.Message})
		}
	}
	return out
}

// Summary reads an import of tenant, with up to errorLimit row errors. found
// is false for an unknown import or another tenant's.
func (a *API) Summary(ctx context.Context, tenant, id string, errorLimit int) (ImportView, bool, error) {
	if ids.ValidImport(id) != nil {
		return ImportView{}, false, nil // also keeps wildcards out of subject filters
	}
	sum, found, err := a.d.Store.FindSummary(ctx, tenant, id)
	switch {
	case errors.Is(err, store.ErrOtherTenant):
		return ImportView{}, false, nil
	case err != nil:
		return ImportView{}, false, err
	case !found:
		// Accepted but not yet seen by the reporter: the opened event says it exists.
		return a.pendingView(ctx, tenant, id)
	}
	v := viewOf(sum)
	if sum.Counts.Failed > 0 {
		notes, err := a.d.Store.RowNotes(ctx, sum, envelope.Failed)
		if err != nil {
			return ImportView{}, false, err
		}
		v.Errors = flatten(notes)
		if len(v.Errors) > errorLimit {
			v.Errors, v.ErrorsMore = v.Errors[:errorLimit], true
		}
	}
	return v, true, nil
}

func (a *API) pendingView(ctx context.Context, tenant, id string) (ImportView, bool, error) {
	st, err := a.d.JS.Stream(ctx, subjects.StreamEvents)
	if err != nil {
		return ImportView{}, false, err
	}
	subj := subjects.For(subjects.Events, tenant, id)
	last, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ImportView{}, false, nil
	}
	if err != nil {
		return ImportView{}, false, err
	}
	v := ImportView{ID: id, Tenant: tenant, Status: store.StatusProcessing, Errors: []RowError{}}
	// The options travel on the opened event (the first); the row count on the sealed one.
	var ev envelope.Event
	if err := json.Unmarshal(last.Data, &ev); err != nil {
		return ImportView{}, false, err
	}
	if ev.Total != nil {
		v.Total = *ev.Total
	}
	if first, err := a.firstEvent(ctx, st, subj); err == nil && first.Options != nil {
		v.Schema, v.Mode, v.Key, v.DryRun = first.Options.Schema, first.Options.Mode, first.Options.Key, first.Options.DryRun
	}
	return v, true, nil
}

// firstEvent reads the first event of an import (opened).
func (a *API) firstEvent(ctx context.Context, st jetstream.Stream, subj string) (envelope.Event, error) {
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
	if err != nil {
		return envelope.Event{}, err
	}
	m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
	if err != nil {
		return envelope.Event{}, err
	}
	var ev envelope.Event
	return ev, json.Unmarshal(m.Data(), &ev)
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
	if ids.ValidImport(id) != nil {
		return ImportView{}, false, nil
	}
	var sub *nats.Subscription
	if wait > 0 {
		// Subscribe before reading, so a completion in between is not missed.
		var err error
		sub, err = a.d.NC.SubscribeSync(subjects.For(subjects.Events, tenant, id))
		if err != nil {
			return ImportView{}, false, fmt.Errorf("broker unavailable: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	deadline := time.Now().Add(wait)
	for {
		v, found, err := a.Summary(ctx, tenant, id, summaryErrorLimit)
		if err != nil || !found {
			return v, found, err
		}
		left := time.Until(deadline)
		if v.Status != store.StatusProcessing || sub == nil || left <= 0 {
			return v, true, nil
		}
		wctx, cancel := context.WithTimeout(ctx, left)
		_, _ = sub.NextMsgWithContext(wctx)
		cancel()
		if ctx.Err() != nil {
			return v, true, ctx.Err()
		}
	}
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
	sums, err := a.d.Store.ListSummaries(r.Context(), tenantOf(r), limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot list imports: "+err.Error())
		return
	}
	out := make([]ImportView, 0, len(sums))
	for i := range sums {
		out = append(out, viewOf(&sums[i])) // errors: [] here; they are in each import's summary
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": out})
}

// getErrors lists every row problem of an import; ?result=skipped lists the
// reasons rows were skipped instead.
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
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot read the row errors: "+err.Error())
	case !found:
		writeError(w, http.StatusNotFound, "import not found")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": status, "result": result, "rows": len(notes), "errors": flatten(notes)})
	}
}

// Problems returns the rows of an import with the given result (failed or
// skipped) and why, by row number, and the import's status.
func (a *API) Problems(ctx context.Context, tenant, id, result string) ([]envelope.Outcome, string, bool, error) {
	if ids.ValidImport(id) != nil {
		return nil, "", false, nil
	}
	sum, found, err := a.d.Store.GetSummary(ctx, tenant, id)
	if err != nil || !found {
		return nil, "", false, err
	}
	notes, err := a.d.Store.RowNotes(ctx, sum, result)
	return notes, sum.Status, err == nil, err
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
