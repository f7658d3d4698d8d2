// Package client is Intake's Go client. Client publishes imports over NATS,
// without HTTP: it opens an import by request-reply, publishes its rows as
// row chunks straight to JetStream, seals it with the row count and waits
// for the summary. docs/upstream.md describes the protocol; the JSON
// Schemas of its request and reply messages are in schemas/protocol, those
// of the row chunks in schemas/envelope. REST (rest.go) calls the HTTP API
// instead: the intake CLI, the fault harness and the bench use it.
//
// This file holds the protocol's messages and subjects, shared by the client
// and the service that answers it (services/upstream).
package client

import (
	"fmt"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/mapping"
)

// API subjects: intake.api.v1.<tenant>.<operation>. The tenant is a subject
// token so that NATS permissions can confine a tenant to its own subjects.
const (
	APIPrefix = "intake.api.v1"

	OpOpen    = "open"
	OpSeal    = "seal"
	OpSummary = "summary"
)

// APISubject is the request subject of an operation for a tenant.
func APISubject(tenant, op string) string { return fmt.Sprintf("%s.%s.%s", APIPrefix, tenant, op) }

// InboxPrefix is the prefix of a tenant's reply subjects: _INBOX.<tenant>.
// Intake answers a request only on a reply subject under it (or on a
// response subject nats-server made for a service import), never wherever
// a requester points, and NATS permissions keep each tenant to its own.
func InboxPrefix(tenant string) string { return "_INBOX." + tenant }

// Import statuses in a Summary.
const (
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled" // cancelled through the HTTP API
)

// OpenRequest opens an import (on intake.api.v1.<tenant>.open).
type OpenRequest struct {
	// Tenant is the tenant the import belongs to. The client sends the
	// request to this tenant's subject; in the JSON it may be left out, and
	// when present it must equal the subject's tenant.
	Tenant string `json:"tenant,omitempty"`
	// Schema is the entity schema the rows are validated against (default contacts).
	Schema string `json:"schema,omitempty"`
	// Mode is insert, upsert (default), update or replace.
	Mode string `json:"mode,omitempty"`
	// Key is the reconciliation key field (default: the schema's first key).
	Key string `json:"key,omitempty"`
	// DryRun validates and reports the rows but writes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// DateFormat is how every date field's values are written: dmy, mdy,
	// ymd or a Go layout (default: each field's formats, month first).
	DateFormat string `json:"date_format,omitempty"`
	// Source says where the rows come from; shown in the summary (default "nats").
	Source string `json:"source,omitempty"`
	// Header, if given, is checked against the schema at once, so that a header
	// that maps no field fails the open instead of every row.
	Header []string `json:"header,omitempty"`
	// Mapping is the import's own column mapping: column header -> field,
	// or nil to ignore the column (README, "Importing an export from
	// another tool"). With Header, it is checked at once.
	Mapping mapping.Given `json:"mapping,omitempty"`
	// IdempotencyKey makes open safe to retry: the same key (per tenant, for
	// 24 hours) returns the same import, provided the options are the same.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// ImportOptions are an import's options as resolved by open: every row chunk
// of the import must carry them (as the row chunk's options).
type ImportOptions struct {
	Schema string `json:"schema"`
	Mode   string `json:"mode"`
	Key    string `json:"key"`
	DryRun bool   `json:"dry_run,omitempty"`
	// Mapping is the open request's mapping, carried by every row chunk.
	Mapping    mapping.Given `json:"mapping,omitempty"`
	DateFormat string        `json:"date_format,omitempty"`
}

// OpenReply answers an open.
type OpenReply struct {
	ID      string        `json:"id"`
	Tenant  string        `json:"tenant"`
	Options ImportOptions `json:"options"`
	// RowsSubject is where the row chunks go: intake.rows.<tenant>.<id>.
	RowsSubject string `json:"rows_subject"`
	// EventsSubject carries the import's lifecycle events: intake.events.<tenant>.<id>.
	EventsSubject string `json:"events_subject"`
	// RowsMsgIDPrefix starts the Nats-Msg-Id of every row chunk:
	// <rows_msg_id_prefix>:<chunk>. It holds a secret of this import's (the
	// same on every open with the same idempotency key), so no other tenant
	// can publish a message JetStream would take for one of its chunks.
	RowsMsgIDPrefix string `json:"rows_msg_id_prefix"`
	// Existing is true when the idempotency key named an import opened before.
	Existing bool `json:"existing,omitempty"`
}

// SealRequest ends an import's rows (on intake.api.v1.<tenant>.seal).
type SealRequest struct {
	ID string `json:"id"`
	// Total is the number of rows published, all chunks together. Required.
	Total *int `json:"total"`
	// Reason, if set, says why the source ended early; the import then ends
	// failed with it once its rows are accounted for.
	Reason string `json:"reason,omitempty"`
}

// SealReply answers a seal.
type SealReply struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// SummaryRequest asks for an import's summary (on intake.api.v1.<tenant>.summary).
type SummaryRequest struct {
	ID string `json:"id"`
	// ErrorLimit bounds Summary.Errors: 0 means 100; at most 1000.
	ErrorLimit int `json:"error_limit,omitempty"`
	// NoErrors leaves Summary.Errors empty, which is much cheaper for an
	// import with many failed rows: for polling.
	NoErrors bool `json:"no_errors,omitempty"`
}

// Summary is an import's account, as GET /v1/imports/{id} shows it: the one
// read model of an import, served by the HTTP API (services/ingest) and, in
// a SummaryReply, by the NATS protocol (services/upstream). It lives here
// because this library module may not import the services.
type Summary struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Status string `json:"status"`
	Schema string `json:"schema,omitempty"`
	Mode   string `json:"mode,omitempty"`
	Key    string `json:"key,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	Source string `json:"source,omitempty"`
	// ReplayOf is the import whose rows a replay imports again.
	ReplayOf string `json:"replay_of,omitempty"`
	// UndoOf is the import an undo reverses; UndoneBy, on an import, the
	// undo that reversed it. An undo counts per record of the original:
	// Reversed (deleted, restored), Kept (another import changed it since)
	// and Failed.
	UndoOf   string `json:"undo_of,omitempty"`
	UndoneBy string `json:"undone_by,omitempty"`
	Reversed int    `json:"reversed,omitempty"`
	Kept     int    `json:"kept,omitempty"`
	// Total is the rows in the source: final once sealed; before, the rows
	// accounted for so far.
	Total     int `json:"total"`
	Processed int `json:"processed"`
	// Counts are the rows created, updated, skipped and failed so far.
	envelope.Counts
	Deleted         int        `json:"deleted"`
	Errors          []RowError `json:"errors"`
	ErrorsTruncated bool       `json:"errors_truncated,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	Notice          string     `json:"notice,omitempty"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	UpdatedAt       *time.Time `json:"updated_at,omitempty"`
	CompletedAt     *time.Time `json:"completed_at,omitempty"`

	// Mapping is how the columns were mapped to fields: each column, the
	// field it went to and why, and the columns ignored. Omitted when the
	// header was not known when the import was opened.
	Mapping *mapping.Report `json:"mapping,omitempty"`
	// DateFormats is the date_format each date field was read with
	// (dmy, mdy, ymd or a Go layout): given, or inferred from the column.
	DateFormats map[string]string `json:"date_formats,omitempty"`
	// Warnings: what about the whole import a user should know though no
	// row failed of it, e.g. a date column whose order was guessed.
	Warnings []Warning `json:"warnings,omitempty"`
	// Deleting is replace mode's progress while its deletions run (the
	// import stays processing until they are done).
	Deleting *Progress `json:"deleting,omitempty"`
}

// Progress is how far a long piece of work has come: Done of Total.
type Progress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// Warning is a remark about an import as a whole.
type Warning struct {
	Field string `json:"field,omitempty"`
	// Code is the kind of warning: ambiguous_date (a date column's
	// day-month order was guessed, month first).
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SummaryReply answers a summary request: the summary, and whether the seal
// has been applied (the protocol's publishers seal imports themselves, so
// they are told; the HTTP API seals its uploads and does not show it).
type SummaryReply struct {
	Summary
	// Sealed: the seal has been applied, so Total is final.
	Sealed bool `json:"sealed"`
}

// Done reports whether the import has finished.
func (s *Summary) Done() bool { return s.Status != "" && s.Status != StatusProcessing }

// RowError is one problem with one row, as people read it.
type RowError struct {
	Row   int    `json:"row"`
	Field string `json:"field,omitempty"`
	// Code is the kind of problem (validation, duplicate, unchanged,
	// exists, not_found, conflict, database, dead_letter, cancelled,
	// malformed): what programs branch on. Message is for people.
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// ErrorReply is the answer to a request that failed. The reply also carries
// the NATS micro error headers Nats-Service-Error-Code (Code) and
// Nats-Service-Error (Error).
type ErrorReply struct {
	Error string `json:"error"`
	// Code is an HTTP-like status: 400 bad request, 404 unknown import, 409
	// conflict (idempotency key reused with other options, import already
	// sealed with another total), 503 the broker or database is unavailable.
	Code int `json:"code"`
}

// Error codes of ErrorReply.
const (
	CodeBadRequest  = 400
	CodeNotFound    = 404
	CodeConflict    = 409
	CodeUnavailable = 503
)

// Headers of error replies (those of github.com/nats-io/nats.go/micro).
const (
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
)
