package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/subjects"
)

// createImport handles POST /v1/imports: multipart with optional fields
// schema, mode and key (as form fields before the file part, or as query
// parameters) and the file part "file". The file is streamed: rows are
// published in chunks while the body is still arriving, and the answer
// (202) comes once every row is stored by JetStream.
func (a *API) createImport(w http.ResponseWriter, r *http.Request) {
	// A tenant at its limit of imports at once is answered before the body
	// is read: its upload would be refused after being parsed.
	if err := a.CheckConcurrency(r.Context(), tenantOf(r)); err != nil {
		// Closing the connection spares the server reading the body it
		// would otherwise drain before answering.
		w.Header().Set("Connection", "close")
		writeRequestError(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.limitsFor(tenantOf(r)).MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "expected a multipart/form-data body with a file field named \"file\"")
		return
	}
	q := r.URL.Query()
	opts := envelope.Options{Schema: q.Get("schema"), Mode: q.Get("mode"), Key: q.Get("key")}
	dryRun, emptyClears := q.Get("dry_run"), q.Get("empty_means_clear")
	fileOpts := filereader.Options{Delimiter: q.Get("delimiter"), Sheet: q.Get("sheet"), Format: q.Get("format"), TempDir: a.cfg.TempDir}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "no file: send the CSV file in a multipart field named \"file\"")
			return
		}
		if err != nil {
			a.bodyError(w, r, err)
			return
		}
		switch part.FormName() {
		case "schema", "mode", "key", "dry_run", "empty_means_clear", "delimiter", "sheet", "format":
			v, err := io.ReadAll(io.LimitReader(part, 1<<10))
			if err != nil {
				a.bodyError(w, r, err)
				return
			}
			val := strings.TrimSpace(string(v))
			switch part.FormName() {
			case "schema":
				opts.Schema = val
			case "mode":
				opts.Mode = val
			case "key":
				opts.Key = val
			case "dry_run":
				dryRun = val
			case "empty_means_clear":
				emptyClears = val
			case "delimiter":
				fileOpts.Delimiter = val
			case "sheet":
				fileOpts.Sheet = val
			case "format":
				fileOpts.Format = val
			}
		case "file":
			for name, flag := range map[string]struct {
				val string
				to  *bool
			}{"dry_run": {dryRun, &opts.DryRun}, "empty_means_clear": {emptyClears, &opts.EmptyMeansClear}} {
				if flag.val == "" {
					continue
				}
				b, err := strconv.ParseBool(flag.val)
				if err != nil {
					writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %q is not true or false", name, flag.val))
					return
				}
				*flag.to = b
			}
			a.importFile(w, r, part, opts, fileOpts)
			return
		default:
			_, _ = io.Copy(io.Discard, part)
		}
	}
}

func (a *API) bodyError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		// The multipart reader may report the cut-off as a malformed part;
		// MaxBytesReader's error is sticky, so ask the body once more.
		if _, berr := r.Body.Read(make([]byte, 1)); errors.As(berr, &mbe) {
			err = berr
		}
	}
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than the limit of %d bytes", mbe.Limit))
	case errors.Is(err, ErrBodyIdle):
		writeError(w, http.StatusRequestTimeout, "the upload stalled: no data arrived for 30 seconds")
	default:
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
	}
}

// checkOptions fills defaults and checks options against the tenant's
// schemas (catalog.CheckOptions), returning the import's schema; invalid
// options are a 400 RequestError.
func (a *API) checkOptions(ctx context.Context, tenant string, opts *envelope.Options) (*schema.Schema, error) {
	s, err := a.d.Schemas.CheckOptions(ctx, tenant, opts)
	var inv *catalog.InvalidOptionsError
	if errors.As(err, &inv) {
		return nil, reqErr(http.StatusBadRequest, inv.Error())
	}
	return s, err
}

func (a *API) importFile(w http.ResponseWriter, r *http.Request, part *multipart.Part, opts envelope.Options, fileOpts filereader.Options) {
	res, err := a.Submit(r.Context(), SubmitRequest{Tenant: tenantOf(r), Source: part.FileName(), Body: part, Options: opts, File: fileOpts})
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"id":     res.ID,
		"status": "processing",
		"rows":   res.Rows,
		"links": map[string]string{
			"self":   "/v1/imports/" + res.ID,
			"errors": "/v1/imports/" + res.ID + "/errors",
		},
	})
}

// writeRequestError answers an error of Submit (or of a check before it).
func writeRequestError(w http.ResponseWriter, err error) {
	var re *RequestError
	if errors.As(err, &re) {
		if re.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(re.RetryAfter.Seconds())))
		}
		writeJSON(w, re.Status, errorBody{Error: re.Message, Import: re.ImportID})
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// SubmitRequest is a file to import for a tenant.
type SubmitRequest struct {
	Tenant string
	Source string // file name, shown in the summary
	Body   io.Reader
	// Rows, when set, is the file already opened (Body is not read): an
	// adapter that must look at the rows before importing them reads the
	// file once.
	Rows    filereader.Reader
	Options envelope.Options
	File    filereader.Options
	MaxRows int // 0: the server's limit
}

// Submitted is an accepted import: every row is stored in JetStream.
type Submitted struct {
	ID   string
	Rows int
}

// RequestError is a request that cannot be imported, with the HTTP status
// that says why. ImportID is set when an import was started (and ends
// failed, with its rows accounted for), e.g. over the row limit.
type RequestError struct {
	Status     int
	Message    string
	ImportID   string
	RetryAfter time.Duration // with 429
}

func (e *RequestError) Error() string { return e.Message }

func reqErr(status int, msg string) error { return &RequestError{Status: status, Message: msg} }

// Submit reads a file, checks its options and header, and publishes its rows
// as a new import. It returns once JetStream stored every row. Protocol
// adapters call it as the HTTP upload does.
func (a *API) Submit(ctx context.Context, req SubmitRequest) (Submitted, error) {
	opts := req.Options
	s, err := a.checkOptions(ctx, req.Tenant, &opts)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return Submitted{}, err
		}
		return Submitted{}, reqErr(http.StatusServiceUnavailable, "cannot read the schemas: "+err.Error())
	}
	// Before the file is parsed: a refused upload costs no parsing.
	if err := a.CheckConcurrency(ctx, req.Tenant); err != nil {
		return Submitted{}, err
	}
	rd := req.Rows
	if rd == nil {
		if req.File.TempDir == "" {
			req.File.TempDir = a.cfg.TempDir
		}
		opened, cleanup, err := filereader.Open(req.Body, req.File)
		defer func() { _ = cleanup() }()
		if err != nil {
			status, msg := fileErrorStatus(err)
			return Submitted{}, reqErr(status, msg)
		}
		rd = opened
	}
	if _, err := s.MapHeader(rd.Header()); err != nil {
		return Submitted{}, reqErr(http.StatusBadRequest, "header: "+err.Error())
	}
	lim := a.limitsFor(req.Tenant)
	maxRows := lim.MaxRows
	if req.MaxRows > 0 {
		maxRows = req.MaxRows
	}

	id := ids.NewImport()
	log := a.log.With(zap.String("import_id", id), zap.String("tenant", req.Tenant))
	res, err := a.publishImport(ctx, req.Tenant, id, req.Source, opts, rd, maxRows)
	if err != nil {
		// The broker did not store everything: the client must retry. Rows
		// already stored belong to an import that is never sealed.
		log.Error("upload failed", zap.Error(err))
		return Submitted{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "the rows could not be stored; retry the upload: " + err.Error(), ImportID: id}
	}
	if a.d.Metrics != nil {
		a.d.Metrics.ImportsStarted.Inc()
		a.d.Metrics.RowsIngested.Add(float64(res.rows))
	}
	log.Info("upload stored", zap.Int("rows", res.rows), zap.String("source", req.Source), zap.String("schema", opts.Schema), zap.String("mode", opts.Mode))
	if res.readErr != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		switch {
		case errors.As(res.readErr, &mbe):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(res.readErr, errTooManyRows):
			status = http.StatusUnprocessableEntity
		}
		return Submitted{ID: id, Rows: res.rows}, &RequestError{Status: status, Message: res.reason, ImportID: id}
	}
	return Submitted{ID: id, Rows: res.rows}, nil
}

var errTooManyRows = errors.New("too many rows")

// CheckConcurrency refuses (429, a *RequestError) a new import of a tenant
// that has as many imports processing as its limit allows; Submit checks
// it before parsing, and adapters that read a file before submitting it
// check it first. A soft limit: two uploads at the same moment may both
// pass.
func (a *API) CheckConcurrency(ctx context.Context, tenant string) error {
	lim := a.limitsFor(tenant)
	if lim.MaxConcurrentImports <= 0 {
		return nil
	}
	n, err := a.d.Store.CountProcessing(ctx, tenant)
	if err != nil {
		return reqErr(http.StatusServiceUnavailable, "cannot count the imports in progress: "+err.Error())
	}
	if n >= lim.MaxConcurrentImports {
		return &RequestError{Status: http.StatusTooManyRequests, RetryAfter: 10 * time.Second,
			Message: fmt.Sprintf("%d imports are processing, the most this tenant may run at once; try again when one finishes", n)}
	}
	return nil
}

const (
	maxChunkBytes      = 1 << 20 // raw cell bytes per chunk
	maxRowMessageBytes = 1 << 20 // raw cell bytes of one row
)

func rowBytes(r envelope.RawRow) int {
	n := len(r.Error)
	for _, c := range r.Cells {
		n += len(c) + 3
	}
	return n
}

// fileErrorStatus maps a file that cannot be read to an HTTP status and message.
func fileErrorStatus(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than the limit of %d bytes", mbe.Limit)
	case errors.Is(err, filereader.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, filereader.ErrEmpty), errors.Is(err, filereader.ErrUnsupportedFormat), errors.Is(err, filereader.ErrHeaderTooLong),
		errors.Is(err, filereader.ErrTooManyColumns), errors.Is(err, filereader.ErrCorrupt),
		errors.Is(err, filereader.ErrSheetNotFound), errors.Is(err, filereader.ErrInvalidOption):
		return http.StatusBadRequest, err.Error()
	default:
		return http.StatusBadRequest, "cannot read the file: " + err.Error()
	}
}

type published struct {
	rows    int
	readErr error  // the file could not be read to the end
	reason  string // readErr for people; the import ends failed with it
}

// publishImport opens the import, publishes its rows in chunks and seals it
// with the row count. A read error part-way seals the rows read so far with
// a reason, so the import still ends, failed, with every row accounted for.
func (a *API) publishImport(ctx context.Context, tenant, id, source string, opts envelope.Options, rd filereader.Reader, maxRows int) (published, error) {
	pub := newWindow(a.d.JS, 64)
	if err := pub.open(ctx, envelope.Accounting{Tenant: tenant, Import: id, Options: &opts, Source: source}); err != nil {
		return published{}, err
	}
	var (
		res   published
		chunk = envelope.RowChunk{Tenant: tenant, Import: id, Options: opts, Header: rd.Header()}
		seq   int
		// raw bytes of the rows in chunk: chunks are also cut by size, so an
		// encoded chunk stays under the broker's message size (8 MiB; JSON
		// may escape a byte into six)
		chunkBytes int
		rowsPrefix = subjects.RowsPrefix(tenant, id, ids.NewSecret())
	)
	flush := func() error {
		if len(chunk.Rows) == 0 {
			return nil
		}
		chunk.Chunk = seq
		if err := pub.json(ctx, subjects.For(subjects.Rows, tenant, id), subjects.RowsMsgID(rowsPrefix, seq), chunk); err != nil {
			return err
		}
		seq++
		chunk.Rows = make([]envelope.RawRow, 0, a.cfg.ChunkSize)
		chunkBytes = 0
		return nil
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.readErr, res.reason = err, "the file could not be read to the end: "+err.Error()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				res.reason = fmt.Sprintf("the upload is larger than the limit of %d bytes; the %d rows before the limit were imported", mbe.Limit, res.rows)
			}
			break
		}
		if res.rows >= maxRows {
			res.readErr = errTooManyRows
			res.reason = fmt.Sprintf("the file has more than %d rows, the limit per import; the first %d rows were imported", maxRows, maxRows)
			break
		}
		res.rows++
		raw := envelope.RawRow{Row: row.Number, Cells: row.Cells}
		if row.Err != nil {
			raw.Error = row.Err.Error()
		}
		size := rowBytes(raw)
		if size > maxRowMessageBytes {
			// Encoded, it could pass the broker's message size on its own.
			raw = envelope.RawRow{Row: row.Number, Error: fmt.Sprintf("the row is larger than %d bytes, the most one row may have", maxRowMessageBytes)}
			size = 0
		}
		if chunkBytes+size > maxChunkBytes {
			if err := flush(); err != nil {
				return res, err
			}
		}
		chunk.Rows = append(chunk.Rows, raw)
		chunkBytes += size
		if len(chunk.Rows) >= a.cfg.ChunkSize {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	return res, pub.seal(ctx, tenant, id, res.rows, res.reason)
}

// window publishes asynchronously in bursts of at most n messages and waits
// for each burst to be stored, so a fast upload cannot outrun the broker in
// memory.
type window struct {
	js      jetstream.JetStream
	n       int
	pending []*nats.Msg
}

func newWindow(js jetstream.JetStream, n int) *window { return &window{js: js, n: n} }

func (p *window) json(ctx context.Context, subject, msgID string, v any) error {
	o, err := platform.JSONOutput(subject, msgID, v)
	if err != nil {
		return err
	}
	return p.add(ctx, []runner.Output{o})
}

// add queues outputs, publishing the burst once it is full.
func (p *window) add(ctx context.Context, outs []runner.Output) error {
	p.pending = append(p.pending, runner.Msgs(outs)...)
	if len(p.pending) >= p.n {
		return p.wait(ctx)
	}
	return nil
}

func (p *window) wait(ctx context.Context) error {
	defer func() { p.pending = p.pending[:0] }()
	return runner.PublishAll(ctx, p.js, p.pending, 30*time.Second)
}

// open announces a new import (platform.OpenedOutputs).
func (p *window) open(ctx context.Context, acc envelope.Accounting) error {
	outs, err := platform.OpenedOutputs(acc)
	if err != nil {
		return err
	}
	return p.add(ctx, outs)
}

// seal ends an import's rows with their count (and why they ended early,
// if they did), then waits until everything published is stored.
func (p *window) seal(ctx context.Context, tenant, id string, total int, reason string) error {
	outs, err := platform.SealedOutputs(tenant, id, total, reason)
	if err != nil {
		return err
	}
	if err := p.add(ctx, outs); err != nil {
		return err
	}
	return p.wait(ctx)
}
