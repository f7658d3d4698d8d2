package client

import (
	"context"
	"net/http"
	"net/url"
)

// ModeUndo is the mode of an undo job's summary: not a mode an import is
// submitted with.
const ModeUndo = "undo"

// Undo starts an undo of an import (POST /v1/imports/{id}/undo): the
// records it created are deleted, the fields it updated set back, the
// records its replace deleted stored again; records written since by
// another import are kept. dryRun only counts what the undo would do. The
// answer is the undo's own summary (UndoOf: id), processing: follow it with
// Summary like any import. A refusal is an *HTTPError: 404, 409 (its
// ImportID names an earlier undo), 410 past the retention.
func (c *REST) Undo(ctx context.Context, id string, dryRun bool) (*Summary, error) {
	path := "/v1/imports/" + url.PathEscape(id) + "/undo"
	if dryRun {
		path += "?dry_run=true"
	}
	var out Summary
	if err := c.do(ctx, http.MethodPost, path, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
