package client

import (
	"context"
	"net/url"
	"strconv"
)

// ErrorsOptions chooses a page of an import's problems.
type ErrorsOptions struct {
	Result string // ResultFailed (also "") or ResultSkipped
	Limit  int    // problems per page; 0 is the server's default (1,000)
	After  string // the Next of the page before; "" for the first page
}

// ErrorsPage is one page of an import's problems (GET
// /v1/imports/{id}/errors?limit=N&after=CURSOR). Next is the After of the
// following page, empty on the last.
type ErrorsPage struct {
	ID     string     `json:"id"`
	Status string     `json:"status"`
	Result string     `json:"result"`
	Rows   int        `json:"rows"` // rows with a problem on this page
	Errors []RowError `json:"errors"`
	Next   string     `json:"next,omitempty"`
}

// Errors reads one page of why the rows of an import with opts.Result
// failed or were skipped, in row order.
func (c *REST) Errors(ctx context.Context, id string, opts ErrorsOptions) (ErrorsPage, error) {
	q := url.Values{"after": {opts.After}}
	if opts.Result != "" {
		q.Set("result", opts.Result)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var page ErrorsPage
	err := c.get(ctx, "/v1/imports/"+url.PathEscape(id)+"/errors?"+q.Encode(), &page)
	return page, err
}

// EachErrors calls fn with every page of an import's problems in turn,
// following Next, so that a caller holds one page at a time; it stops at
// fn's first error.
func (c *REST) EachErrors(ctx context.Context, id string, opts ErrorsOptions, fn func(ErrorsPage) error) error {
	for {
		page, err := c.Errors(ctx, id, opts)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		opts.After = page.Next
	}
}
