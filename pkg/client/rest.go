package client

// This file holds the client of Intake's HTTP API (/v1): what the CLI, the
// fault harness and the bench send, in one place, so that each decodes the
// same summary the same way.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/mapping"
)

// REST talks to Intake's HTTP API.
type REST struct {
	server string // e.g. http://127.0.0.1:8080, without a trailing slash
	apiKey string
	bearer string
	http   *http.Client
}

// RESTOption configures a REST client.
type RESTOption func(*REST)

// WithAPIKey sends key as X-API-Key on every request.
func WithAPIKey(key string) RESTOption { return func(c *REST) { c.apiKey = key } }

// WithBearerToken sends "Authorization: Bearer token" on every request (an
// API key or a JWT).
func WithBearerToken(token string) RESTOption { return func(c *REST) { c.bearer = token } }

// WithHTTPClient uses hc instead of a default http.Client.
func WithHTTPClient(hc *http.Client) RESTOption { return func(c *REST) { c.http = hc } }

// NewREST is a client of the Intake server at server (scheme, host and port).
func NewREST(server string, opts ...RESTOption) *REST {
	c := &REST{server: strings.TrimRight(server, "/"), http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// HTTPError is an answer of the API with a status of 300 or more.
type HTTPError struct {
	Status  int    // the HTTP status code
	Message string // the server's message (its "error" field, or the body)
	// ImportID names the import the error is about, when the server says
	// (e.g. an upload whose rows could not be stored).
	ImportID string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// UploadOptions are the options of an upload; empty ones are left to the
// server's defaults.
type UploadOptions struct {
	Schema          string // entity schema (server default: contacts)
	Mode            string // insert, upsert, update or replace
	Key             string // reconciliation key field
	DryRun          bool
	EmptyMeansClear bool
	Delimiter       string // CSV delimiter: comma, semicolon, pipe, tab, hyphen
	Sheet           string // XLSX: the sheet to read
	Format          string // csv, xlsx, json, ndjson or vcard (default: from the file)
	// Mapping is the import's column mapping: a JSON object of column
	// header to field (or null to ignore it), or @name of a saved mapping.
	Mapping    string
	DateFormat string // dmy, mdy, ymd or a Go layout for every date field (default: inferred per column)
}

func (o UploadOptions) fields() [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("schema", o.Schema)
	add("mode", o.Mode)
	add("key", o.Key)
	add("mapping", o.Mapping)
	if o.DryRun {
		add("dry_run", "true")
	}
	if o.EmptyMeansClear {
		add("empty_means_clear", "true")
	}
	add("delimiter", o.Delimiter)
	add("sheet", o.Sheet)
	add("format", o.Format)
	add("date_format", o.DateFormat)
	return out
}

// Accepted answers an upload or a replay: the new import, still processing.
type Accepted struct {
	ID       string `json:"id"`
	Rows     int    `json:"rows"`
	ReplayOf string `json:"replay_of,omitempty"`
	// Status is "processing" in an upload's answer, and how each replay of
	// a window ended in ReplayAll's (it waits for each).
	Status string `json:"status,omitempty"`
	// Mapping is how an upload's columns were mapped to fields.
	Mapping *mapping.Report `json:"mapping,omitempty"`
}

// Upload streams file as a multipart upload named name (POST /v1/imports),
// the options first, as the API asks. A read error of file ends the request
// with that error.
func (c *REST) Upload(ctx context.Context, name string, file io.Reader, opts UploadOptions) (*Accepted, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, f := range opts.fields() {
				if err := mw.WriteField(f[0], f[1]); err != nil {
					return err
				}
			}
			fw, err := mw.CreateFormFile("file", name)
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, file); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	var out Accepted
	if err := c.do(ctx, http.MethodPost, "/v1/imports", mw.FormDataContentType(), pr, &out); err != nil {
		_ = pr.CloseWithError(err) // let the writer stop
		return nil, err
	}
	return &out, nil
}

// Summary reads an import's summary (GET /v1/imports/{id}); with wait > 0
// the server answers once the import has finished or wait has passed.
func (c *REST) Summary(ctx context.Context, id string, wait time.Duration) (*Summary, error) {
	path := "/v1/imports/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	var s Summary
	if err := c.get(ctx, path, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Imports lists the tenant's latest imports, at most limit (0: the
// server's default); their Errors are empty.
func (c *REST) Imports(ctx context.Context, limit int) ([]Summary, error) {
	path := "/v1/imports"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	return listIn[Summary]("imports", func(out any) error { return c.get(ctx, path, out) })
}

// Problem results: which rows Problems lists.
const (
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Problems lists why the rows of an import with result (ResultFailed or
// ResultSkipped; "" is failed) failed or were skipped, every problem of
// every such row, read page by page (EachErrors).
func (c *REST) Problems(ctx context.Context, id, result string) ([]RowError, error) {
	all := []RowError{}
	err := c.EachErrors(ctx, id, ErrorsOptions{Result: result}, func(p ErrorsPage) error {
		all = append(all, p.Errors...)
		return nil
	})
	return all, err
}

// Failed-rows file formats.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// FailedRows copies to w, as it arrives, the file of an import's failed
// rows: the header and cells as uploaded plus a last column of reasons,
// ready to be fixed and uploaded again (GET /v1/imports/{id}/failed.csv,
// or failed.xlsx with FormatXLSX; "" is CSV). An answer cut short is an
// error, never a shorter file.
func (c *REST) FailedRows(ctx context.Context, id, format string, w io.Writer) error {
	if format == "" {
		format = FormatCSV
	}
	path := "/v1/imports/" + url.PathEscape(id) + "/failed." + url.PathEscape(format)
	resp, err := c.send(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return errorOf(resp, data)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// ReplayOptions change a replay; empty ones keep the original's.
type ReplayOptions struct {
	Mode   string `json:"mode,omitempty"`
	Key    string `json:"key,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// Replay runs an import's raw rows again as a new import
// (POST /v1/imports/{id}/replay).
func (c *REST) Replay(ctx context.Context, id string, opts ReplayOptions) (*Accepted, error) {
	var out Accepted
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/imports/"+url.PathEscape(id)+"/replay", opts, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReplayWindow asks to replay every import whose rows arrived since Since.
type ReplayWindow struct {
	Since  time.Time `json:"since"`
	Tenant string    `json:"tenant,omitempty"` // another tenant's window (an operator's)
	Mode   string    `json:"mode,omitempty"`
	DryRun bool      `json:"dry_run,omitempty"`
}

// ReplayAll replays a window of imports (POST /v1/replay) and returns the
// replays it started, oldest first.
func (c *REST) ReplayAll(ctx context.Context, w ReplayWindow) ([]Accepted, error) {
	return listIn[Accepted]("replays", func(out any) error { return c.sendJSON(ctx, http.MethodPost, "/v1/replay", w, out) })
}

// Cancel asks a processing import to stop (POST /v1/imports/{id}/cancel):
// its rows not yet written fail.
func (c *REST) Cancel(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/imports/"+url.PathEscape(id)+"/cancel", "", nil, nil)
}

// KeyRequest asks for a new API key (POST /v1/keys).
type KeyRequest struct {
	Name         string   `json:"name"`
	Tenant       string   `json:"tenant"` // "": the caller's own
	Capabilities []string `json:"capabilities"`
}

// Key is an API key as the API lists it, without its secret: the server's
// own description of a key, so the two cannot drift.
type Key = auth.Key

// NewKey is a created key as the API answers it: the key as listed, with
// its Secret, shown only in this answer.
type NewKey struct {
	Secret string `json:"key"`
	Key
}

// CreateKey creates an API key.
func (c *REST) CreateKey(ctx context.Context, req KeyRequest) (*NewKey, error) {
	var out NewKey
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/keys", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Keys lists a tenant's keys ("": the caller's own; for an operator, every
// tenant's).
func (c *REST) Keys(ctx context.Context, tenant string) ([]Key, error) {
	return listIn[Key]("keys", func(out any) error { return c.get(ctx, "/v1/keys"+tenantQuery(tenant), out) })
}

// RevokeKey revokes a tenant's key ("": the caller's tenant) by its id.
func (c *REST) RevokeKey(ctx context.Context, tenant, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id)+tenantQuery(tenant), "", nil, nil)
}

func tenantQuery(tenant string) string {
	if tenant == "" {
		return ""
	}
	return "?tenant=" + url.QueryEscape(tenant)
}

// PutSchema registers the tenant's own schema document under name
// (PUT /v1/schemas/{name}); doc is the schema's JSON.
func (c *REST) PutSchema(ctx context.Context, name string, doc []byte) error {
	return c.do(ctx, http.MethodPut, "/v1/schemas/"+url.PathEscape(name), "application/json", bytes.NewReader(doc), nil)
}

// Ready asks whether the server can take imports (GET /readyz): nil when
// its broker and database are reachable, else an *HTTPError (503) whose
// message lists what is not.
func (c *REST) Ready(ctx context.Context) error { return c.get(ctx, "/readyz", nil) }

// listIn returns the list that the answer of send holds under field: the
// API wraps each list in an object ({"imports": [...]}) so that it can add
// fields later.
func listIn[T any](field string, send func(out any) error) ([]T, error) {
	var out map[string]json.RawMessage
	if err := send(&out); err != nil {
		return nil, err
	}
	var list []T
	if raw, ok := out[field]; ok {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("decoding the answer's %s: %w", field, err)
		}
	}
	return list, nil
}

func (c *REST) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, "", nil, out)
}

func (c *REST) sendJSON(ctx context.Context, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, "application/json", bytes.NewReader(body), out)
}

// do sends a request and decodes a successful answer into out (nil: the
// answer is not read); any other answer is an *HTTPError.
func (c *REST) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return errorOf(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// send sends a request with the client's credentials; the caller closes
// the answer's body.
func (c *REST) send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	return c.http.Do(req)
}

// errorOf makes the error of a failed answer: the server's JSON error body
// {"error", "import_id"}, or the body itself when it is not one.
func errorOf(resp *http.Response, body []byte) *HTTPError {
	e := &HTTPError{Status: resp.StatusCode}
	var b struct {
		Error  string `json:"error"`
		Import string `json:"import_id"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error != "" {
		e.Message, e.ImportID = b.Error, b.Import
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
