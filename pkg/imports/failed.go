package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
)

// FailedRowsOut receives a failed-rows file as FailedRows reads it: the
// header once, before any row, then each failed row in row order.
type FailedRowsOut struct {
	// Header is the header row as uploaded (without the reasons column of
	// an earlier failed-rows file).
	Header func(header []string) error
	// Row is one failed row: its cells as uploaded, one per header column,
	// and every problem of the row in one text (Reasons).
	Row func(cells []string, reasons string) error
}

// FailedRows reads the failed rows of an import back as they were
// uploaded, with why they failed, so that they can be fixed and uploaded
// again. It walks the raw rows kept on the rows stream chunk by chunk and
// reads each chunk's row notes as it goes, so memory stays bounded by a
// chunk however many rows failed. Errors before anything was written are
// RequestErrors: 404 for an unknown import or another tenant's, 409 while
// it is processing, 410 when its rows are past the rows retention.
func (s *Service) FailedRows(ctx context.Context, tenant, id string, out FailedRowsOut) error {
	if ids.ValidImport(id) != nil {
		return reqErr(http.StatusNotFound, "import not found")
	}
	sum, found, err := s.store.FindSummary(ctx, tenant, id)
	switch {
	case errors.Is(err, store.ErrOtherTenant):
		return reqErr(http.StatusNotFound, "import not found")
	case err != nil:
		return err
	case !found:
		if _, pending, err := s.pending(ctx, tenant, id); err != nil {
			return err
		} else if !pending {
			return reqErr(http.StatusNotFound, "import not found")
		}
		return reqErr(http.StatusConflict, "the import is still processing; its failed rows are known once it has finished")
	case sum.Status == ledger.StatusProcessing:
		return reqErr(http.StatusConflict, "the import is still processing; its failed rows are known once it has finished")
	case sum.NotesRemoved:
		return notesGone(sum)
	}
	notes := func(chunk int) ([]envelope.Outcome, error) {
		if len(sum.NotedStages(chunk)) == 0 {
			return nil, nil
		}
		return s.store.ChunkRowNotes(ctx, sum, chunk, envelope.Failed)
	}
	if len(sum.RowDocs) > 0 {
		// A summary of an earlier version names its notes by id, not by
		// chunk: read them all at once (such imports predate large ones).
		all, err := s.store.RowNotes(ctx, sum, envelope.Failed)
		if err != nil {
			return err
		}
		notes = func(int) ([]envelope.Outcome, error) { return all, nil }
	}
	return s.readFailedRows(ctx, tenant, sum, notes, out)
}

// readFailedRows walks the import's raw rows in order and hands out the
// failed ones with the problems notes(chunk) gives for them.
func (s *Service) readFailedRows(ctx context.Context, tenant string, sum *ledger.Summary, notes func(chunk int) ([]envelope.Outcome, error), out FailedRowsOut) error {
	cons, err := s.js.OrderedConsumer(ctx, subjects.StreamRows, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects.Filters(subjects.Rows, tenant, sum.ID),
	})
	if err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	if info.NumPending == 0 && sum.Total > 0 {
		return reqErr(http.StatusGone, fmt.Sprintf("the raw rows of import %s are no longer kept (rows are kept for %s); its failed rows cannot be read back",
			sum.ID, s.retention(ctx)))
	}
	headerSent := false
	var reasons []int // the reasons column of an earlier failed-rows file: left out
	for left := info.NumPending; left > 0; {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		left = meta.NumPending
		var ch envelope.RowChunk
		if err := json.Unmarshal(m.Data(), &ch); err != nil {
			return fmt.Errorf("rows of %s, stream sequence %d: %w", sum.ID, meta.Sequence.Stream, err)
		}
		if !headerSent {
			reasons = reasonsColumns(ch.Header)
			if err := out.Header(without(ch.Header, reasons)); err != nil {
				return err
			}
			headerSent = true
		}
		failed, err := notes(ch.Chunk)
		if err != nil {
			return err
		}
		if err := emitFailed(ch, failed, len(ch.Header), reasons, out.Row); err != nil {
			return err
		}
	}
	if !headerSent {
		return out.Header(nil) // an import of no rows: nothing failed
	}
	return nil
}

// emitFailed hands out the rows of a chunk that failed, in the chunk's
// order, with their problems; failed are outcomes sorted by row, possibly
// of other rows too.
func emitFailed(ch envelope.RowChunk, failed []envelope.Outcome, width int, skip []int, row func([]string, string) error) error {
	if len(failed) == 0 {
		return nil
	}
	problems := make(map[int][]envelope.Problem, len(failed))
	for _, o := range failed {
		problems[o.Row] = append(problems[o.Row], o.Problems...)
	}
	for _, r := range ch.Rows {
		p, ok := problems[r.Row]
		if !ok {
			continue
		}
		cells := r.Cells
		if len(cells) < width { // a short row: its reasons stay in the reasons column
			cells = append(append(make([]string, 0, width), cells...), make([]string, width-len(cells))...)
		}
		if err := row(without(cells, skip), Reasons(p)); err != nil {
			return err
		}
	}
	return nil
}

// Reasons is a row's problems as one cell of a failed-rows file: each
// "field (code): message", joined by "; " (a message that starts with its
// field's name, as the schema's do, says it once).
func Reasons(problems []envelope.Problem) string {
	parts := make([]string, 0, len(problems))
	for _, p := range problems {
		if p.Field != "" {
			p.Message = strings.TrimPrefix(p.Message, p.Field+": ")
		}
		var b strings.Builder
		b.WriteString(p.Field)
		if p.Code != "" {
			if p.Field != "" {
				b.WriteString(" ")
			}
			b.WriteString("(" + p.Code + ")")
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "; ")
}

// reasonsColumns are the indexes of the columns of header that are the
// reasons column of an earlier failed-rows file.
func reasonsColumns(header []string) []int {
	var out []int
	for i, h := range header {
		if strings.TrimSpace(h) == schema.ReasonsColumn {
			out = append(out, i)
		}
	}
	return out
}

// without returns cells without the columns at skip (sorted indexes).
func without(cells []string, skip []int) []string {
	if len(skip) == 0 {
		return cells
	}
	out := make([]string, 0, len(cells))
	for i, c := range cells {
		if len(skip) > 0 && skip[0] == i {
			skip = skip[1:]
			continue
		}
		out = append(out, c)
	}
	return out
}
