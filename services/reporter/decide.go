package reporter

import (
	"fmt"
	"strings"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/runner"
)

// The reporter's decisions, pure: the handler reads the summary, asks
// these, then stores and announces.

// maxChunk bounds chunk numbers (10 million rows in chunks of one row).
const maxChunk = 10_000_000

// applied is what applying an accounting message left for the handler to do.
type applied struct {
	// duplicate: the chunk's outcomes were counted before (from the stage
	// or its dead letter); nothing changed.
	duplicate bool
	// slot is the stage an outcomes message counts for ("write" for
	// "dead-write" too), for the metrics.
	slot string
	// noted are the rows skipped or failed, to store as the chunk's row
	// notes (and then sum.MarkNoted(acc.Stage, acc.Chunk)).
	noted []envelope.Outcome
}

// apply applies one accounting message (not an expire check: see
// decideExpire) to sum. An error that can never go away is runner.Permanent.
func apply(sum *ledger.Summary, acc *envelope.Accounting, seq uint64) (applied, error) {
	switch acc.Kind {
	case envelope.KindOpened:
		if acc.Options != nil {
			sum.Options = *acc.Options
		}
		sum.Source = acc.Source
		sum.ReplayOf = acc.ReplayOf
		sum.Mapping = acc.Mapping
		if !acc.At.IsZero() {
			sum.CreatedAt = acc.At.UTC()
		}
	case envelope.KindCancel:
		if sum.Status == ledger.StatusProcessing {
			sum.Cancelled = true
			if !sum.Sealed {
				// Rows may never come (an upstream import not sealed): end with those counted.
				sum.Sealed, sum.Total = true, sum.Counts.Sum()
			}
		}
	case envelope.KindSealed:
		if acc.Total == nil {
			return applied{}, runner.Permanent(fmt.Errorf("seal of %s without a row count", acc.Import))
		}
		sum.Sealed = true
		sum.Total = *acc.Total
		if acc.Reason != "" {
			sum.Reason = acc.Reason
		}
	case envelope.KindOutcomes:
		return applyOutcomes(sum, acc)
	default:
		return applied{}, runner.Permanent(fmt.Errorf("unknown accounting kind %q (stream sequence %d)", acc.Kind, seq))
	}
	return applied{}, nil
}

// applyOutcomes counts a chunk's outcomes once per stage, whether they come
// from the stage or from its dead letter, and however often they are published.
func applyOutcomes(sum *ledger.Summary, acc *envelope.Accounting) (applied, error) {
	slot := strings.TrimPrefix(acc.Stage, "dead-")
	if acc.Chunk < 0 || acc.Chunk > maxChunk {
		return applied{}, runner.Permanent(fmt.Errorf("chunk number %d out of range", acc.Chunk))
	}
	if sum.MarkApplied(slot, acc.Chunk) {
		return applied{duplicate: true, slot: slot}, nil
	}
	if slot != acc.Stage { // a dead letter's: every row failed
		sum.DeadRows += len(acc.Outcomes)
		if sum.DeadReason == "" && len(acc.Outcomes) > 0 && len(acc.Outcomes[0].Problems) > 0 {
			sum.DeadReason = acc.Outcomes[0].Problems[0].Message
		}
	}
	a := applied{slot: slot}
	for _, o := range acc.Outcomes {
		if !envelope.ValidResult(o.Result) {
			// sum is half changed: the caller drops it on an error.
			return applied{}, runner.Permanent(fmt.Errorf("row %d: unknown result %q", o.Row, o.Result))
		}
		sum.Counts.Add(o.Result)
		if o.Result == envelope.Failed || o.Result == envelope.Skipped {
			a.noted = append(a.noted, o)
		}
	}
	return a, nil
}

// route is the way an accounting message takes through the handler.
type route int

const (
	routeApply        route = iota // apply it; it may complete the import
	routeExpire                    // an expire check: decideExpire
	routeUnreadable                // rows that could not be read: decideUnreadable
	routeForeign                   // the import is another tenant's: never applicable
	routeAnnounce                  // applied before (a redelivery): announce the end, if any, again
	routeResumeFinish              // applied before, and replace mode's ending is to be resumed
	routeDeleting                  // the import's deletions run: every row is counted, ignored
)

// routeOf decides the way of the accounting message acc at stream sequence
// seq, on its import's summary as the handler has it (found false: none
// yet, and sum nil). A batch decides each of its messages on the summary
// as the earlier ones left it.
func routeOf(sum *ledger.Summary, found bool, acc *envelope.Accounting, seq uint64) route {
	switch {
	case acc.Kind == envelope.KindExpire:
		return routeExpire
	case acc.Kind == envelope.KindUnreadable:
		return routeUnreadable
	case !found:
		return routeApply
	case sum.Tenant != acc.Tenant:
		return routeForeign
	}
	if again, resume := replayed(sum, seq); again {
		if resume {
			return routeResumeFinish
		}
		return routeAnnounce
	}
	if sum.Deleting() {
		return routeDeleting
	}
	return routeApply
}

// replayed reports whether the message at seq was applied to sum before (a
// redelivery after a crash), and if so whether finishing the import is to
// be resumed: a replace import that had written its deletion plan.
func replayed(sum *ledger.Summary, seq uint64) (again, resumeFinish bool) {
	if seq > sum.LastSeq {
		return false, false
	}
	return true, sum.Status == ledger.StatusProcessing && sum.DeletePlan != nil
}

// completes reports whether applying a message completed the import: it was
// processing before (wasDone false), is sealed, and every row is accounted for.
func completes(wasDone bool, sum *ledger.Summary) bool {
	return !wasDone && sum.Sealed && sum.Counts.Sum() >= sum.Total
}

// ending is how an import whose rows are all accounted for ends.
type ending struct {
	status, reason, notice string
	// deleteUntouched: replace mode deletes the records no row touched.
	deleteUntouched bool
}

// decideEnding decides the final status, reason and notice of an import
// whose rows are all accounted for, and whether replace mode deletes.
func decideEnding(sum *ledger.Summary) ending {
	e := ending{status: ledger.StatusCompleted, reason: sum.Reason, notice: sum.Notice}
	switch {
	case sum.Counts.Sum() > sum.Total:
		e.status = ledger.StatusFailed
		e.reason = fmt.Sprintf("accounting error: %d outcomes for %d rows", sum.Counts.Sum(), sum.Total)
	case sum.Cancelled:
		e.status = ledger.StatusCancelled
		e.reason = "cancelled: rows written before the cancel stay written, the rest failed"
	case sum.Reason != "" || sum.DeadRows > 0:
		// The source ended early, or a stage gave up on rows (they are
		// listed failed): either way rows of the file were not imported
		// for a reason other than their content.
		e.status = ledger.StatusFailed
		e.reason = joinReasons(sum.Reason, deadReason(sum))
	case sum.Options.Mode == envelope.ModeReplace && sum.Counts.Failed > 0:
		e.notice = fmt.Sprintf("replace: nothing was deleted because %d rows failed; fix them and import again", sum.Counts.Failed)
	case sum.Options.Mode == envelope.ModeReplace && sum.Counts.Sum() == sum.Counts.Failed:
		e.notice = "replace: nothing was deleted because the file has no rows"
	case sum.Options.Mode == envelope.ModeReplace:
		e.deleteUntouched = true
	}
	return e
}

// untouched lists the record IDs of all that no row of the import touched,
// in all's order: replace mode's deletion plan.
func untouched(all []string, touched map[string]bool) []string {
	var out []string
	for _, id := range all {
		if !touched[id] {
			out = append(out, id)
		}
	}
	return out
}

// keptNotice tells of the records replace mode planned to delete and kept
// because another import wrote them meanwhile ("" if none).
func keptNotice(kept int) string {
	switch kept {
	case 0:
		return ""
	case 1:
		return "replace: 1 record was kept because another import wrote it while this one ran"
	}
	return fmt.Sprintf("replace: %d records were kept because another import wrote them while this one ran", kept)
}

// deadReason says why an import with dead-lettered rows failed ("" if it has none).
func deadReason(sum *ledger.Summary) string {
	if sum.DeadRows == 0 {
		return ""
	}
	rows := "rows were"
	if sum.DeadRows == 1 {
		rows = "row was"
	}
	return fmt.Sprintf("%d %s given up on after repeated attempts and listed as failed (%s); import them again once the cause is fixed",
		sum.DeadRows, rows, sum.DeadReason)
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// eventType is the event announcing an import's end, or "" while it is processing.
func eventType(status string) string {
	switch status {
	case ledger.StatusProcessing:
		return ""
	case ledger.StatusFailed:
		return envelope.EventFailed
	case ledger.StatusCancelled:
		return envelope.EventCancelled
	}
	return envelope.EventCompleted
}

// endAction is what an expire check, or the news that rows could not be
// read, does to an import.
type endAction int

const (
	endNothing  endAction = iota // no such import of this tenant, progress since, finished, or the timeout off
	endAnnounce                  // applied before a crash: announce the end again
	endFail                      // the import fails now with the reason
)

// decideExpire decides what the expire check acc, at stream sequence seq,
// does to the import whose summary is sum (found false: none).
func decideExpire(sum *ledger.Summary, found bool, acc *envelope.Accounting, seq uint64, timeout time.Duration) (endAction, string) {
	if !found || sum.Tenant != acc.Tenant {
		return endNothing, "" // a summary is never created by an expire message
	}
	if seq <= sum.LastSeq {
		return endAnnounce, ""
	}
	reason, ok := expiry(sum, acc.At, timeout)
	if !ok {
		return endNothing, ""
	}
	return endFail, reason
}

// decideUnreadable decides what the news that a message of the import's
// rows could not be read (acc, at stream sequence seq) does: the import
// fails now, since those rows can never be counted and its publisher must
// not wait for the unsealed-import timeout to hear of it. Rows already
// counted stay counted; rows of other messages still on their way are
// counted when they arrive.
func decideUnreadable(sum *ledger.Summary, found bool, acc *envelope.Accounting, seq uint64) (endAction, string) {
	switch {
	case !found || sum.Tenant != acc.Tenant:
		return endNothing, "" // nothing to fail: no summary is created for rows no one can read
	case seq <= sum.LastSeq:
		return endAnnounce, ""
	case sum.Status != ledger.StatusProcessing || sum.DeletePlan != nil:
		return endNothing, "" // finished, or replace mode finishing
	}
	reason := acc.Reason
	if reason == "" {
		reason = "a message of rows could not be read"
	}
	return endFail, reason + "; its rows are unknown, so the import ended failed (rows counted before stay as they are)"
}

// expiry decides whether an import times out at a check made at at, and why.
// Rows that never arrived are not counted.
func expiry(sum *ledger.Summary, at time.Time, timeout time.Duration) (string, bool) {
	if timeout <= 0 || sum.Status != ledger.StatusProcessing || sum.DeletePlan != nil {
		return "", false // off, finished, or replace mode finishing (resumed by redelivery)
	}
	if sum.UpdatedAt.After(at.Add(-timeout)) {
		return "", false
	}
	n := sum.Counts.Sum()
	var reason string
	switch {
	case sum.Sealed:
		reason = fmt.Sprintf("timed out: %d of %d rows accounted for after %s", n, sum.Total, timeout)
	case sum.Options.Schema == "":
		reason = fmt.Sprintf("timed out: %d rows accounted for after %s; the import was never opened or sealed", n, timeout)
	default:
		reason = fmt.Sprintf("timed out: %d rows accounted for after %s; the import was never sealed", n, timeout)
	}
	if sum.Reason != "" {
		reason += " (" + sum.Reason + ")"
	}
	return reason, true
}

// stepAction is what a step of the deletion job does.
type stepAction int

const (
	stepStale    stepAction = iota // not this import's, not deleting, or a later step is under way: nothing
	stepRun                        // delete the batch the progress is at
	stepResend                     // this step was done before a crash: send the next one again
	stepFinish                     // every batch is done: complete the import
	stepAnnounce                   // the import ended before a crash: announce it again
)

// decideStep decides what the deletion step j does to the import whose
// summary is sum (found false: none), with batches of batch records. Only
// the step at the progress runs; the one just before it, redelivered after
// a crash, sends the next again; older ones do nothing, so the steps of an
// import stay one chain.
func decideStep(sum *ledger.Summary, found bool, j job, batch int) stepAction {
	switch {
	case !found || sum.Tenant != j.Tenant:
		return stepStale
	case sum.Status != ledger.StatusProcessing:
		return stepAnnounce
	case !sum.Deleting():
		return stepStale
	}
	done, count := sum.DeletePlan.Done, sum.DeletePlan.Count
	switch {
	case j.From == done && done >= count, j.From < done && j.From+batch >= done && done >= count:
		return stepFinish
	case j.From == done:
		return stepRun
	case j.From < done && j.From+batch >= done:
		return stepResend
	}
	return stepStale
}

// advance records that a deletion step dealt with n planned records, of
// which kept are still stored (written since the replace started).
func advance(sum *ledger.Summary, n, kept int, now time.Time) {
	sum.DeletePlan.Done += n
	sum.Deleted += n - kept
	sum.UpdatedAt = now
}

// endDeleting completes an import whose deletions are all done, telling of
// the planned records kept because another import wrote them.
func endDeleting(sum *ledger.Summary, now time.Time) {
	sum.Status = ledger.StatusCompleted
	sum.Notice = joinReasons(sum.Notice, keptNotice(sum.DeletePlan.Count-sum.Deleted))
	sum.CompletedAt = &now
	sum.UpdatedAt = now
}
