package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// ViewOf is a stored summary as the API shows it, without row errors.
func ViewOf(sum *ledger.Summary) client.SummaryReply {
	v := client.Summary{
		ID: sum.ID, Tenant: sum.Tenant, Status: sum.Status,
		Schema: sum.Options.Schema, Mode: sum.Options.Mode, Key: sum.Options.Key, Source: sum.Source,
		Total: sum.Total, Processed: sum.Counts.Sum(), Counts: sum.Counts,
		Errors: []client.RowError{}, Reason: sum.Reason, CompletedAt: sum.CompletedAt,
		DryRun: sum.Options.DryRun, Deleted: sum.Deleted, Notice: sum.Notice, ReplayOf: sum.ReplayOf,
		Mapping: sum.Mapping, UndoOf: sum.UndoOf, UndoneBy: sum.UndoneBy, Reversed: sum.Reversed, Kept: sum.Kept,
	}
	v.DateFormats, v.Warnings = sum.Options.DateFormats, warningsOf(sum.Options.Warnings)
	if sum.UndoOf != "" {
		v.Processed = sum.Reversed + sum.Kept + sum.Counts.Failed // an undo counts records, not rows
	}
	if sum.Deleting() {
		v.Deleting = &client.Progress{Done: sum.DeletePlan.Done, Total: sum.DeletePlan.Count}
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
	return client.SummaryReply{Summary: v, Sealed: sum.Sealed}
}

// Flatten turns noted rows into one error per problem.
func Flatten(notes []envelope.Outcome) []client.RowError {
	out := []client.RowError{}
	for _, n := range notes {
		for _, p := range n.Problems {
			out = append(out, client.RowError{Row: n.Row, Field: p.Field, Code: p.Code, Message: p.Message})
		}
	}
	return out
}

// Summary reads an import of tenant with up to errorLimit row errors (0:
// none are read, which is much cheaper for polling). found is false for an
// unknown import or another tenant's.
func (s *Service) Summary(ctx context.Context, tenant, id string, errorLimit int) (client.SummaryReply, bool, error) {
	sum, found, err := s.findSummary(ctx, tenant, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return client.SummaryReply{}, false, nil
	case err != nil:
		return client.SummaryReply{}, false, err
	case !found:
		// Accepted but not yet seen by the reporter: the events say it exists.
		return s.pending(ctx, tenant, id)
	}
	v := ViewOf(sum)
	if sum.Counts.Failed > 0 && errorLimit > 0 && !sum.NotesRemoved {
		// The first page only: a summary never reads all of a large import's notes.
		page, err := s.problemsFrom(ctx, sum, envelope.Failed, cursor{}, errorLimit)
		if err != nil {
			return client.SummaryReply{}, false, err
		}
		v.Errors, v.ErrorsTruncated = page.Errors, page.Next != ""
	}
	return v, true, nil
}

// findSummary is the store's FindSummary, for the callers that look further
// when an import has no summary yet: an invalid ID (which also keeps
// wildcards out of subject filters) and another tenant's import answer
// ErrNotFound at once.
func (s *Service) findSummary(ctx context.Context, tenant, id string) (*ledger.Summary, bool, error) {
	if ids.ValidImport(id) != nil {
		return nil, false, ErrNotFound
	}
	sum, found, err := s.store.FindSummary(ctx, tenant, id)
	if errors.Is(err, store.ErrOtherTenant) {
		return nil, false, ErrNotFound
	}
	return sum, found, err
}

// pending is the summary of an import the reporter has not yet seen: the
// options travel on its opened event (the first), the row count on the
// sealed one (the last).
func (s *Service) pending(ctx context.Context, tenant, id string) (client.SummaryReply, bool, error) {
	st, err := s.js.Stream(ctx, subjects.StreamEvents)
	if err != nil {
		return client.SummaryReply{}, false, err
	}
	subj := subjects.For(subjects.Events, tenant, id)
	last, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return client.SummaryReply{}, false, nil
	}
	if err != nil {
		return client.SummaryReply{}, false, err
	}
	v := client.SummaryReply{Summary: client.Summary{ID: id, Tenant: tenant, Status: ledger.StatusProcessing, Errors: []client.RowError{}}}
	var ev envelope.Event
	if err := json.Unmarshal(last.Data, &ev); err != nil {
		return client.SummaryReply{}, false, err
	}
	if ev.Total != nil {
		v.Total, v.Sealed = *ev.Total, true
	}
	if first, err := firstEvent(ctx, st, subj); err == nil && first.Options != nil {
		v.Schema, v.Mode, v.Key, v.DryRun = first.Options.Schema, first.Options.Mode, first.Options.Key, first.Options.DryRun
		v.DateFormats, v.Warnings = first.Options.DateFormats, warningsOf(first.Options.Warnings)
	}
	return v, true, nil
}

// firstEvent reads the first event of an import (opened).
func firstEvent(ctx context.Context, st jetstream.Stream, subj string) (envelope.Event, error) {
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

// Progress is an import's summary without its row errors: cheap enough to
// read every few hundred milliseconds.
func (s *Service) Progress(ctx context.Context, tenant, id string) (client.Summary, bool, error) {
	v, found, err := s.Summary(ctx, tenant, id, 0)
	return v.Summary, found, err
}

// Wait returns an import's summary, with up to DefaultErrorLimit row
// errors, once it has finished or wait has passed.
func (s *Service) Wait(ctx context.Context, tenant, id string, wait time.Duration) (client.Summary, bool, error) {
	if ids.ValidImport(id) != nil {
		return client.Summary{}, false, nil
	}
	var sub *nats.Subscription
	if wait > 0 {
		// Subscribe before reading, so a completion in between is not missed.
		var err error
		sub, err = s.nc.SubscribeSync(subjects.For(subjects.Events, tenant, id))
		if err != nil {
			return client.Summary{}, false, fmt.Errorf("broker unavailable: %w", err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	deadline := time.Now().Add(wait)
	for {
		v, found, err := s.Summary(ctx, tenant, id, DefaultErrorLimit)
		if err != nil || !found {
			return v.Summary, found, err
		}
		left := time.Until(deadline)
		if v.Status != ledger.StatusProcessing || sub == nil || left <= 0 {
			return v.Summary, true, nil
		}
		wctx, cancel := context.WithTimeout(ctx, left)
		_, _ = sub.NextMsgWithContext(wctx)
		cancel()
		if ctx.Err() != nil {
			return v.Summary, true, ctx.Err()
		}
	}
}

// List returns a tenant's most recent imports, newest first, without their
// row errors (they are in each import's summary).
func (s *Service) List(ctx context.Context, tenant string, limit int) ([]client.Summary, error) {
	sums, err := s.store.ListSummaries(ctx, tenant, limit)
	if err != nil {
		return nil, err
	}
	out := make([]client.Summary, 0, len(sums))
	for i := range sums {
		out = append(out, ViewOf(&sums[i]).Summary)
	}
	return out, nil
}

// Problems returns the rows of an import with the given result (failed or
// skipped) and why, by row number, and the import's status.
func (s *Service) Problems(ctx context.Context, tenant, id, result string) ([]envelope.Outcome, string, bool, error) {
	if ids.ValidImport(id) != nil {
		return nil, "", false, nil
	}
	sum, found, err := s.store.GetSummary(ctx, tenant, id)
	if err != nil || !found {
		return nil, "", false, err
	}
	if err := notesGone(sum); err != nil {
		return nil, sum.Status, true, err
	}
	notes, err := s.store.RowNotes(ctx, sum, result)
	return notes, sum.Status, err == nil, err
}

// notesGone is the answer (410) for the rows of an import whose row notes
// the retention removed.
func notesGone(sum *ledger.Summary) error {
	if !sum.NotesRemoved {
		return nil
	}
	return reqErr(http.StatusGone, "the skipped and failed rows of this import were removed after the retention (--notes-retention); its counts stay in the summary")
}

// warningsOf shows an import's warnings in the read model.
func warningsOf(ws []envelope.Warning) []client.Warning {
	var out []client.Warning
	for _, w := range ws {
		out = append(out, client.Warning{Field: w.Field, Code: w.Code, Message: w.Message})
	}
	return out
}
