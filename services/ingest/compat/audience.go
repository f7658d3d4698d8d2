package compat

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
)

// Contract 4: POST /vpns/api/v1/audience/import and
// GET /vpns/api/v1/audience/import/{id} (seeds/003, "Import Users").

const audienceSchema = "audience_users"

// The seed's messages, verbatim.
const (
	AudienceAccepted      = "File uploaded successfully, import is in progress."
	AudienceBadFile       = "Please upload a valid CSV file"
	AudienceUnauthorized  = "Unauthorized request"
	AudienceServerFailure = "Server failure to process request"
)

// AudienceAcceptedBody is the 200 body of the upload.
type AudienceAcceptedBody struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// AudienceError is every error body: the seed's message, and what exactly
// was wrong (Intake's addition) in detail.
type AudienceError struct {
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

// audienceModes maps importType to the pipeline's modes.
var audienceModes = map[string]string{
	"insert":  envelope.ModeInsert,
	"upsert":  envelope.ModeUpsert,
	"delsert": envelope.ModeReplace,
}

// audienceDelimiters maps the DELIMITER header to filereader's names.
var audienceDelimiters = map[string]string{
	"COMMA":      "comma",
	"SEMI_COLON": "semicolon",
	"PIPE":       "pipe",
	"HYPHEN":     "hyphen",
}

func audienceAuthError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	switch {
	case status >= 500:
		writeJSON(w, http.StatusInternalServerError, AudienceError{Message: AudienceServerFailure})
	case status == http.StatusUnauthorized:
		writeJSON(w, status, AudienceError{Message: AudienceUnauthorized, Detail: err.Error()})
	case status == http.StatusForbidden:
		writeJSON(w, status, AudienceError{Message: "Forbidden request", Detail: err.Error()})
	default:
		writeJSON(w, status, AudienceError{Message: "Too many requests", Detail: err.Error()})
	}
}

func audienceBadFile(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, AudienceError{Message: AudienceBadFile, Detail: detail})
}

func (h *handlers) audienceImport(w http.ResponseWriter, r *http.Request) {
	tenant := principal(r).Tenant
	var delim string
	if d := strings.TrimSpace(r.Header.Get("DELIMITER")); d != "" {
		var ok bool
		if delim, ok = audienceDelimiters[strings.ToUpper(d)]; !ok {
			audienceBadFile(w, http.StatusBadRequest, "DELIMITER: want COMMA, SEMI_COLON, PIPE or HYPHEN")
			return
		}
	}
	form, rerr := parseForm(w, r, h.cfg.AsyncMaxBytes, 1<<20)
	if rerr != nil {
		audienceBadFile(w, rerr.status, rerr.msg)
		return
	}
	importType := strings.ToLower(formValue(form, "importType"))
	if importType == "" {
		importType = "insert"
	}
	mode, ok := audienceModes[importType]
	if !ok {
		audienceBadFile(w, http.StatusBadRequest, "importType: want insert, upsert or delsert")
		return
	}
	f, fh, rerr := openCSVPart(form, "uploadFile")
	if rerr != nil {
		audienceBadFile(w, rerr.status, rerr.msg)
		return
	}
	defer f.Close()
	sub, err := h.imp.Submit(r.Context(), imports.SubmitRequest{
		Tenant: tenant, Source: fh.Filename, Body: f,
		Options: envelope.Options{Schema: audienceSchema, Mode: mode, Key: formValue(form, "reconciliationKey")},
		File:    filereader.Options{Format: filereader.FormatCSV, Delimiter: delim},
	})
	if err != nil {
		if rerr := h.submitError(err, "audience"); rerr != nil {
			audienceBadFile(w, rerr.badRequestStatus(), rerr.msg)
			return
		}
		writeJSON(w, http.StatusInternalServerError, AudienceError{Message: AudienceServerFailure})
		return
	}
	writeJSON(w, http.StatusOK, AudienceAcceptedBody{ID: sub.ID, Message: AudienceAccepted})
}

// AudienceStatus is the status of one audience import.
type AudienceStatus struct {
	ID                string     `json:"id"`
	Status            string     `json:"status"` // IN_PROGRESS, COMPLETED or FAILED
	Message           string     `json:"message"`
	ImportType        string     `json:"importType"`
	ReconciliationKey string     `json:"reconciliationKey"`
	FileName          string     `json:"fileName,omitempty"`
	TotalRecords      int        `json:"totalRecords"`
	ProcessedRecords  int        `json:"processedRecords"`
	InsertedRecords   int        `json:"insertedRecords"`
	UpdatedRecords    int        `json:"updatedRecords"`
	SkippedRecords    int        `json:"skippedRecords"`
	FailedRecords     int        `json:"failedRecords"`
	DeletedRecords    int        `json:"deletedRecords"`
	Errors            []RowError `json:"errors"`
	ErrorsTruncated   bool       `json:"errorsTruncated,omitempty"`
	CreatedAt         *time.Time `json:"createdAt,omitempty"`
	CompletedAt       *time.Time `json:"completedAt,omitempty"`
}

var audienceKeys = map[string]string{"email": "email", "mobile_number": "mobileNumber"}

func audienceStatusOf(v client.Summary) AudienceStatus {
	s := AudienceStatus{
		ID: v.ID, FileName: v.Source, ReconciliationKey: audienceKeys[v.Key],
		TotalRecords: v.Total, ProcessedRecords: v.Processed, InsertedRecords: v.Created, UpdatedRecords: v.Updated,
		SkippedRecords: v.Skipped, FailedRecords: v.Failed, DeletedRecords: v.Deleted,
		Errors: rowErrors(v.Errors), ErrorsTruncated: v.ErrorsTruncated, CreatedAt: v.CreatedAt, CompletedAt: v.CompletedAt,
	}
	if s.Errors == nil {
		s.Errors = []RowError{}
	}
	for t, m := range audienceModes {
		if m == v.Mode {
			s.ImportType = t
		}
	}
	switch v.Status {
	case "processing":
		s.Status, s.Message = "IN_PROGRESS", AudienceAccepted
	case "completed":
		s.Status, s.Message = "COMPLETED", "Import completed."
		if v.Failed > 0 {
			s.Message = "Import completed; some records failed."
		}
		if v.Notice != "" { // e.g. delsert deleted nothing because rows failed
			s.Message += " " + v.Notice
		}
	default:
		s.Status, s.Message = "FAILED", "Import failed."
		if v.Reason != "" {
			s.Message = "Import failed: " + v.Reason
		}
	}
	return s
}

func (h *handlers) audienceStatus(w http.ResponseWriter, r *http.Request) {
	tenant := principal(r).Tenant
	id := chi.URLParam(r, "id")
	v, found, err := h.importOf(r.Context(), tenant, id, audienceSchema)
	switch {
	case err != nil:
		h.log.Error("read import failed", logTenant(tenant), logErr(err))
		writeJSON(w, http.StatusInternalServerError, AudienceError{Message: AudienceServerFailure})
	case !found:
		writeJSON(w, http.StatusNotFound, AudienceError{Message: "Import not found"})
	default:
		writeJSON(w, http.StatusOK, audienceStatusOf(v))
	}
}
