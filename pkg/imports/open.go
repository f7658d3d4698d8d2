package imports

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/subjects"
)

// An import whose rows a publisher sends itself (the NATS protocol,
// services/upstream) is opened and sealed here, with the same messages
// Submit publishes for a file.

// CheckOpen fills the defaults of opts and checks them, and the header if
// the publisher names one, against the tenant's schemas, as Submit does;
// with a header it also decides how the columns map (PlanImport) and
// returns the report (nil without a header). Errors are *RequestError: 400
// for options or a header the schema refuses, 503 when the schemas cannot
// be read.
func (s *Service) CheckOpen(ctx context.Context, tenant string, opts *envelope.Options, header []string) (*mapping.Report, error) {
	if len(opts.Mapping) == 0 {
		opts.Mapping = nil // {} is no mapping: an idempotent open compares options
	}
	sch, err := s.checkNewOptions(ctx, tenant, opts)
	if err != nil || header == nil {
		return nil, err
	}
	plan, err := PlanImport(sch, header, *opts)
	if err != nil {
		return nil, err
	}
	report := plan.Report()
	return &report, nil
}

// Open announces import id of a tenant: the opened accounting message the
// reporter counts from and the opened event. The caller picks the id
// (ids.NewImport), so that it can record it first; opening the same import
// again publishes the same message IDs, which the broker stores once.
// opts and report are the ones CheckOpen filled in and returned.
func (s *Service) Open(ctx context.Context, tenant, id string, opts envelope.Options, source string, report *mapping.Report) error {
	w := newWindow(s.js, 1)
	if err := w.open(ctx, envelope.Accounting{Tenant: tenant, Import: id, Options: &opts, Source: source, Mapping: report}); err != nil {
		return fmt.Errorf("the broker did not store the message; retry: %w", err)
	}
	return nil
}

// Seal ends the rows of an opened import with their count (and why they
// ended early, if reason is set). Sealing again with the same total is a
// retry and succeeds. Errors: ErrNotFound (not opened, or another
// tenant's), a 409 *RequestError for an import sealed with another total
// or already ended, or the store or broker being unavailable.
func (s *Service) Seal(ctx context.Context, tenant, id string, total int, reason string) error {
	sum, found, err := s.findSummary(ctx, tenant, id)
	if err != nil {
		return err
	}
	switch {
	case found && sum.Sealed && sum.Total == total:
		return nil // sealed before: a retry
	case found && sum.Sealed:
		return reqErr(http.StatusConflict, fmt.Sprintf("import %s is already sealed with total %d", id, sum.Total))
	case found && sum.Status != ledger.StatusProcessing:
		return reqErr(http.StatusConflict, fmt.Sprintf("import %s has already ended %s: %s", id, sum.Status, sum.Reason))
	case !found:
		// The reporter may not have seen it yet: an event says it was opened.
		if ok, err := s.announced(ctx, tenant, id); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
	}
	w := newWindow(s.js, 1)
	if err := w.seal(ctx, tenant, id, total, reason); err != nil {
		return fmt.Errorf("the broker did not store the message; retry: %w", err)
	}
	s.log.Info("import sealed", zap.String("import_id", id), zap.String("tenant", tenant), zap.Int("total", total))
	return nil
}

// announced tells whether an import has an event, that is, was opened.
func (s *Service) announced(ctx context.Context, tenant, id string) (bool, error) {
	st, err := s.js.Stream(ctx, subjects.StreamEvents)
	if err != nil {
		return false, err
	}
	_, err = st.GetLastMsgForSubject(ctx, subjects.For(subjects.Events, tenant, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}
