// Package ledger holds the domain type of an import's account: its status,
// its counts and the bookkeeping that keeps them exact under redelivery
// (which chunks were counted, which have row notes). It knows nothing of
// storage: pkg/store maps a Summary to the stored document and back, the
// reporter decides on it, pkg/imports shows it.
package ledger

import (
	"sort"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/mapping"
)

// Import statuses.
const (
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
)

// Summary is the reporter's account of one import.
type Summary struct {
	ID       string
	Tenant   string
	Options  envelope.Options
	Source   string
	ReplayOf string // the import whose rows this one imports again
	// UndoOf is the import an undo job reverses; its counts are Reversed,
	// Kept and Counts.Failed (one per record the import wrote).
	UndoOf   string
	UndoneBy string // on an import: the undo that reversed it
	Reversed int
	Kept     int
	Status   string
	Sealed   bool
	Total    int // rows in the source, known once sealed
	Counts   envelope.Counts
	Reason   string
	// Cancelled: rows not yet written fail; the import ends cancelled.
	Cancelled bool
	// Notice is something the user should know about a completed import.
	Notice string
	// Deleted counts, in replace mode, the records removed (or, in a dry
	// run, that would be).
	Deleted    int
	DeletePlan *DeletePlan

	// DeadRows are rows a stage gave up on (dead-lettered: still failing
	// after MaxDeliver attempts, e.g. the database stayed down, or refused
	// with a permanent error). They are counted failed, and the import ends
	// failed. DeadReason is the first one's reason.
	DeadRows   int
	DeadReason string

	// Mapping is how the import's columns were mapped to fields (nil when
	// its header was not known at the opening).
	Mapping *mapping.Report

	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
	// NotesRemoved: the retention removed the import's row notes (its
	// skipped and failed rows); the counts stay.
	NotesRemoved bool

	// LastSeq is the stream sequence of the last accounting message applied.
	LastSeq uint64
	// Applied is, per stage, a bitset of the chunks whose outcomes were
	// counted: a redelivered chunk is counted once.
	Applied map[string][]byte
	// Noted is, per accounting stage ("write", "dead-write", ...), a bitset
	// of the chunks that have a row-notes document. A bitset, not a list of
	// ids: the summary is read and rewritten for every chunk of every stage,
	// and FerretDB decodes and encodes it whole each time (a list of 2,000
	// ids made a 1,000,000-row re-import spend a sixth of its CPU there,
	// measured).
	Noted map[string][]byte
	// RowDocs names row-notes documents by id: how summaries written before
	// Noted existed name them.
	RowDocs []string
}

// DeletePlan is the fixed list of records a replace import removes,
// written down before the first delete so the count stays exact if the
// deleting is interrupted and resumed.
type DeletePlan struct {
	Docs  int // documents the list is stored in
	Count int // records in the plan
	// Done is the deletion job's progress: the first Done records of the
	// list have been dealt with (deleted, or kept because another import
	// wrote them) and counted in Summary.Deleted. A redelivered job step
	// resumes from here, not from the first record.
	Done int
}

// Deleting reports whether the import's rows are all accounted for and its
// replace deletions are under way in the deletion job: the summary then
// stays processing, and the job, not the reporter, writes it until the
// deletions end.
func (s *Summary) Deleting() bool {
	return s.Status == StatusProcessing && s.DeletePlan != nil && !s.Options.DryRun
}

// MarkApplied records that a stage's outcomes for a chunk were counted and
// reports whether they had been already.
func (s *Summary) MarkApplied(stage string, chunk int) (already bool) {
	if s.Applied == nil {
		s.Applied = map[string][]byte{}
	}
	return setBit(s.Applied, stage, chunk)
}

// MarkNoted records that a stage's chunk has a row-notes document.
func (s *Summary) MarkNoted(stage string, chunk int) {
	if s.Noted == nil {
		s.Noted = map[string][]byte{}
	}
	setBit(s.Noted, stage, chunk)
}

// NotedChunks calls fn for every chunk that has a row-notes document, per stage.
func (s *Summary) NotedChunks(fn func(stage string, chunk int)) {
	for stage, bits := range s.Noted {
		for chunk := range len(bits) * 8 {
			if bits[chunk/8]&(1<<(chunk%8)) != 0 {
				fn(stage, chunk)
			}
		}
	}
}

// NotedStages lists, sorted, the stages that have a row-notes document for
// one chunk.
func (s *Summary) NotedStages(chunk int) []string {
	var out []string
	for stage, bits := range s.Noted {
		if chunk >= 0 && chunk/8 < len(bits) && bits[chunk/8]&(1<<(chunk%8)) != 0 {
			out = append(out, stage)
		}
	}
	sort.Strings(out) // map order is random; the answer is not
	return out
}

// setBit sets bit n of sets[key] and reports whether it was set already.
func setBit(sets map[string][]byte, key string, n int) (was bool) {
	bits := sets[key]
	if need := n/8 + 1; len(bits) < need {
		bits = append(bits, make([]byte, need-len(bits))...)
	}
	mask := byte(1) << (n % 8)
	was = bits[n/8]&mask != 0
	bits[n/8] |= mask
	sets[key] = bits
	return was
}
