package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/subjects"
)

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
	// Mapping is the mapping option as given: a JSON object of column
	// header to field (or null), or @name of a saved mapping; it sets
	// Options.Mapping. "" leaves Options.Mapping as it is.
	Mapping string
	File    filereader.Options
	MaxRows int // 0: the server's limit
}

// Submitted is an accepted import: every row is stored in JetStream.
type Submitted struct {
	ID   string
	Rows int
	// Mapping is how the file's columns were mapped to fields.
	Mapping *mapping.Report
}

// RequestError is a request that cannot be imported, with the HTTP status
// that says why: the machine-readable code every way in maps its answer
// from (the NATS protocol's codes are HTTP-like too). ImportID is set when an import was started (and ends
// failed, with its rows accounted for), e.g. over the row limit.
type RequestError struct {
	Status     int
	Message    string
	ImportID   string
	RetryAfter time.Duration // with 429
}

func (e *RequestError) Error() string { return e.Message }

// reqErr is a RequestError without an import.
func reqErr(status int, msg string) error { return &RequestError{Status: status, Message: msg} }

// checkOptions fills defaults and checks options against the tenant's
// schemas (catalog.CheckOptions), returning the import's schema; invalid
// options are a 400 RequestError.
func (s *Service) checkOptions(ctx context.Context, tenant string, opts *envelope.Options) (*schema.Schema, error) {
	sch, err := s.schemas.CheckOptions(ctx, tenant, opts)
	var inv *catalog.InvalidOptionsError
	if errors.As(err, &inv) {
		return nil, reqErr(http.StatusBadRequest, inv.Error())
	}
	return sch, err
}

// checkNewOptions is checkOptions for a new import, whose caller answers
// every error: schemas that cannot be read are a 503 RequestError.
func (s *Service) checkNewOptions(ctx context.Context, tenant string, opts *envelope.Options) (*schema.Schema, error) {
	sch, err := s.checkOptions(ctx, tenant, opts)
	var re *RequestError
	if err != nil && !errors.As(err, &re) {
		return nil, reqErr(http.StatusServiceUnavailable, "cannot read the schemas: "+err.Error())
	}
	return sch, err
}

// Submit reads a file, checks its options and header, and publishes its rows
// as a new import. It returns once JetStream stored every row. Protocol
// adapters call it as the HTTP upload does.
func (s *Service) Submit(ctx context.Context, req SubmitRequest) (Submitted, error) {
	opts := req.Options
	if req.Mapping != "" {
		given, err := s.ResolveMapping(ctx, req.Tenant, req.Mapping)
		if err != nil {
			return Submitted{}, err
		}
		opts.Mapping = given // resolved: a saved mapping's columns, not its name
	}
	sch, err := s.checkNewOptions(ctx, req.Tenant, &opts)
	if err != nil {
		return Submitted{}, err
	}
	// Before the file is parsed: a refused upload costs no parsing.
	if err := s.CheckConcurrency(ctx, req.Tenant); err != nil {
		return Submitted{}, err
	}
	rd := req.Rows
	if rd == nil {
		if req.File.TempDir == "" {
			req.File.TempDir = s.cfg.TempDir
		}
		if req.File.JSONFields == nil {
			req.File.JSONFields = jsonFields(sch)
		}
		opened, cleanup, err := filereader.Open(req.Body, req.File)
		defer func() { _ = cleanup() }()
		if err != nil {
			status, msg := fileErrorStatus(err)
			return Submitted{}, reqErr(status, msg)
		}
		rd = opened
	}
	plan, err := PlanImport(sch, rd.Header(), opts)
	if err != nil {
		return Submitted{}, err
	}
	rd = s.decideDates(sch, &opts, rd, plan)
	report := plan.Report()
	lim := s.cfg.Limits(req.Tenant)
	maxRows := lim.MaxRows
	if req.MaxRows > 0 {
		maxRows = req.MaxRows
	}

	id := partitions.NewImport(ctx, s.js, req.Tenant)
	log := s.log.With(zap.String("import_id", id), zap.String("tenant", req.Tenant))
	res, err := s.publishImport(ctx, req.Tenant, id, req.Source, opts, &report, rd, maxRows)
	if err != nil {
		// The broker did not store everything: the client must retry. Rows
		// already stored belong to an import that is never sealed.
		log.Error("upload failed", zap.Error(err))
		return Submitted{}, &RequestError{Status: http.StatusServiceUnavailable, Message: "the rows could not be stored; retry the upload: " + err.Error(), ImportID: id}
	}
	if s.metrics != nil {
		s.metrics.ImportsStarted.Inc()
		s.metrics.RowsIngested.Add(float64(res.rows))
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
		return Submitted{ID: id, Rows: res.rows, Mapping: &report}, &RequestError{Status: status, Message: res.reason, ImportID: id}
	}
	return Submitted{ID: id, Rows: res.rows, Mapping: &report}, nil
}

var errTooManyRows = errors.New("too many rows")

// CheckConcurrency refuses (429, a *RequestError) a new import of a tenant
// that has as many imports processing as its limit allows; Submit checks
// it before parsing, and adapters that read a file before submitting it
// check it first. A soft limit: two uploads at the same moment may both
// pass.
func (s *Service) CheckConcurrency(ctx context.Context, tenant string) error {
	lim := s.cfg.Limits(tenant)
	if lim.MaxConcurrentImports <= 0 {
		return nil
	}
	n, err := s.store.CountProcessing(ctx, tenant)
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
func (s *Service) publishImport(ctx context.Context, tenant, id, source string, opts envelope.Options, report *mapping.Report, rd filereader.Reader, maxRows int) (published, error) {
	pub := newWindow(s.js, 64)
	if err := pub.open(ctx, envelope.Accounting{Tenant: tenant, Import: id, Options: &opts, Source: source, Mapping: report}); err != nil {
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
		chunk.Rows = make([]envelope.RawRow, 0, s.cfg.ChunkSize)
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
		if len(chunk.Rows) >= s.cfg.ChunkSize {
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
