package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/schema"
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

// Replay runs an import's raw rows again, through the tenant's current
// schemas and rules, as a new import linked to the original. It reads the
// rows stream, never the database, so it also works for imports whose rows
// all failed.
func (s *Service) Replay(ctx context.Context, tenant, original string, req ReplayRequest) (Submitted, error) {
	sum, found, err := s.findSummary(ctx, tenant, original)
	if errors.Is(err, ErrNotFound) {
		return Submitted{}, reqErr(http.StatusNotFound, "import not found")
	}
	if err != nil {
		return Submitted{}, err
	}
	if found && sum.Status == "processing" {
		return Submitted{}, reqErr(http.StatusConflict, "the import is still processing; replay it once it has finished")
	}
	// Without a summary (e.g. after a database restore) the options and the
	// row count come from the stream itself.
	var base *envelope.Options
	want := -1
	if found {
		base, want = &sum.Options, sum.Total
	}
	id := partitions.NewImport(ctx, s.js, tenant)
	rows, err := s.publishReplay(ctx, tenant, original, id, base, req, want)
	var re *RequestError
	switch {
	case errors.Is(err, errExpired):
		return Submitted{}, reqErr(http.StatusGone, fmt.Sprintf("the raw rows of import %s are no longer kept (rows are kept for %s); it cannot be replayed",
			original, s.retention(ctx)))
	case errors.As(err, &re):
		return Submitted{}, err
	case err != nil:
		s.log.Error("replay failed", zap.String("import_id", id), zap.String("replay_of", original), zap.Error(err))
		return Submitted{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "the replay could not be stored; retry: " + err.Error(), ImportID: id}
	}
	s.log.Info("replay stored", zap.String("import_id", id), zap.String("replay_of", original), zap.String("tenant", tenant), zap.Int("rows", rows))
	return Submitted{ID: id, Rows: rows}, nil
}

// options applies a replay's overrides to the original's options and checks them.
func (s *Service) replayOptions(ctx context.Context, tenant string, orig envelope.Options, req ReplayRequest) (envelope.Options, *schema.Schema, error) {
	opts := orig
	if req.Mode != "" {
		opts.Mode = req.Mode
	}
	if req.Key != "" {
		opts.Key = req.Key
	}
	if req.DryRun != nil {
		opts.DryRun = *req.DryRun
	}
	sch, err := s.checkOptions(ctx, tenant, &opts)
	return opts, sch, err
}

// publishReplay copies the original's row chunks into a new import. base
// are the original's options when known (else the first chunk's); want is
// its row count when known (else -1).
func (s *Service) publishReplay(ctx context.Context, tenant, original, id string, base *envelope.Options, req ReplayRequest, want int) (int, error) {
	cons, err := s.js.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects.Filters(subjects.Rows, tenant, original),
	})
	if err != nil {
		return 0, fmt.Errorf("read rows: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read rows: %w", err)
	}
	if info.NumPending == 0 {
		if want < 0 {
			return 0, reqErr(http.StatusNotFound, "import not found")
		}
		if want == 0 {
			base = &envelope.Options{} // an empty original replays as an empty import
		} else {
			return 0, errExpired
		}
	}
	pub := newWindow(s.js, 64)
	var opts envelope.Options
	opened := false
	// The opening waits for the first chunk (when there is one): its header
	// says how the columns map, for the replay's summary.
	openWith := func(orig envelope.Options, header []string) error {
		var (
			sch *schema.Schema
			err error
		)
		if opts, sch, err = s.replayOptions(ctx, tenant, orig, req); err != nil {
			return err
		}
		opened = true
		var report *mapping.Report
		if header != nil {
			if plan, err := mapping.ForImport(sch, header, opts.Mapping); err == nil {
				r := plan.Report()
				report = &r
			}
		}
		return pub.open(ctx, envelope.Accounting{Tenant: tenant, Import: id, Options: &opts, Source: "replay of " + original, ReplayOf: original, Mapping: report})
	}
	if base != nil && info.NumPending == 0 {
		if err := openWith(*base, nil); err != nil {
			return 0, err
		}
	}
	rows, rowsPrefix := 0, subjects.RowsPrefix(tenant, id, ids.NewSecret())
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
		if !opened {
			orig := ch.Options
			if base != nil {
				orig = *base
			}
			if err := openWith(orig, ch.Header); err != nil {
				return 0, err
			}
		}
		ch.Import, ch.Chunk, ch.Options = id, seq, opts
		rows += len(ch.Rows)
		if err := pub.json(ctx, subjects.For(subjects.Rows, tenant, id), subjects.RowsMsgID(rowsPrefix, seq), ch); err != nil {
			return rows, err
		}
	}
	reason := ""
	if want >= 0 && rows < want {
		reason = "only " + strconv.Itoa(rows) + " of the original's " + strconv.Itoa(want) + " rows are still kept"
	}
	return rows, pub.seal(ctx, tenant, id, rows, reason)
}

// ReplayWindow replays every import of a tenant whose raw rows were stored
// since a time, oldest first, one after another (each finishes before the
// next starts), skipping imports that are themselves replays and dry runs.
//
// Without a mode or key in req it reproduces the window: each import runs
// again with its own mode, key and options, so on a database in the state
// it had when the window began every row gets the outcome it got the first
// time (insert refusals stay refusals, update skips stay skips, replace
// deletes again). A window it cannot reproduce is refused before anything
// runs, with the reason (planWindowImport). With a mode or key, every
// import runs in that mode instead (e.g. upsert, to rebuild over whatever
// the database holds), and nothing is refused for reproduction's sake.
func (s *Service) ReplayWindow(ctx context.Context, tenant string, since time.Time, req ReplayRequest) ([]Replayed, error) {
	originals, err := s.windowImports(ctx, tenant, since)
	if err != nil {
		return nil, err
	}
	reproduce := req.Mode == "" && req.Key == ""
	var run []string
	for _, orig := range originals {
		sum, found, err := s.store.GetSummary(ctx, tenant, orig)
		if err != nil {
			return nil, err
		}
		if !found {
			sum = nil // options from the rows themselves
		}
		var changed time.Time
		if sum != nil && reproduce {
			if changed, err = s.schemaChangedAt(ctx, tenant, sum.Options.Schema); err != nil {
				return nil, err
			}
		}
		replay, refuse := planWindowImport(orig, sum, changed)
		switch {
		case refuse != "" && reproduce:
			return nil, reqErr(http.StatusConflict, "the window cannot be replayed as it happened: "+refuse+
				"; replay it with a mode (e.g. {\"mode\": \"upsert\"}) to rebuild regardless")
		case refuse != "" && sum != nil && sum.Status == ledger.StatusProcessing:
			continue // not finished: never replayed, whatever the mode
		case replay || refuse != "":
			run = append(run, orig)
		}
	}
	var out []Replayed
	for _, orig := range run {
		res, err := s.Replay(ctx, tenant, orig, req)
		if err != nil {
			return out, fmt.Errorf("replay %s: %w", orig, err)
		}
		sum, err := s.waitFinished(ctx, tenant, res.ID)
		if err != nil {
			return out, fmt.Errorf("replay %s (as %s): %w", orig, res.ID, err)
		}
		out = append(out, Replayed{Original: orig, ID: res.ID, Rows: res.Rows, Status: sum.Status})
	}
	return out, nil
}

// windowImports lists the imports of a tenant with raw rows stored since a
// time, in the order their first rows were stored.
func (s *Service) windowImports(ctx context.Context, tenant string, since time.Time) ([]string, error) {
	cons, err := s.js.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects.Filters(subjects.Rows, tenant, "*"),
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
		HeadersOnly:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	var originals []string
	seen := map[string]bool{}
	for left := info.NumPending; left > 0; {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			return nil, fmt.Errorf("read rows: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		left = meta.NumPending
		if _, id, ok := subjects.ImportOf(subjects.Rows, subjects.Unpartitioned(m.Subject())); ok && !seen[id] {
			seen[id] = true
			originals = append(originals, id)
		}
	}
	return originals, nil
}

// schemaChangedAt is when the tenant last registered its own schema of that
// name (zero for a built-in one).
func (s *Service) schemaChangedAt(ctx context.Context, tenant, name string) (time.Time, error) {
	doc, found, err := s.store.GetSchema(ctx, tenant, name)
	if err != nil || !found {
		return time.Time{}, err
	}
	return doc.UpdatedAt, nil
}

// waitFinished waits until an import has finished and returns its summary.
func (s *Service) waitFinished(ctx context.Context, tenant, id string) (client.Summary, error) {
	for {
		v, found, err := s.Wait(ctx, tenant, id, 30*time.Second)
		switch {
		case err != nil:
			return v, err
		case found && v.Done():
			return v, nil
		}
		if err := ctx.Err(); err != nil {
			return v, err
		}
	}
}

// planWindowImport decides what a reproducing window replay does with one
// of the window's imports, from its summary (nil when none is kept, e.g.
// after a database restore: its rows carry its options): run it again
// (replay), leave it out (neither: a replay itself, or a dry run, which
// wrote nothing), or refuse the window because what the import did cannot
// be reproduced (refuse says why). schemaChanged is when the tenant last
// registered the import's schema.
func planWindowImport(id string, sum *ledger.Summary, schemaChanged time.Time) (replay bool, refuse string) {
	switch {
	case sum == nil:
		return true, ""
	case sum.ReplayOf != "" || sum.Options.DryRun:
		return false, ""
	case sum.Status == ledger.StatusProcessing:
		return false, fmt.Sprintf("import %s is still processing", id)
	case sum.Status == ledger.StatusCancelled:
		return false, fmt.Sprintf("import %s was cancelled, and which of its rows were written depended on when", id)
	case sum.Status == ledger.StatusFailed:
		return false, fmt.Sprintf("import %s failed (%s), so not every row got the outcome its content deserved", id, sum.Reason)
	case !schemaChanged.IsZero() && schemaChanged.After(sum.CreatedAt):
		return false, fmt.Sprintf("schema %s was registered again at %s, after import %s ran, and a replay validates with today's schema",
			sum.Options.Schema, schemaChanged.UTC().Format(time.RFC3339), id)
	}
	return true, ""
}

// Replayed is one import of a replayed window.
type Replayed struct {
	Original string `json:"replay_of"`
	ID       string `json:"id"`
	Rows     int    `json:"rows"`
	Status   string `json:"status"` // how the replay ended
}

func (s *Service) retention(ctx context.Context) string {
	st, err := s.js.Stream(ctx, subjects.StreamRows)
	if err != nil {
		return "the configured retention"
	}
	return st.CachedInfo().Config.MaxAge.String()
}
