// Package compat serves the five public import APIs of docs/compat.md beside
// Intake's own /v1 API, each at its documented path with its documented
// request and response shapes:
//
//	POST /customers/import                  customers          (sync)
//	POST /persons/bulk-import               persons            (sync)
//	POST /apis/v1/users/bulk-import         community_users    (async, upsert)
//	POST /apis/v1/users/bulk-update         community_users    (async, update)
//	GET  /apis/v1/users/bulk-import/logs    the community's import log
//	POST /vpns/api/v1/audience/import       audience_users     (async)
//	GET  /vpns/api/v1/audience/import/{id}  status of one audience import
//	POST /phonebook/import/                 phonebook_contacts (sync)
//
// Every adapter is thin: it maps the request onto an imports.SubmitRequest,
// calls Submit of the application layer (pkg/imports) (which parses, checks the header and publishes the rows, as
// the native upload does), waits for the summary where the contract is
// synchronous, and maps the summary onto the contract's response. Parsing,
// validation, de-duplication and writing are the pipeline's; an adapter
// only reads a file itself where the contract needs something before
// Submit (the row count of customers and persons) or beside the summary
// (the original cells of persons' failed rows), and then with the same
// filereader the pipeline uses. docs/compat.md records every choice.
package compat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/services/ingest"
)

// Importer is what the adapters need from the application layer:
// *imports.Service implements it, and so does *ingest.API, which the
// routes are mounted beside and which hands every call to its layer.
type Importer interface {
	// Submit reads a file and publishes its rows as a new import of
	// req.Tenant; errors that concern the request are *imports.RequestError.
	Submit(ctx context.Context, req imports.SubmitRequest) (imports.Submitted, error)
	// CheckConcurrency refuses a new import of a tenant at its limit of
	// imports at once (*imports.RequestError, 429); adapters that read the
	// file before Submit call it before reading.
	CheckConcurrency(ctx context.Context, tenant string) error
	// Wait returns an import's summary once it finished or wait passed;
	// found is false for an unknown import or another tenant's.
	Wait(ctx context.Context, tenant, id string, wait time.Duration) (client.Summary, bool, error)
	// Problems returns the rows with result (failed or skipped) and why.
	Problems(ctx context.Context, tenant, id, result string) ([]envelope.Outcome, string, bool, error)
}

var (
	_ Importer = (*imports.Service)(nil)
	_ Importer = (*ingest.API)(nil)
)

// ListFunc lists a tenant's most recent imports, newest first, without
// their row errors. StoreLister builds one from the store.
type ListFunc func(ctx context.Context, tenant string, limit int) ([]client.Summary, error)

// Config configures the adapters. The zero value (with Auth set) applies
// the defaults below.
type Config struct {
	// Auth authenticates every compatibility request (API key or JWT, as on
	// the native API); each contract renders its failures in its own error
	// body. Without Auth every request is refused with 401, unless Open.
	Auth *auth.Authenticator
	// Open, with Auth nil, lets every request act as tenant "default" with
	// every capability, as the native API does when run without
	// credentials on loopback; a request that sends a credential is refused
	// (401), since there is nothing to check it against. Organisation and community IDs are then
	// taken as given (there is no principal to compare them with).
	Open bool

	// SyncWait is how long the synchronous contracts (customers, persons,
	// phonebook) wait for the import to finish before answering 504
	// (default 60s).
	SyncWait time.Duration
	// CustomersMaxRows is the most data rows of one customers file; more is
	// a 422 and nothing is imported (default 100, the contract's limit).
	CustomersMaxRows int
	// CustomersMaxBytes bounds a customers upload (default 5 MiB).
	CustomersMaxBytes int64
	// PersonsRowLimit returns an organisation's plan limit on rows per
	// persons import; a file with more rows is refused with 402 "Pricing
	// Tier Violation" and nothing is imported. nil: 10,000 for every
	// organisation. A result <= 0 means no plan limit.
	PersonsRowLimit func(tenant string) int
	// SyncMaxBytes bounds a persons or phonebook upload, which is held in
	// memory while it is imported (default 32 MiB).
	SyncMaxBytes int64
	// AsyncMaxBytes bounds a community users or audience upload, which is
	// spooled to a temporary file (default 1 GiB).
	AsyncMaxBytes int64
	// ListImports lists a community's imports for the import log
	// (GET /apis/v1/users/bulk-import/logs). nil: the log answers 501.
	ListImports ListFunc
	// TempDir is where XLSX workbooks are spooled while a customers file
	// is counted ("": the system's).
	TempDir string
	// Log receives internal errors, which clients never see (nil: none).
	Log *zap.Logger
}

// Defaults of Config.
const (
	DefaultSyncWait          = 60 * time.Second
	DefaultCustomersMaxRows  = 100
	DefaultCustomersMaxBytes = 5 << 20
	DefaultPersonsRowLimit   = 10_000
	DefaultSyncMaxBytes      = 32 << 20
	DefaultAsyncMaxBytes     = 1 << 30
)

// CapPhonebook is the capability the phonebook contract requires.
const CapPhonebook = "phonebook.ad_phonebook"

func (c Config) withDefaults() Config {
	positiveOr(&c.SyncWait, DefaultSyncWait)
	positiveOr(&c.CustomersMaxRows, DefaultCustomersMaxRows)
	positiveOr(&c.CustomersMaxBytes, DefaultCustomersMaxBytes)
	if c.PersonsRowLimit == nil {
		c.PersonsRowLimit = func(string) int { return DefaultPersonsRowLimit }
	}
	positiveOr(&c.SyncMaxBytes, DefaultSyncMaxBytes)
	positiveOr(&c.AsyncMaxBytes, DefaultAsyncMaxBytes)
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return c
}

// positiveOr sets *v to def unless *v is positive: zero (unset) and
// negative settings take the default.
func positiveOr[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// handlers holds what every adapter uses.
type handlers struct {
	imp Importer
	cfg Config
	log *zap.Logger
}

// Routes mounts the five contracts on r.
func Routes(r chi.Router, imp Importer, cfg Config) {
	cfg = cfg.withDefaults()
	h := &handlers{imp: imp, cfg: cfg, log: cfg.Log.With(zap.String("component", "compat"))}

	r.With(h.guard(customersAuthError, auth.CapImportsWrite)).Post("/customers/import", h.customers)

	r.With(slashIDKeyHeader, h.guard(personsAuthError, auth.CapImportsWrite)).Post("/persons/bulk-import", h.persons)

	r.With(h.guard(messageAuthError, auth.CapImportsWrite)).Post("/apis/v1/users/bulk-import", h.communityImport(envelope.ModeUpsert))
	r.With(h.guard(messageAuthError, auth.CapImportsWrite)).Post("/apis/v1/users/bulk-update", h.communityImport(envelope.ModeUpdate))
	r.With(h.guard(messageAuthError, auth.CapImportsRead)).Get("/apis/v1/users/bulk-import/logs", h.communityLogs)
	r.With(h.guard(messageAuthError, auth.CapImportsRead)).Get("/apis/v1/users/bulk-import/logs/{id}", h.communityLog)

	r.With(h.guard(audienceAuthError, auth.CapImportsWrite)).Post("/vpns/api/v1/audience/import", h.audienceImport)
	r.With(h.guard(audienceAuthError, auth.CapImportsRead)).Get("/vpns/api/v1/audience/import/{id}", h.audienceStatus)

	pb := r.With(h.authenticate(phonebookAuthError), jwtOnly(phonebookAuthError), auth.Require(CapPhonebook, phonebookAuthError))
	pb.Post("/phonebook/import/", h.phonebook)
	pb.Post("/phonebook/import", h.phonebook)
}

var openPrincipal = auth.Principal{Tenant: "default", Subject: "anonymous", Capabilities: []string{auth.CapAdmin}, Method: auth.MethodOpen}

// guard authenticates and requires capability c, rendering failures with onError.
func (h *handlers) guard(onError auth.ErrorFunc, c string) func(http.Handler) http.Handler {
	authn, authz := h.authenticate(onError), auth.Require(c, onError)
	return func(next http.Handler) http.Handler { return authn(authz(next)) }
}

func (h *handlers) authenticate(onError auth.ErrorFunc) func(http.Handler) http.Handler {
	switch {
	case h.cfg.Auth != nil:
		return h.cfg.Auth.Middleware(onError)
	case h.cfg.Open:
		return auth.Open(openPrincipal, onError)
	default:
		return func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="intake"`)
				onError(w, r, http.StatusUnauthorized, auth.ErrNoCredentials)
			})
		}
	}
}

// errNotJWT: the phonebook contract authenticates users by JWT only.
var errNotJWT = fmt.Errorf("%w: a user's JWT bearer token is required", auth.ErrInvalidCredentials)

// jwtOnly refuses principals that are not users with a JWT (API keys).
func jwtOnly(onError auth.ErrorFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := auth.FromContext(r.Context())
			if !ok || (p.Method != auth.MethodJWT && p.Method != auth.MethodOpen) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="intake"`)
				onError(w, r, http.StatusUnauthorized, errNotJWT)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// slashIDKeyHeader accepts SlashID's own API key header as X-API-Key, so a
// SlashID client only changes its base URL and key.
func slashIDKeyHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.Header.Get("SlashID-API-Key"); k != "" && r.Header.Get("X-API-Key") == "" && r.Header.Get("Authorization") == "" {
			r.Header.Set("X-API-Key", k)
		}
		next.ServeHTTP(w, r)
	})
}

// authMessage is what a client is told about an authentication failure:
// the package's message, which never repeats a credential, except for 503,
// whose cause is for logs.
func authMessage(status int, err error) string {
	if status >= 500 {
		return "authentication is unavailable; try again"
	}
	return err.Error()
}

// principal returns the request's principal (set by guard).
func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

// sameTenant reports whether p may act for tenant t.
func sameTenant(p auth.Principal, t string) bool {
	return p.Method == auth.MethodOpen || p.Tenant == t
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// reqError is a request an adapter refuses: a status and a message for people.
type reqError struct {
	status int
	msg    string
	kind   string // "missing" (no file or field), "too_large", "invalid"
}

func (e *reqError) Error() string { return e.msg }

// badRequestStatus is e's status for the contracts whose only refusals of
// a file are 400 and, for an upload over the limit, 413.
func (e *reqError) badRequestStatus() int {
	if e.status == http.StatusRequestEntityTooLarge {
		return e.status
	}
	return http.StatusBadRequest
}

func badRequest(kind, format string, args ...any) *reqError {
	return &reqError{status: http.StatusBadRequest, kind: kind, msg: fmt.Sprintf(format, args...)}
}

// parseForm reads a multipart body of at most maxBytes; file parts over
// memBytes are spooled to temporary files (removed when the request ends).
func parseForm(w http.ResponseWriter, r *http.Request, maxBytes, memBytes int64) (*multipart.Form, *reqError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	if err := r.ParseMultipartForm(memBytes); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) || strings.Contains(err.Error(), "request body too large"):
			return nil, &reqError{status: http.StatusRequestEntityTooLarge, kind: "too_large", msg: fmt.Sprintf("the upload is larger than the limit of %s", filereader.FormatBytes(maxBytes))}
		case errors.Is(err, multipart.ErrMessageTooLarge):
			return nil, &reqError{status: http.StatusRequestEntityTooLarge, kind: "too_large", msg: "the form fields are too large"}
		case errors.Is(err, http.ErrNotMultipart), errors.Is(err, http.ErrMissingBoundary):
			return nil, badRequest("missing", "expected a multipart/form-data body")
		default:
			return nil, badRequest("invalid", "cannot read the multipart body")
		}
	}
	return r.MultipartForm, nil
}

// formFile returns the file part name, or nil if there is none.
func formFile(form *multipart.Form, name string) (*multipart.FileHeader, bool) {
	fhs := form.File[name]
	if len(fhs) == 0 {
		return nil, false
	}
	return fhs[0], true
}

// readAll reads an uploaded part into memory.
func readAll(fh *multipart.FileHeader) ([]byte, *reqError) {
	f, err := fh.Open()
	if err != nil {
		return nil, badRequest("invalid", "cannot read the uploaded file")
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, badRequest("invalid", "cannot read the uploaded file")
	}
	return data, nil
}

// openPart opens an uploaded part (in memory or spooled to a temporary
// file) for streaming into Submit; the caller closes it.
func openPart(fh *multipart.FileHeader) (multipart.File, *reqError) {
	f, err := fh.Open()
	if err != nil {
		return nil, badRequest("invalid", "cannot read the uploaded file")
	}
	return f, nil
}

// csvPart returns the file part name of a contract that takes a CSV file;
// without one it is a "missing" request error that names the field.
func csvPart(form *multipart.Form, name string) (*multipart.FileHeader, *reqError) {
	fh, ok := formFile(form, name)
	if !ok {
		return nil, badRequest("missing", "no file: send the CSV file in a multipart field named %q", name)
	}
	return fh, nil
}

// openCSVPart opens the CSV file part name for streaming into Submit; the
// caller closes it.
func openCSVPart(form *multipart.Form, name string) (multipart.File, *multipart.FileHeader, *reqError) {
	fh, rerr := csvPart(form, name)
	if rerr != nil {
		return nil, nil, rerr
	}
	f, rerr := openPart(fh)
	if rerr != nil {
		return nil, nil, rerr
	}
	return f, fh, nil
}

// readUpload reads an uploaded part before Submit, for the contracts that
// need its rows first (readRows). The tenant's limit of imports at once is
// checked before anything is read. The error is CheckConcurrency's or a
// *reqError about the file, both for submitError.
func (h *handlers) readUpload(ctx context.Context, tenant string, fh *multipart.FileHeader, opts filereader.Options, keep int) (*heldRows, int, error) {
	if err := h.imp.CheckConcurrency(ctx, tenant); err != nil {
		return nil, 0, err
	}
	f, rerr := openPart(fh)
	if rerr != nil {
		return nil, 0, rerr
	}
	defer f.Close()
	held, n, rerr := readRows(f, opts, keep)
	if rerr != nil {
		return nil, 0, rerr
	}
	return held, n, nil
}

func formValue(form *multipart.Form, name string) string {
	if v := form.Value[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// scanned is a file read with the pipeline's reader: its header and rows.
type scanned struct {
	header []string
	rows   []filereader.Row
}

// readRows reads a file once with the pipeline's reader, keeping at most
// keep rows but counting every one, so that an adapter can refuse a file
// over its row limit before anything is imported and otherwise import the
// rows it has read (heldRows) without reading the file again.
func readRows(r io.Reader, opts filereader.Options, keep int) (*heldRows, int, *reqError) {
	rd, cleanup, err := filereader.Open(r, opts)
	defer func() { _ = cleanup() }()
	if err != nil {
		return nil, 0, fileError(err)
	}
	h := &heldRows{header: rd.Header()}
	n := 0
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return h, n, nil
		}
		if err != nil {
			return nil, 0, badRequest("invalid", "the file could not be read to the end: %v", err)
		}
		if n++; n <= keep {
			h.rows = append(h.rows, row)
		}
	}
}

// heldRows replays rows read by readRows; it is a filereader.Reader.
type heldRows struct {
	header []string
	rows   []filereader.Row
}

func (h *heldRows) Header() []string { return h.header }

func (h *heldRows) Next() (filereader.Row, error) {
	if len(h.rows) == 0 {
		return filereader.Row{}, io.EOF
	}
	row := h.rows[0]
	h.rows = h.rows[1:]
	return row, nil
}

// fileError turns a filereader error into a request error; its messages
// are written for people and name no internals.
func fileError(err error) *reqError {
	if errors.Is(err, filereader.ErrTooLarge) {
		return &reqError{status: http.StatusRequestEntityTooLarge, kind: "too_large", msg: err.Error()}
	}
	if errors.Is(err, filereader.ErrEmpty) || errors.Is(err, filereader.ErrUnsupportedFormat) ||
		errors.Is(err, filereader.ErrTooManyColumns) || errors.Is(err, filereader.ErrCorrupt) ||
		errors.Is(err, filereader.ErrSheetNotFound) || errors.Is(err, filereader.ErrInvalidOption) {
		return badRequest("invalid", "%s", err.Error())
	}
	return badRequest("invalid", "cannot read the file: %v", err)
}

// submitError classifies an error of Submit (or of readUpload): a request
// error (status < 500, with its message for people), or nil when the
// failure is the server's (logged here, never shown).
func (h *handlers) submitError(err error, contract string) *reqError {
	var rq *reqError
	if errors.As(err, &rq) {
		return rq
	}
	var re *imports.RequestError
	if errors.As(err, &re) && re.Status < 500 {
		kind := "invalid"
		if re.Status == http.StatusRequestEntityTooLarge {
			kind = "too_large"
		}
		return &reqError{status: re.Status, kind: kind, msg: re.Message}
	}
	h.log.Error("submit failed", zap.String("contract", contract), zap.Error(err))
	return nil
}

// errStillProcessing: a synchronous contract waited SyncWait and the
// import has not finished.
type stillProcessing struct{ id string }

func (e stillProcessing) Error() string {
	return fmt.Sprintf("the import %s is still processing; its summary is at /v1/imports/%s", e.id, e.id)
}

func asStill(err error, sp *stillProcessing) bool { return errors.As(err, sp) }

// finish waits for a synchronous import. A nil view and nil error cannot
// happen; an error is stillProcessing or an internal failure (logged).
func (h *handlers) finish(ctx context.Context, tenant, id, contract string) (client.Summary, error) {
	v, found, err := h.imp.Wait(ctx, tenant, id, h.cfg.SyncWait)
	switch {
	case err != nil:
		h.log.Error("wait failed", zap.String("contract", contract), zap.String("import_id", id), zap.Error(err))
		return v, err
	case !found:
		err := fmt.Errorf("import %s not found right after it was submitted", id)
		h.log.Error("wait failed", zap.String("contract", contract), zap.Error(err))
		return v, err
	case v.Status == "processing":
		return v, stillProcessing{id: id}
	}
	return v, nil
}

// problems returns the outcomes of an import's rows with result, or nil
// when count says there are none.
func (h *handlers) problems(ctx context.Context, tenant, id, result string, count int, contract string) ([]envelope.Outcome, error) {
	if count == 0 {
		return nil, nil
	}
	notes, _, found, err := h.imp.Problems(ctx, tenant, id, result)
	if err == nil && !found {
		err = fmt.Errorf("import %s not found", id)
	}
	if err != nil {
		h.log.Error("reading row problems failed", zap.String("contract", contract), zap.String("import_id", id), zap.Error(err))
		return nil, err
	}
	return notes, nil
}

// Row outcomes are classified by their problems' codes (envelope.Code*),
// never by their wording:
//   - a skipped row coded unchanged (the record already has these values)
//     was imported as asked;
//   - a failed row coded dead_letter (a stage gave up on its chunk) or
//     cancelled failed for a reason of the server's, not of the data;
//   - every other failed row failed for its content (validation, a create
//     requirement, a value the database refuses), and every other skipped
//     row was a duplicate of an earlier row of the file (or had no record
//     to update, in update mode).
func unchanged(o envelope.Outcome) bool {
	return o.Result == envelope.Skipped && hasCode(o, envelope.CodeUnchanged)
}

func processingFailure(o envelope.Outcome) bool {
	return o.Result == envelope.Failed && (hasCode(o, envelope.CodeDeadLetter) || hasCode(o, envelope.CodeCancelled))
}

// RowError is one problem of a row as the contracts show it: their bodies
// were fixed before problems carried codes, so they carry none.
type RowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func rowErrors(in []client.RowError) []RowError {
	if in == nil {
		return nil
	}
	out := make([]RowError, len(in))
	for i, e := range in {
		out[i] = RowError{Row: e.Row, Field: e.Field, Message: e.Message}
	}
	return out
}

func hasCode(o envelope.Outcome, code string) bool {
	for _, p := range o.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

// reason joins a row's problems into one sentence.
func reason(o envelope.Outcome) string {
	msgs := make([]string, 0, len(o.Problems))
	for _, p := range o.Problems {
		msgs = append(msgs, p.Message)
	}
	if len(msgs) == 0 {
		return o.Result
	}
	return strings.Join(msgs, "; ")
}

// importOf reads one import of schema for a status endpoint of an
// asynchronous contract. found is false for an ID that is not an import
// ID, an unknown import, another tenant's, and one of another schema.
func (h *handlers) importOf(ctx context.Context, tenant, id, schema string) (client.Summary, bool, error) {
	if ids.ValidImport(id) != nil {
		return client.Summary{}, false, nil
	}
	v, found, err := h.imp.Wait(ctx, tenant, id, 0)
	if err != nil {
		return v, false, err
	}
	return v, found && ofSchema(v, schema), nil
}

// ofSchema reports whether v is an import of schema name. An import the
// reporter has not seen yet is shown from its lifecycle events; should its
// opened event not be read, its schema is unknown ("") and it is taken to
// match (it is the tenant's, which Wait has checked).
func ofSchema(v client.Summary, name string) bool {
	return v.Schema == name || (v.Schema == "" && v.Status == "processing")
}

func logTenant(t string) zap.Field { return zap.String("tenant", t) }
func logErr(err error) zap.Field   { return zap.Error(err) }
