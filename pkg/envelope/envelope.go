// Package envelope defines the JSON messages that travel between the
// services. The JSON Schema files in schemas/envelope describe the same
// shapes for upstream publishers; a test keeps the two in step.
package envelope

import (
	"time"

	"github.com/intake/intake/pkg/mapping"
)

// Import modes.
const (
	ModeInsert  = "insert"
	ModeUpsert  = "upsert"
	ModeUpdate  = "update"
	ModeReplace = "replace"
)

// Row results. Every source row ends in exactly one of them.
const (
	Created = "created"
	Updated = "updated"
	Skipped = "skipped"
	Failed  = "failed"
)

// Stages that emit outcomes; also used in Nats-Msg-Id and dead-letter subjects.
const (
	StageIngest   = "ingest"
	StageValidate = "validate"
	StageDedup    = "dedup"
	StageWrite    = "write"
	StageReport   = "report"
)

// Options are chosen once per import and travel with every chunk, so each
// service can work on a chunk without looking anything up.
type Options struct {
	Schema string `json:"schema"`
	Mode   string `json:"mode"`
	Key    string `json:"key,omitempty"` // reconciliation key field; empty means the schema's default
	DryRun bool   `json:"dry_run,omitempty"`
	// EmptyMeansClear: in update and upsert modes an empty cell clears the
	// stored field; by default it leaves the field as it is.
	EmptyMeansClear bool `json:"empty_means_clear,omitempty"`
	// Mapping is the import's own column mapping (column header -> field,
	// null to ignore the column); headers it does not name are matched by
	// the schema's names and the known exports (pkg/mapping). It travels
	// with every chunk, so the validator and a replay map rows alike.
	Mapping mapping.Given `json:"mapping,omitempty"`

	// Dates (see schema.DateEvidence). DateFormat is the import's given
	// date_format (dmy, mdy, ymd or a Go layout) for every date field.
	// DateFormats is what each date field was resolved to when the import
	// opened, from DateFormat or from the evidence across the column, so
	// every chunk, a redelivery and a replay read dates the same way.
	// Warnings say which columns were ambiguous and the order used.
	DateFormat  string            `json:"date_format,omitempty"`
	DateFormats map[string]string `json:"date_formats,omitempty"`
	Warnings    []Warning         `json:"warnings,omitempty"`
}

// Warning is something about a whole import a user should know though no
// row failed of it (e.g. an ambiguous date column).
type Warning struct {
	Field   string `json:"field,omitempty" bson:"field,omitempty"`
	Code    string `json:"code" bson:"code"`
	Message string `json:"message" bson:"message"`
}

// Warning codes.
const (
	WarnAmbiguousDate = "ambiguous_date" // a date column's day-month order was guessed (month first)
)

// RowChunk is a chunk of raw rows on intake.rows.<tenant>.<import>.
type RowChunk struct {
	Tenant  string   `json:"tenant"`
	Import  string   `json:"import"`
	Chunk   int      `json:"chunk"`
	Options Options  `json:"options"`
	Header  []string `json:"header"`
	Rows    []RawRow `json:"rows"`
}

// RawRow is one source row: its 1-based row number as a spreadsheet shows it
// (the header is row 1) and its cells in header order. Error is set when the
// reader could not parse the row; such a row is reported failed.
type RawRow struct {
	Row   int      `json:"row"`
	Cells []string `json:"cells"`
	Error string   `json:"error,omitempty"`
}

// RecordChunk is a chunk of validated records on intake.valid and intake.unique.
type RecordChunk struct {
	Tenant  string   `json:"tenant"`
	Import  string   `json:"import"`
	Chunk   int      `json:"chunk"`
	Options Options  `json:"options"`
	Records []Record `json:"records"`
	// HandlesDeferred marks a chunk on intake.unique of a schema with
	// several key fields that passed the deduplicator without the handle
	// index (every record then had been created under the import's key):
	// its records carry no handles, and if the index has been started
	// since, the writer records the handles of the records it wrote (their
	// key fields' values), which the backfill's scan may have missed.
	HandlesDeferred bool `json:"handles_deferred,omitempty"`
}

// Record is one valid row: normalised fields and its reconciliation key
// ("email:ann@example.com").
type Record struct {
	Row    int            `json:"row"`
	Key    string         `json:"key"`
	Fields map[string]any `json:"fields"`
	Clear  []string       `json:"clear,omitempty"` // fields whose cells were empty, with EmptyMeansClear
	// Handles are every handle of the row when the import matches on any
	// handle (key "handles"), or, for a schema with several key fields, the
	// values of all its key fields, the import key's first: the
	// deduplicator claims them all and sets Key to the record they identify.
	Handles []string `json:"handles,omitempty"`
}

// Accounting kinds on intake.outcomes.
const (
	KindOpened   = "opened"
	KindOutcomes = "outcomes"
	KindSealed   = "sealed"
	// KindExpire asks the reporter to fail the import if it is still
	// processing and has not progressed for the reporter's unsealed-import
	// timeout before At (published by the reporter's own sweep).
	KindExpire = "expire"
	// KindCancel cancels an import: rows not yet written fail, and the
	// import ends cancelled once every row is accounted for.
	KindCancel = "cancel"
	// KindUnreadable says that a message on an import's rows subject could
	// not be read as a row chunk (published by the validator's dead letter):
	// its rows are unknown and can never be counted, so the import fails at
	// once with Reason instead of waiting for rows that will not come.
	KindUnreadable = "unreadable"
)

// Accounting is what the reporter counts from, on intake.outcomes.<tenant>.<import>:
// the import's opening (with its options), outcome chunks from every stage,
// and the seal with the final row count.
type Accounting struct {
	Kind     string    `json:"kind"`
	Tenant   string    `json:"tenant"`
	Import   string    `json:"import"`
	Stage    string    `json:"stage,omitempty"`
	Chunk    int       `json:"chunk,omitempty"`
	Options  *Options  `json:"options,omitempty"`
	Source   string    `json:"source,omitempty"`    // opened: where the rows come from, e.g. the file name
	ReplayOf string    `json:"replay_of,omitempty"` // opened: the import whose raw rows this one replays
	Total    *int      `json:"total,omitempty"`     // sealed: rows in the source
	Reason   string    `json:"reason,omitempty"`    // sealed: why the source ended early (the import then ends failed); unreadable: why the rows could not be read
	Outcomes []Outcome `json:"outcomes,omitempty"`
	At       time.Time `json:"at"`

	// Mapping (opened) is how the import's columns map to fields, when the
	// header was known at the opening; the summary shows it.
	Mapping *mapping.Report `json:"mapping,omitempty"`
}

// Outcome is what happened to one row. Problems say why a row failed (every
// problem found, not just the first) or why it was skipped.
type Outcome struct {
	Row      int       `json:"row" bson:"row"`
	Result   string    `json:"result" bson:"result"`
	Problems []Problem `json:"problems,omitempty" bson:"problems,omitempty"`
}

// Problem is one reason, about one field when Field is set. Code says what
// kind of reason it is, for programs: they branch on it, never on Message,
// which is for people.
type Problem struct {
	Field   string `json:"field,omitempty" bson:"field,omitempty"`
	Code    string `json:"code,omitempty" bson:"code,omitempty"`
	Message string `json:"message" bson:"message"`
}

// Problem codes: why a row failed or was skipped.
const (
	CodeValidation = "validation"  // the row's content breaks the schema's rules
	CodeMalformed  = "malformed"   // the reader could not parse the row (e.g. a broken CSV quote)
	CodeDuplicate  = "duplicate"   // an earlier row of the same file has the same key
	CodeConflict   = "conflict"    // the row's handles belong to different records, or its key's value to several
	CodeUnchanged  = "unchanged"   // the record already has these values
	CodeExists     = "exists"      // insert mode: a record with the key exists
	CodeNotFound   = "not_found"   // update mode: no record with the key
	CodeDatabase   = "database"    // the database refused to store the record
	CodeDeadLetter = "dead_letter" // a stage gave up on the row's chunk after retries
	CodeCancelled  = "cancelled"   // the import was cancelled before the row was written
	CodeChanged    = "changed"     // undo: another import wrote the record after the one undone, so it was kept
)

// Codes lists every problem code, for the JSON Schemas and their tests.
func Codes() []string {
	return []string{CodeValidation, CodeMalformed, CodeDuplicate, CodeConflict, CodeUnchanged, CodeExists,
		CodeNotFound, CodeDatabase, CodeDeadLetter, CodeCancelled, CodeChanged}
}

// FailedRows reports every row of rows as failed for one reason.
func FailedRows(rows []int, code, reason string) []Outcome {
	out := make([]Outcome, len(rows))
	for i, r := range rows {
		out[i] = Outcome{Row: r, Result: Failed, Problems: []Problem{{Code: code, Message: reason}}}
	}
	return out
}

// Event types on intake.events.<tenant>.<import>.
const (
	EventOpened    = "opened"
	EventSealed    = "sealed"
	EventCompleted = "completed"
	EventFailed    = "failed"
	EventCancelled = "cancelled"
)

// Event is a lifecycle event for observers.
type Event struct {
	Type    string    `json:"type"`
	Tenant  string    `json:"tenant"`
	Import  string    `json:"import"`
	Options *Options  `json:"options,omitempty"`
	Total   *int      `json:"total,omitempty"`
	Counts  *Counts   `json:"counts,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Counts are the per-result row counts of an import.
type Counts struct {
	Created int `json:"created" bson:"created"`
	Updated int `json:"updated" bson:"updated"`
	Skipped int `json:"skipped" bson:"skipped"`
	Failed  int `json:"failed" bson:"failed"`
}

// Add counts one outcome.
func (c *Counts) Add(result string) {
	switch result {
	case Created:
		c.Created++
	case Updated:
		c.Updated++
	case Skipped:
		c.Skipped++
	default:
		c.Failed++
	}
}

// Sum is the number of rows counted.
func (c Counts) Sum() int { return c.Created + c.Updated + c.Skipped + c.Failed }

// ValidResult reports whether r is one of the four row results.
func ValidResult(r string) bool {
	return r == Created || r == Updated || r == Skipped || r == Failed
}
