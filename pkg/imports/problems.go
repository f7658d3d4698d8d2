package imports

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/store"
)

// Limits of a page of GET /v1/imports/{id}/errors?limit=N.
const (
	DefaultProblemsLimit = 1000
	MaxProblemsLimit     = 10_000
)

// ProblemsPage is one page of an import's row problems. Next is the cursor
// of the page after it (after=Next), empty on the last page.
type ProblemsPage struct {
	Status string
	Rows   int // rows with at least one problem on this page
	Errors []client.RowError
	Next   string
}

// ProblemsPage returns up to limit problems of the rows of an import with
// result (failed or skipped), in row order, after the cursor after (""
// for the first page). Following Next page after page gives every problem
// Problems gives at once, each once. It reads only what the page holds.
// Errors are RequestErrors: 400 for a limit out of range or a cursor that
// is malformed or of another listing; found is false for an unknown import
// or another tenant's.
func (s *Service) ProblemsPage(ctx context.Context, tenant, id, result, after string, limit int) (ProblemsPage, bool, error) {
	if limit < 1 || limit > MaxProblemsLimit {
		return ProblemsPage{}, false, reqErr(http.StatusBadRequest, fmt.Sprintf("limit: from 1 to %d", MaxProblemsLimit))
	}
	if ids.ValidImport(id) != nil {
		return ProblemsPage{}, false, nil
	}
	pos, err := parseCursor(after, id, result)
	if err != nil {
		return ProblemsPage{}, false, reqErr(http.StatusBadRequest, "after: "+err.Error())
	}
	sum, found, err := s.store.GetSummary(ctx, tenant, id)
	if err != nil || !found {
		return ProblemsPage{}, false, err
	}
	if err := notesGone(sum); err != nil {
		return ProblemsPage{}, true, err
	}
	page, err := s.problemsFrom(ctx, sum, result, pos, limit)
	return page, err == nil, err
}

// problemsFrom reads the page of up to limit problems that starts at pos.
func (s *Service) problemsFrom(ctx context.Context, sum *ledger.Summary, result string, pos cursor, limit int) (ProblemsPage, error) {
	page := ProblemsPage{Status: sum.Status, Errors: []client.RowError{}}
	for {
		rows, more, err := s.store.RowNotesFrom(ctx, sum, result, pos.NotePos, limit+1)
		if err != nil {
			return ProblemsPage{}, err
		}
		var full bool
		pos, full = fillPage(&page, rows, pos, limit)
		switch {
		case full:
			page.Next = pos.String(sum.ID, result)
			return page, nil
		case !more:
			return page, nil
		}
	}
}

// fillPage adds to page the problems of rows (in order, from pos on) until
// it holds limit; full says one more problem is left, at the returned
// position. Otherwise the position is just after the last row.
func fillPage(page *ProblemsPage, rows []store.NotedRow, pos cursor, limit int) (cursor, bool) {
	for _, r := range rows {
		skip := 0
		if r.Chunk == pos.Chunk && r.Row == pos.Row {
			skip = pos.Skip
		}
		for k := skip; k < len(r.Problems); k++ {
			if len(page.Errors) == limit {
				return cursor{NotePos: store.NotePos{Chunk: r.Chunk, Row: r.Row}, Skip: k}, true
			}
			if k == skip {
				page.Rows++
			}
			p := r.Problems[k]
			page.Errors = append(page.Errors, client.RowError{Row: r.Row, Field: p.Field, Code: p.Code, Message: p.Message})
		}
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		pos = cursor{NotePos: store.NotePos{Chunk: last.Chunk, Row: last.Row + 1}}
	}
	return pos, false
}

// cursor is where a page of problems starts: the first row at or after
// (chunk, row), skipping the first Skip problems of that very row (a page
// may end inside a row).
type cursor struct {
	store.NotePos
	Skip int
}

// String is the cursor as the API hands it out: opaque, and naming the
// listing (import and result) it belongs to.
func (c cursor) String(id, result string) string {
	text := fmt.Sprintf("%s.%s.%d.%d.%d", id, result, c.Chunk, c.Row, c.Skip)
	return base64.RawURLEncoding.EncodeToString([]byte(text))
}

// parseCursor reads a cursor String gave for the listing of id and result
// ("" is the first page).
func parseCursor(s, id, result string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	text, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(text), ".")
	if err != nil || len(parts) != 5 {
		return cursor{}, fmt.Errorf("not a cursor of this listing: pass the next of a page")
	}
	if parts[0] != id || parts[1] != result {
		return cursor{}, fmt.Errorf("the cursor is of another listing (import %s, result %s)", parts[0], parts[1])
	}
	var n [3]int
	for i, p := range parts[2:] {
		if n[i], err = strconv.Atoi(p); err != nil || n[i] < 0 {
			return cursor{}, fmt.Errorf("not a cursor of this listing: pass the next of a page")
		}
	}
	return cursor{NotePos: store.NotePos{Chunk: n[0], Row: n[1]}, Skip: n[2]}, nil
}
