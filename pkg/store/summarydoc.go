package store

import (
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/mapping"
)

// summaryDoc is an import's summary as stored in the imports collection.
// What people read with mongosh is at the top level under the API's names
// (schema, mode, dry_run, created, failed, ...); the reporter's bookkeeping,
// bitsets included, is kept apart under _accounting.
type summaryDoc struct {
	ID              string             `bson:"_id"`
	Tenant          string             `bson:"tenant"`
	Status          string             `bson:"status"`
	Schema          string             `bson:"schema"`
	Mode            string             `bson:"mode"`
	Key             string             `bson:"key,omitempty"`
	DryRun          bool               `bson:"dry_run"`
	EmptyMeansClear bool               `bson:"empty_means_clear,omitempty"`
	DateFormat      string             `bson:"date_format,omitempty"`
	DateFormats     map[string]string  `bson:"date_formats,omitempty"`
	Warnings        []envelope.Warning `bson:"warnings,omitempty"`
	Source          string             `bson:"source,omitempty"`
	ReplayOf        string             `bson:"replay_of,omitempty"`
	UndoOf          string             `bson:"undo_of,omitempty"`
	UndoneBy        string             `bson:"undone_by,omitempty"`
	Reversed        int                `bson:"reversed,omitempty"`
	Kept            int                `bson:"kept,omitempty"`
	Sealed          bool               `bson:"sealed"`
	Total           int                `bson:"total"`
	Created         int                `bson:"created"`
	Updated         int                `bson:"updated"`
	Skipped         int                `bson:"skipped"`
	Failed          int                `bson:"failed"`
	Deleted         int                `bson:"deleted"`
	Reason          string             `bson:"reason,omitempty"`
	Notice          string             `bson:"notice,omitempty"`
	Cancelled       bool               `bson:"cancelled,omitempty"`
	DeadRows        int                `bson:"dead_rows,omitempty"`
	DeadReason      string             `bson:"dead_reason,omitempty"`
	CreatedAt       time.Time          `bson:"created_at"`
	UpdatedAt       time.Time          `bson:"updated_at"`
	CompletedAt     *time.Time         `bson:"completed_at,omitempty"`
	NotesRemoved    bool               `bson:"notes_removed,omitempty"` // by the retention (notesRemovedField)

	// Mapping is how the columns were mapped, and the import's own
	// mapping (an option, kept for a replay).
	Mapping *summaryMappingDoc `bson:"mapping,omitempty"`

	Accounting *accountingDoc `bson:"_accounting,omitempty"`

	Legacy legacySummaryFields `bson:",inline"`
}

// summaryMappingDoc is a summary's mapping.Report, plus the import's given
// mapping (envelope.Options.Mapping).
type summaryMappingDoc struct {
	Export  string            `bson:"export,omitempty"`
	Columns []mappedColumnDoc `bson:"columns"` // nil: the columns were not known at the opening
	Ignored []string          `bson:"ignored"`
	Given   []givenColumnDoc  `bson:"given,omitempty"`
}

type mappedColumnDoc struct {
	Column string `bson:"column"`
	Field  string `bson:"field,omitempty"`
	Reason string `bson:"reason"`
	Export string `bson:"export,omitempty"`
	Note   string `bson:"note,omitempty"`
}

func summaryMappingDocOf(s *ledger.Summary) *summaryMappingDoc {
	if s.Mapping == nil && len(s.Options.Mapping) == 0 {
		return nil
	}
	d := &summaryMappingDoc{}
	if len(s.Options.Mapping) > 0 {
		d.Given = givenDocs(s.Options.Mapping)
	}
	if r := s.Mapping; r != nil {
		d.Export, d.Ignored = r.Export, r.Ignored
		d.Columns = make([]mappedColumnDoc, len(r.Columns))
		for i, c := range r.Columns {
			d.Columns[i] = mappedColumnDoc{Column: c.Column, Field: c.Field, Reason: c.Reason, Export: c.Export, Note: c.Note}
		}
	}
	return d
}

// apply sets the summary's mapping and its options' mapping.
func (d *summaryMappingDoc) apply(s *ledger.Summary) {
	if d == nil {
		return
	}
	s.Options.Mapping = givenOf(d.Given)
	if d.Columns == nil {
		return
	}
	r := &mapping.Report{Export: d.Export, Columns: make([]mapping.Column, len(d.Columns)), Ignored: d.Ignored}
	if r.Ignored == nil {
		r.Ignored = []string{}
	}
	for i, c := range d.Columns {
		r.Columns[i] = mapping.Column{Column: c.Column, Field: c.Field, Reason: c.Reason, Export: c.Export, Note: c.Note}
	}
	s.Mapping = r
}

// accountingDoc is the reporter's bookkeeping of a summary.
type accountingDoc struct {
	LastSeq    uint64            `bson:"last_seq"`
	Applied    map[string][]byte `bson:"applied"`
	Noted      map[string][]byte `bson:"noted,omitempty"`
	RowDocs    []string          `bson:"row_docs,omitempty"`
	DeletePlan *deletePlanDoc    `bson:"delete_plan,omitempty"`
}

type deletePlanDoc struct {
	Docs  int `bson:"docs"`  // import_deletions documents <import>:<n>
	Count int `bson:"count"` // records in the plan
	Done  int `bson:"done"`  // records the deletion job has dealt with
}

// legacySummaryFields are how summaries were stored before the read model's
// names and _accounting: read, so that an import stored by an earlier
// version reads the same, and never written (the next save stores the
// current shape).
type legacySummaryFields struct {
	Options *legacyOptions   `bson:"options,omitempty"`
	Counts  *envelope.Counts `bson:"counts,omitempty"`
	// Accounting is the bookkeeping, then at the top level under the same
	// names; nil (and not written) unless read from such a summary.
	Accounting *accountingDoc `bson:",inline"`
}

// legacyOptions are envelope.Options as the driver named them by default.
type legacyOptions struct {
	Schema          string `bson:"schema"`
	Mode            string `bson:"mode"`
	Key             string `bson:"key,omitempty"`
	DryRun          bool   `bson:"dryrun,omitempty"`
	EmptyMeansClear bool   `bson:"emptymeansclear,omitempty"`
}

// projectNoAccounting leaves the bookkeeping out of a summary read for a list.
var projectNoAccounting = []string{"_accounting", "applied", "noted", "row_docs"}

func summaryDocOf(s *ledger.Summary) summaryDoc {
	d := summaryDoc{
		ID: s.ID, Tenant: s.Tenant, Status: s.Status,
		Schema: s.Options.Schema, Mode: s.Options.Mode, Key: s.Options.Key,
		DryRun: s.Options.DryRun, EmptyMeansClear: s.Options.EmptyMeansClear,
		DateFormat: s.Options.DateFormat, DateFormats: s.Options.DateFormats, Warnings: s.Options.Warnings,
		Source: s.Source, ReplayOf: s.ReplayOf, Sealed: s.Sealed, Total: s.Total,
		UndoOf: s.UndoOf, UndoneBy: s.UndoneBy, Reversed: s.Reversed, Kept: s.Kept,
		Created: s.Counts.Created, Updated: s.Counts.Updated, Skipped: s.Counts.Skipped, Failed: s.Counts.Failed,
		Deleted: s.Deleted, Reason: s.Reason, Notice: s.Notice, Cancelled: s.Cancelled,
		DeadRows: s.DeadRows, DeadReason: s.DeadReason,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, CompletedAt: s.CompletedAt, NotesRemoved: s.NotesRemoved,
		Accounting: &accountingDoc{LastSeq: s.LastSeq, Applied: s.Applied, Noted: s.Noted, RowDocs: s.RowDocs},
		Mapping:    summaryMappingDocOf(s),
	}
	if d.Accounting.Applied == nil {
		d.Accounting.Applied = map[string][]byte{}
	}
	if p := s.DeletePlan; p != nil {
		d.Accounting.DeletePlan = &deletePlanDoc{Docs: p.Docs, Count: p.Count, Done: p.Done}
	}
	return d
}

func (d *summaryDoc) summary() *ledger.Summary {
	s := &ledger.Summary{
		ID: d.ID, Tenant: d.Tenant, Status: d.Status,
		Options: envelope.Options{Schema: d.Schema, Mode: d.Mode, Key: d.Key, DryRun: d.DryRun, EmptyMeansClear: d.EmptyMeansClear,
			DateFormat: d.DateFormat, DateFormats: d.DateFormats, Warnings: d.Warnings},
		Source: d.Source, ReplayOf: d.ReplayOf, Sealed: d.Sealed, Total: d.Total,
		UndoOf: d.UndoOf, UndoneBy: d.UndoneBy, Reversed: d.Reversed, Kept: d.Kept,
		Counts:  envelope.Counts{Created: d.Created, Updated: d.Updated, Skipped: d.Skipped, Failed: d.Failed},
		Deleted: d.Deleted, Reason: d.Reason, Notice: d.Notice, Cancelled: d.Cancelled,
		DeadRows: d.DeadRows, DeadReason: d.DeadReason,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, CompletedAt: d.CompletedAt, NotesRemoved: d.NotesRemoved,
	}
	d.Mapping.apply(s)
	acc := d.Accounting
	if acc == nil { // stored by an earlier version
		l := d.Legacy
		if acc = l.Accounting; acc == nil {
			acc = &accountingDoc{}
		}
		if o := l.Options; o != nil {
			s.Options = envelope.Options{Schema: o.Schema, Mode: o.Mode, Key: o.Key, DryRun: o.DryRun, EmptyMeansClear: o.EmptyMeansClear}
		}
		if l.Counts != nil {
			s.Counts = *l.Counts
		}
	}
	s.LastSeq, s.Applied, s.Noted, s.RowDocs = acc.LastSeq, acc.Applied, acc.Noted, acc.RowDocs
	if p := acc.DeletePlan; p != nil {
		s.DeletePlan = &ledger.DeletePlan{Docs: p.Docs, Count: p.Count, Done: p.Done}
	}
	return s
}

func summariesOf(docs []summaryDoc) []ledger.Summary {
	out := make([]ledger.Summary, len(docs))
	for i := range docs {
		out[i] = *docs[i].summary()
	}
	return out
}
