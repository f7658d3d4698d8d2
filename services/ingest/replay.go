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
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/subjects"
)

// ReplayRequest changes what a replay does; empty fields keep the original's.
type ReplayRequest struct {
	Mode   string `json:"mode,omitempty"`
	DryRun *bool  `json:"dry_run,omitempty"`
	Key    string `json:"key,omitempty"`
}

// errExpired: the raw rows are gone from the stream (past retention).
var errExpired = errors.New("expired")

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

// Replay runs an import's raw rows again, through the tenant's current
// schemas and rules, as a new import linked to the original. It reads the
// rows stream, never the database, so it also works for imports whose rows
// all failed.
func (a *API) Replay(ctx context.Context, tenant, original string, req ReplayRequest) (Submitted, error) {
	if ids.ValidImport(original) != nil {
		return Submitted{}, reqErr(http.StatusNotFound, "import not found")
	}
	sum, found, err := a.d.Store.GetSummary(ctx, original)
	if err != nil {
		return Submitted{}, err
	}
	if !found || sum.Tenant != tenant {
		return Submitted{}, reqErr(http.StatusNotFound, "import not found")
	}
	if sum.Status == "processing" {
		return Submitted{}, reqErr(http.StatusConflict, "the import is still processing; replay it once it has finished")
	}

	opts := sum.Options
	if req.Mode != "" {
		opts.Mode = req.Mode
	}
	if req.Key != "" {
		opts.Key = req.Key
	}
	if req.DryRun != nil {
		opts.DryRun = *req.DryRun
	}
	if _, err := a.checkOptions(ctx, tenant, &opts); err != nil {
		return Submitted{}, err
	}

	id := ids.NewImport()
	rows, err := a.publishReplay(ctx, tenant, original, id, opts, sum.Total)
	if errors.Is(err, errExpired) {
		return Submitted{}, reqErr(http.StatusGone, fmt.Sprintf("the raw rows of import %s are no longer kept (rows are kept for %s); it cannot be replayed",
			original, a.retention(ctx)))
	}
	if err != nil {
		a.log.Error("replay failed", zap.String("import_id", id), zap.String("replay_of", original), zap.Error(err))
		return Submitted{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "the replay could not be stored; retry: " + err.Error(), ImportID: id}
	}
	a.log.Info("replay stored", zap.String("import_id", id), zap.String("replay_of", original), zap.String("tenant", tenant), zap.Int("rows", rows))
	return Submitted{ID: id, Rows: rows}, nil
}

// publishReplay copies the original's row chunks into a new import.
func (a *API) publishReplay(ctx context.Context, tenant, original, id string, opts envelope.Options, want int) (int, error) {
	cons, err := a.d.JS.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.For(subjects.Rows, tenant, original)},
	})
	if err != nil {
		return 0, fmt.Errorf("read rows: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read rows: %w", err)
	}
	if info.NumPending == 0 && want > 0 {
		return 0, errExpired
	}
	pub := newWindow(a.d.JS, 64)
	if err := pub.open(ctx, envelope.Accounting{Tenant: tenant, Import: id, Options: &opts, Source: "replay of " + original, ReplayOf: original}); err != nil {
		return 0, err
	}
	rows := 0
	for seq, left := 0, info.NumPending; left > 0; seq++ {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			return rows, fmt.Errorf("read rows: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return rows, fmt.Errorf("read rows: %w", err)
		}
		left = meta.NumPending
		var ch envelope.RowChunk
		if err := json.Unmarshal(m.Data(), &ch); err != nil {
			return rows, fmt.Errorf("chunk %d of %s: %w", seq, original, err)
		}
		ch.Import, ch.Chunk, ch.Options = id, seq, opts
		rows += len(ch.Rows)
		if err := pub.json(ctx, subjects.For(subjects.Rows, tenant, id), subjects.MsgID(id, "rows", seq), ch); err != nil {
			return rows, err
		}
	}
	reason := ""
	if rows < want {
		reason = "only " + strconv.Itoa(rows) + " of the original's " + strconv.Itoa(want) + " rows are still kept"
	}
	return rows, pub.seal(ctx, tenant, id, rows, reason)
}

func (a *API) retention(ctx context.Context) string {
	st, err := a.d.JS.Stream(ctx, subjects.StreamRows)
	if err != nil {
		return "the configured retention"
	}
	return st.CachedInfo().Config.MaxAge.String()
}
