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

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
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
	mr, ok := a.uploadBody(w, r)
	if !ok {
		return
	}
	var (
		opts                envelope.Options
		dryRun, emptyClears string
		mappingOption       string // a JSON object or @name (imports.ResolveMapping)
		fileOpts            = filereader.Options{TempDir: a.cfg.TempDir}
	)
	// Each option is a query parameter or a form field before the file (the
	// field wins); the flags are parsed once the file comes.
	options := map[string]*string{
		"schema": &opts.Schema, "mode": &opts.Mode, "key": &opts.Key,
		"dry_run": &dryRun, "empty_means_clear": &emptyClears,
		"delimiter": &fileOpts.Delimiter, "sheet": &fileOpts.Sheet, "format": &fileOpts.Format,
		"mapping": &mappingOption, "date_format": &opts.DateFormat,
	}
	part, ok := a.readOptions(w, r, mr, options, cutLongOptions, "no file: send the CSV file in a multipart field named \"file\"")
	if !ok {
		return
	}
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
	a.importFile(w, r, part, opts, mappingOption, fileOpts)
}

// maxMappingBytes bounds a mapping sent with an upload or a preview, or
// saved: a file's every column may be named.
const maxMappingBytes = 64 << 10

// maxOptionBytes bounds every other option field of an upload.
const maxOptionBytes = 1 << 10

// How readOptions treats an option field over its bound (the mapping's is
// refused either way).
const (
	cutLongOptions    = false // cut it, as uploads always did
	refuseLongOptions = true  // refuse it (400), as a preview does
)

// uploadBody reads r's body, up to the tenant's upload limit, as the
// multipart form of an upload or a preview; a body of another kind is
// answered 400 (ok false).
func (a *API) uploadBody(w http.ResponseWriter, r *http.Request) (mr *multipart.Reader, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, a.limitsFor(tenantOf(r)).MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "expected a multipart/form-data body with a file field named \"file\"")
		return nil, false
	}
	return mr, true
}

// readOptions reads an upload's options, each a query parameter or a form
// field before the file (the field wins), into options, and returns the
// file part. ok false: the request was answered (no file, a broken body,
// an option too long).
func (a *API) readOptions(w http.ResponseWriter, r *http.Request, mr *multipart.Reader, options map[string]*string, refuseLong bool, noFile string) (part *multipart.Part, ok bool) {
	q := r.URL.Query()
	for name, to := range options {
		*to = q.Get(name)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, noFile)
			return nil, false
		}
		if err != nil {
			a.bodyError(w, r, err)
			return nil, false
		}
		if to, isOption := options[part.FormName()]; isOption {
			limit := int64(maxOptionBytes)
			if part.FormName() == "mapping" {
				limit = maxMappingBytes
			}
			v, err := io.ReadAll(io.LimitReader(part, limit+1))
			if err != nil {
				a.bodyError(w, r, err)
				return nil, false
			}
			if int64(len(v)) > limit {
				if refuseLong || part.FormName() == "mapping" {
					writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: longer than %d bytes", part.FormName(), limit))
					return nil, false
				}
				v = v[:limit]
			}
			*to = strings.TrimSpace(string(v))
			continue
		}
		if part.FormName() != "file" {
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		return part, true
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

func (a *API) importFile(w http.ResponseWriter, r *http.Request, part *multipart.Part, opts envelope.Options, mappingOption string, fileOpts filereader.Options) {
	res, err := a.Submit(r.Context(), SubmitRequest{Tenant: tenantOf(r), Source: part.FileName(), Body: part, Options: opts, Mapping: mappingOption, File: fileOpts})
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"id":     res.ID,
		"status": "processing",
		"rows":   res.Rows,
		"links": map[string]string{
			"self":        "/v1/imports/" + res.ID,
			"errors":      "/v1/imports/" + res.ID + "/errors",
			"failed_rows": "/v1/imports/" + res.ID + "/failed.csv",
		},
		"mapping": res.Mapping,
	})
}

// SubmitRequest is a file to import for a tenant.
type SubmitRequest = imports.SubmitRequest

// Submitted is an accepted import: every row is stored in JetStream.
type Submitted = imports.Submitted

// RequestError is a request that cannot be imported, with the HTTP status
// that says why (imports.RequestError).
type RequestError = imports.RequestError

// Submit reads a file, checks its options and header, and publishes its rows
// as a new import (imports.Service.Submit). Protocol adapters call it as
// the HTTP upload does.
func (a *API) Submit(ctx context.Context, req SubmitRequest) (Submitted, error) {
	return a.imports.Submit(ctx, req)
}

// CheckConcurrency refuses (429, a *RequestError) a new import of a tenant
// at its limit of imports at once (imports.Service.CheckConcurrency).
func (a *API) CheckConcurrency(ctx context.Context, tenant string) error {
	return a.imports.CheckConcurrency(ctx, tenant)
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
