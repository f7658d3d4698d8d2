package compat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
)

// Contract 5: POST /phonebook/import/ (seeds/004).

const phonebookSchema = "phonebook_contacts"

// PhonebookResult is the contract's 200 body.
type PhonebookResult struct {
	Message       string   `json:"message"`
	TotalRows     int      `json:"total_rows"`
	ImportedRows  int      `json:"imported_rows"`
	FailedRows    int      `json:"failed_rows"`
	SkippedRows   int      `json:"skipped_rows"`
	ErrorMessages []string `json:"error_messages"`
}

// PhonebookBadRequest is the contract's 400 body.
type PhonebookBadRequest struct {
	Message string `json:"message"`
	Error   string `json:"error"`
}

// PhonebookAuthFailure is the contract's 401 and 403 body.
type PhonebookAuthFailure struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// MaxPhonebookMessages bounds error_messages; the last one then says how
// many more there were.
const MaxPhonebookMessages = 1000

func phonebookAuthError(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	// The contract's messages, verbatim; nothing about the credential.
	msg := map[int]string{
		http.StatusUnauthorized:    "authorization required",
		http.StatusForbidden:       "forbidden: missing capability",
		http.StatusTooManyRequests: "too many failed authentication attempts",
	}[status]
	if msg == "" {
		msg = "authentication unavailable"
	}
	writeJSON(w, status, PhonebookAuthFailure{Code: status, Message: msg})
}

// PhonebookTenant is the tenant holding one user's phonebook: the
// principal's tenant (cut to 43 characters), "_", and 20 hex characters of
// SHA-256(tenant, NUL, sub). The hash covers the whole tenant and subject,
// so two users (of one tenant or of two) never share a phonebook, whatever
// characters their tenant and sub hold; the prefix keeps it readable.
func PhonebookTenant(p auth.Principal) string {
	sum := sha256.Sum256([]byte(p.Tenant + "\x00" + p.Subject))
	prefix := p.Tenant
	if len(prefix) > 43 {
		prefix = prefix[:43]
	}
	return prefix + "_" + hex.EncodeToString(sum[:])[:20]
}

func (h *handlers) phonebook(w http.ResponseWriter, r *http.Request) {
	const contract = "phonebook"
	tenant := PhonebookTenant(principal(r))
	form, rerr := parseForm(w, r, h.cfg.SyncMaxBytes, h.cfg.SyncMaxBytes)
	if rerr != nil {
		msg := "invalid CSV"
		switch rerr.kind {
		case "missing":
			msg = "missing file"
		case "too_large":
			msg = "file too large"
		}
		writeJSON(w, rerr.status, PhonebookBadRequest{Message: msg, Error: rerr.msg})
		return
	}
	// The documented body is a file part named file; the document's own
	// example sends file=<name> as a plain field and the CSV text in
	// csv_content. A file part wins.
	var (
		data   []byte
		source string
	)
	if fh, ok := formFile(form, "file"); ok {
		if data, rerr = readAll(fh); rerr != nil {
			writeJSON(w, http.StatusBadRequest, PhonebookBadRequest{Message: "invalid CSV", Error: rerr.msg})
			return
		}
		source = fh.Filename
	} else if v := form.Value["csv_content"]; len(v) > 0 && strings.TrimSpace(v[0]) != "" {
		data, source = []byte(v[0]), formValue(form, "file")
		if source == "" {
			source = "csv_content"
		}
	} else {
		writeJSON(w, http.StatusBadRequest, PhonebookBadRequest{Message: "missing file",
			Error: "send the CSV in a multipart file field named \"file\" (or its text in a form field named \"csv_content\")"})
		return
	}
	sub, err := h.imp.Submit(r.Context(), imports.SubmitRequest{
		Tenant: tenant, Source: source, Body: bytes.NewReader(data),
		Options: envelope.Options{Schema: phonebookSchema, Mode: envelope.ModeUpsert},
		File:    filereader.Options{Format: filereader.FormatCSV},
	})
	if err != nil {
		if rerr := h.submitError(err, contract); rerr != nil {
			writeJSON(w, rerr.badRequestStatus(), PhonebookBadRequest{Message: "invalid CSV", Error: rerr.msg})
			return
		}
		writeJSON(w, http.StatusInternalServerError, PhonebookBadRequest{Message: "server error", Error: "the import could not be started; try again"})
		return
	}
	v, err := h.finish(r.Context(), tenant, sub.ID, contract)
	if err != nil {
		var sp stillProcessing
		if asStill(err, &sp) {
			writeJSON(w, http.StatusGatewayTimeout, PhonebookBadRequest{Message: "import still processing", Error: sp.Error()})
			return
		}
		writeJSON(w, http.StatusInternalServerError, PhonebookBadRequest{Message: "server error", Error: "the import's summary could not be read; try again"})
		return
	}
	failed, err := h.problems(r.Context(), tenant, sub.ID, envelope.Failed, v.Failed, contract)
	if err == nil {
		var skipped []envelope.Outcome
		skipped, err = h.problems(r.Context(), tenant, sub.ID, envelope.Skipped, v.Skipped, contract)
		failed = append(failed, skipped...)
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, PhonebookBadRequest{Message: "server error", Error: "the import finished but its row errors could not be read"})
		return
	}
	// imported: created, updated or already as in the file (unchanged);
	// failed: the server could not process the row; skipped: every other
	// row, i.e. rows with validation errors and duplicates of earlier rows.
	out := PhonebookResult{Message: "phonebook import completed", TotalRows: v.Total, ImportedRows: v.Created + v.Updated, ErrorMessages: []string{}}
	sort.SliceStable(failed, func(i, j int) bool { return failed[i].Row < failed[j].Row })
	more := 0
	for _, o := range failed {
		switch {
		case unchanged(o):
			out.ImportedRows++
			continue
		case processingFailure(o):
			out.FailedRows++
		default:
			out.SkippedRows++
		}
		for _, p := range o.Problems {
			if len(out.ErrorMessages) < MaxPhonebookMessages-1 {
				out.ErrorMessages = append(out.ErrorMessages, fmt.Sprintf("row %d: %s", o.Row, p.Message))
			} else {
				more++
			}
		}
	}
	if more > 0 {
		out.ErrorMessages = append(out.ErrorMessages, fmt.Sprintf("... and %d more", more))
	}
	writeJSON(w, http.StatusOK, out)
}
