package reporter

import (
	"reflect"
	"testing"
	"time"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/runner"
)

func processing() *ledger.Summary {
	return &ledger.Summary{ID: "imp_1", Tenant: "acme", Status: ledger.StatusProcessing}
}

func outcomesMsg(stage string, chunk int, os ...envelope.Outcome) *envelope.Accounting {
	return &envelope.Accounting{Kind: envelope.KindOutcomes, Tenant: "acme", Import: "imp_1", Stage: stage, Chunk: chunk, Outcomes: os}
}

func intp(n int) *int { return &n }

func TestApply(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	skipped := envelope.Outcome{Row: 3, Result: envelope.Skipped, Problems: []envelope.Problem{{Message: "duplicate of row 2"}}}
	failed := envelope.Outcome{Row: 4, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: "not an email"}}}
	dead := envelope.FailedRows([]int{5, 6}, envelope.CodeDeadLetter, "could not be processed (write stage): database down")
	counted := func(stage string, chunk int) *ledger.Summary {
		s := processing()
		s.MarkApplied(stage, chunk)
		s.Counts.Created = 2
		return s
	}
	for _, tc := range []struct {
		name   string
		sum    *ledger.Summary
		acc    *envelope.Accounting
		want   func(s *ledger.Summary) // how the summary changes, applied to a copy of the one before
		result applied
	}{
		{name: "opened: options, source, replay_of and its time",
			sum: processing(),
			acc: &envelope.Accounting{Kind: envelope.KindOpened, Options: &envelope.Options{Schema: "contacts", Mode: envelope.ModeReplace},
				Source: "contacts.csv", ReplayOf: "imp_0", At: at},
			want: func(s *ledger.Summary) {
				s.Options = envelope.Options{Schema: "contacts", Mode: envelope.ModeReplace}
				s.Source, s.ReplayOf, s.CreatedAt = "contacts.csv", "imp_0", at.UTC()
			}},
		{name: "opened without options or time keeps them",
			sum:  &ledger.Summary{ID: "imp_1", Tenant: "acme", Status: ledger.StatusProcessing, Options: envelope.Options{Schema: "contacts"}, CreatedAt: at},
			acc:  &envelope.Accounting{Kind: envelope.KindOpened, Source: "upstream"},
			want: func(s *ledger.Summary) { s.Source = "upstream" }},
		{name: "sealed: the total, and why the source ended early",
			sum:  processing(),
			acc:  &envelope.Accounting{Kind: envelope.KindSealed, Total: intp(12), Reason: "row limit of 10 reached"},
			want: func(s *ledger.Summary) { s.Sealed, s.Total, s.Reason = true, 12, "row limit of 10 reached" }},
		{name: "sealed without a reason keeps an earlier one",
			sum:  &ledger.Summary{Status: ledger.StatusProcessing, Reason: "earlier"},
			acc:  &envelope.Accounting{Kind: envelope.KindSealed, Total: intp(0)},
			want: func(s *ledger.Summary) { s.Sealed, s.Total = true, 0 }},
		{name: "cancel of an unsealed import seals it with the rows counted",
			sum:  &ledger.Summary{Status: ledger.StatusProcessing, Counts: envelope.Counts{Created: 3, Failed: 1}},
			acc:  &envelope.Accounting{Kind: envelope.KindCancel},
			want: func(s *ledger.Summary) { s.Cancelled, s.Sealed, s.Total = true, true, 4 }},
		{name: "cancel of a sealed import keeps its total",
			sum:  &ledger.Summary{Status: ledger.StatusProcessing, Sealed: true, Total: 10, Counts: envelope.Counts{Created: 3}},
			acc:  &envelope.Accounting{Kind: envelope.KindCancel},
			want: func(s *ledger.Summary) { s.Cancelled = true }},
		{name: "cancel of a finished import changes nothing",
			sum:  &ledger.Summary{Status: ledger.StatusCompleted, Sealed: true, Total: 3, Counts: envelope.Counts{Created: 3}},
			acc:  &envelope.Accounting{Kind: envelope.KindCancel},
			want: func(s *ledger.Summary) {}},
		{name: "outcomes are counted; skipped and failed rows are to be noted",
			sum: processing(),
			acc: outcomesMsg(envelope.StageWrite, 0, envelope.Outcome{Row: 2, Result: envelope.Created}, skipped, failed,
				envelope.Outcome{Row: 5, Result: envelope.Updated}),
			want: func(s *ledger.Summary) {
				s.MarkApplied(envelope.StageWrite, 0)
				s.Counts = envelope.Counts{Created: 1, Updated: 1, Skipped: 1, Failed: 1}
			},
			result: applied{slot: envelope.StageWrite, noted: []envelope.Outcome{skipped, failed}}},
		{name: "a dead letter's rows fail, count for its stage, and name the first reason",
			sum: processing(),
			acc: outcomesMsg("dead-"+envelope.StageWrite, 3, dead...),
			want: func(s *ledger.Summary) {
				s.MarkApplied(envelope.StageWrite, 3)
				s.Counts.Failed = 2
				s.DeadRows, s.DeadReason = 2, "could not be processed (write stage): database down"
			},
			result: applied{slot: envelope.StageWrite, noted: dead}},
		{name: "a later dead letter keeps the first reason",
			sum: &ledger.Summary{Status: ledger.StatusProcessing, DeadRows: 1, DeadReason: "first", Counts: envelope.Counts{Failed: 1}},
			acc: outcomesMsg("dead-"+envelope.StageValidate, 1, dead...),
			want: func(s *ledger.Summary) {
				s.MarkApplied(envelope.StageValidate, 1)
				s.Counts.Failed, s.DeadRows = 3, 3
			},
			result: applied{slot: envelope.StageValidate, noted: dead}},
		{name: "a chunk counted before is not counted again",
			sum:    counted(envelope.StageWrite, 7),
			acc:    outcomesMsg(envelope.StageWrite, 7, envelope.Outcome{Row: 2, Result: envelope.Created}),
			want:   func(s *ledger.Summary) {},
			result: applied{duplicate: true, slot: envelope.StageWrite}},
		{name: "a dead letter of a chunk its stage reported is not counted",
			sum:    counted(envelope.StageWrite, 7),
			acc:    outcomesMsg("dead-"+envelope.StageWrite, 7, dead...),
			want:   func(s *ledger.Summary) {},
			result: applied{duplicate: true, slot: envelope.StageWrite}},
		{name: "the same chunk number of another stage counts",
			sum: counted(envelope.StageWrite, 7),
			acc: outcomesMsg(envelope.StageValidate, 7, failed),
			want: func(s *ledger.Summary) {
				s.MarkApplied(envelope.StageValidate, 7)
				s.Counts.Failed = 1
			},
			result: applied{slot: envelope.StageValidate, noted: []envelope.Outcome{failed}}},
		{name: "created and updated rows only: nothing to note",
			sum:    processing(),
			acc:    outcomesMsg(envelope.StageWrite, 0, envelope.Outcome{Row: 2, Result: envelope.Created}),
			want:   func(s *ledger.Summary) { s.MarkApplied(envelope.StageWrite, 0); s.Counts.Created = 1 },
			result: applied{slot: envelope.StageWrite}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := clone(tc.sum)
			tc.want(want)
			got, err := apply(tc.sum, tc.acc, 42)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.result) {
				t.Errorf("applied %+v, want %+v", got, tc.result)
			}
			if !reflect.DeepEqual(tc.sum, want) {
				t.Errorf("summary\n %+v\nwant\n %+v", tc.sum, want)
			}
		})
	}
}

// clone copies a summary deeply enough for apply's changes (its bitsets).
func clone(s *ledger.Summary) *ledger.Summary {
	c := *s
	c.Applied = map[string][]byte{}
	for k, v := range s.Applied {
		c.Applied[k] = append([]byte(nil), v...)
	}
	if s.Applied == nil {
		c.Applied = nil
	}
	return &c
}

// Messages that can never be applied are permanent errors: they are
// dead-lettered at once, not retried for ever.
func TestApplyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		acc  *envelope.Accounting
	}{
		{"a seal without a row count", &envelope.Accounting{Kind: envelope.KindSealed, Import: "imp_1"}},
		{"a negative chunk number", outcomesMsg(envelope.StageWrite, -1)},
		{"a chunk number out of range", outcomesMsg(envelope.StageWrite, maxChunk+1)},
		{"an unknown result", outcomesMsg(envelope.StageWrite, 0, envelope.Outcome{Row: 2, Result: envelope.Created}, envelope.Outcome{Row: 3, Result: "deleted"})},
		{"an unknown kind", &envelope.Accounting{Kind: "reopen"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := apply(processing(), tc.acc, 42); !runner.IsPermanent(err) {
				t.Errorf("error %v, want a permanent one", err)
			}
		})
	}
}

func TestReplayedAndCompletes(t *testing.T) {
	plan := &ledger.DeletePlan{Count: 2}
	for _, tc := range []struct {
		name          string
		sum           *ledger.Summary
		seq           uint64
		again, resume bool
	}{
		{"a new message", &ledger.Summary{Status: ledger.StatusProcessing, LastSeq: 9}, 10, false, false},
		{"the last one applied, again", &ledger.Summary{Status: ledger.StatusProcessing, LastSeq: 9}, 9, true, false},
		{"an older one", &ledger.Summary{Status: ledger.StatusCompleted, LastSeq: 9}, 3, true, false},
		{"replace was deleting when it stopped: resume", &ledger.Summary{Status: ledger.StatusProcessing, LastSeq: 9, DeletePlan: plan}, 9, true, true},
		{"replace had finished deleting", &ledger.Summary{Status: ledger.StatusCompleted, LastSeq: 9, DeletePlan: plan}, 9, true, false},
	} {
		again, resume := replayed(tc.sum, tc.seq)
		if again != tc.again || resume != tc.resume {
			t.Errorf("%s: replayed = %v, %v; want %v, %v", tc.name, again, resume, tc.again, tc.resume)
		}
	}
	for _, tc := range []struct {
		name    string
		wasDone bool
		sum     *ledger.Summary
		want    bool
	}{
		{"sealed, every row accounted for", false, &ledger.Summary{Sealed: true, Total: 3, Counts: envelope.Counts{Created: 2, Failed: 1}}, true},
		{"sealed, a row missing", false, &ledger.Summary{Sealed: true, Total: 3, Counts: envelope.Counts{Created: 2}}, false},
		{"sealed, more outcomes than rows (ends failed)", false, &ledger.Summary{Sealed: true, Total: 1, Counts: envelope.Counts{Created: 2}}, true},
		{"sealed and empty", false, &ledger.Summary{Sealed: true}, true},
		{"not sealed", false, &ledger.Summary{Counts: envelope.Counts{Created: 2}}, false},
		{"already finished before this message", true, &ledger.Summary{Sealed: true, Total: 1, Counts: envelope.Counts{Created: 1}}, false},
	} {
		if got := completes(tc.wasDone, tc.sum); got != tc.want {
			t.Errorf("%s: completes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecideEnding(t *testing.T) {
	replace := envelope.Options{Schema: "contacts", Mode: envelope.ModeReplace}
	for _, tc := range []struct {
		name string
		sum  ledger.Summary
		want ending
	}{
		{"every row accounted for: completed",
			ledger.Summary{Total: 2, Counts: envelope.Counts{Created: 1, Failed: 1}, Options: envelope.Options{Mode: envelope.ModeUpsert}},
			ending{status: ledger.StatusCompleted}},
		{"more outcomes than rows: failed, accounting error",
			ledger.Summary{Total: 2, Counts: envelope.Counts{Created: 3}, Cancelled: true},
			ending{status: ledger.StatusFailed, reason: "accounting error: 3 outcomes for 2 rows"}},
		{"cancelled",
			ledger.Summary{Total: 2, Counts: envelope.Counts{Created: 1, Failed: 1}, Cancelled: true, Reason: "row limit", Options: replace},
			ending{status: ledger.StatusCancelled, reason: "cancelled: rows written before the cancel stay written, the rest failed"}},
		{"the source ended early: failed with its reason, replace deletes nothing",
			ledger.Summary{Total: 10, Counts: envelope.Counts{Created: 10}, Reason: "the file ended early", Options: replace},
			ending{status: ledger.StatusFailed, reason: "the file ended early"}},
		{"a dead-lettered row: failed, says so in the singular",
			ledger.Summary{Total: 2, Counts: envelope.Counts{Created: 1, Failed: 1}, DeadRows: 1, DeadReason: "database down"},
			ending{status: ledger.StatusFailed, reason: "1 row was given up on after repeated attempts and listed as failed (database down); import them again once the cause is fixed"}},
		{"dead-lettered rows and an early end: both reasons",
			ledger.Summary{Total: 3, Counts: envelope.Counts{Failed: 3}, DeadRows: 3, DeadReason: "database down", Reason: "row limit"},
			ending{status: ledger.StatusFailed, reason: "row limit; 3 rows were given up on after repeated attempts and listed as failed (database down); import them again once the cause is fixed"}},
		{"replace with failed rows: completed, nothing deleted, notice",
			ledger.Summary{Total: 3, Counts: envelope.Counts{Created: 1, Failed: 2}, Options: replace},
			ending{status: ledger.StatusCompleted, notice: "replace: nothing was deleted because 2 rows failed; fix them and import again"}},
		{"replace of a file without rows: nothing deleted, notice",
			ledger.Summary{Options: replace},
			ending{status: ledger.StatusCompleted, notice: "replace: nothing was deleted because the file has no rows"}},
		{"replace, every row fine: delete the untouched",
			ledger.Summary{Total: 2, Counts: envelope.Counts{Created: 1, Skipped: 1}, Options: replace},
			ending{status: ledger.StatusCompleted, deleteUntouched: true}},
		{"replace dry run: counts the untouched (deletes nothing, in replace)",
			ledger.Summary{Total: 1, Counts: envelope.Counts{Updated: 1}, Options: envelope.Options{Mode: envelope.ModeReplace, DryRun: true}},
			ending{status: ledger.StatusCompleted, deleteUntouched: true}},
		{"replace resumed after a crash: goes on deleting by its plan",
			ledger.Summary{Total: 1, Counts: envelope.Counts{Created: 1}, Options: replace, DeletePlan: &ledger.DeletePlan{Count: 4}},
			ending{status: ledger.StatusCompleted, deleteUntouched: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideEnding(&tc.sum); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestUntouched(t *testing.T) {
	got := untouched([]string{"email:a", "email:b", "email:c", "email:d"}, map[string]bool{"email:b": true, "email:d": true, "email:x": true})
	if want := []string{"email:a", "email:c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := untouched([]string{"email:a"}, map[string]bool{"email:a": true}); got != nil {
		t.Errorf("everything touched: got %v", got)
	}
}

func TestEventType(t *testing.T) {
	for status, want := range map[string]string{
		ledger.StatusProcessing: "",
		ledger.StatusCompleted:  envelope.EventCompleted,
		ledger.StatusFailed:     envelope.EventFailed,
		ledger.StatusCancelled:  envelope.EventCancelled,
	} {
		if got := eventType(status); got != want {
			t.Errorf("%s: got %q, want %q", status, got, want)
		}
	}
}

// endCase is one case of the decisions that end an import early: the
// unsealed-import timeout and unreadable rows.
type endCase struct {
	name    string
	sum     *ledger.Summary
	found   bool
	seq     uint64
	timeout time.Duration // expire only: 0 means an hour
	action  endAction
	reason  string
}

func runEndCases(t *testing.T, cases []endCase, decide func(tc endCase) (endAction, string)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			action, reason := decide(tc)
			if action != tc.action || reason != tc.reason {
				t.Errorf("got %v %q, want %v %q", action, reason, tc.action, tc.reason)
			}
		})
	}
}

// processingSummary is an import of acme processing since stale, its last
// message applied at sequence 5, with 3 rows created.
func processingSummary(stale time.Time) func(f func(s *ledger.Summary)) *ledger.Summary {
	return func(f func(s *ledger.Summary)) *ledger.Summary {
		s := &ledger.Summary{ID: "imp_1", Tenant: "acme", Status: ledger.StatusProcessing, UpdatedAt: stale, LastSeq: 5,
			Options: envelope.Options{Schema: "contacts"}, Counts: envelope.Counts{Created: 3}}
		f(s)
		return s
	}
}

func TestDecideExpire(t *testing.T) {
	const timeout = time.Hour
	check := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	sum := processingSummary(check.Add(-timeout - time.Second))
	acc := &envelope.Accounting{Kind: envelope.KindExpire, Tenant: "acme", Import: "imp_1", At: check}
	runEndCases(t, []endCase{
		{"no such import", nil, false, 9, 0, endNothing, ""},
		{"another tenant's import", sum(func(s *ledger.Summary) { s.Tenant = "other" }), true, 9, 0, endNothing, ""},
		{"applied before a crash", sum(func(s *ledger.Summary) { s.Status = ledger.StatusFailed }), true, 5, 0, endAnnounce, ""},
		{"progress within the timeout", sum(func(s *ledger.Summary) { s.UpdatedAt = check.Add(-timeout + time.Second) }), true, 9, 0, endNothing, ""},
		{"finished", sum(func(s *ledger.Summary) { s.Status = ledger.StatusCompleted }), true, 9, 0, endNothing, ""},
		{"replace finishing (resumed by redelivery)", sum(func(s *ledger.Summary) { s.DeletePlan = &ledger.DeletePlan{} }), true, 9, 0, endNothing, ""},
		{"the timeout off", sum(func(s *ledger.Summary) {}), true, 9, -1, endNothing, ""},
		{"never sealed", sum(func(s *ledger.Summary) {}), true, 9, 0, endFail,
			"timed out: 3 rows accounted for after 1h0m0s; the import was never sealed"},
		{"never opened nor sealed", sum(func(s *ledger.Summary) { s.Options = envelope.Options{} }), true, 9, 0, endFail,
			"timed out: 3 rows accounted for after 1h0m0s; the import was never opened or sealed"},
		{"sealed, rows missing, with the source's reason", sum(func(s *ledger.Summary) { s.Sealed, s.Total, s.Reason = true, 10, "row limit" }), true, 9, 0, endFail,
			"timed out: 3 of 10 rows accounted for after 1h0m0s (row limit)"},
	}, func(tc endCase) (endAction, string) {
		if tc.timeout == 0 {
			tc.timeout = timeout
		}
		return decideExpire(tc.sum, tc.found, acc, tc.seq, tc.timeout)
	})
}

func TestDecideUnreadable(t *testing.T) {
	acc := &envelope.Accounting{Kind: envelope.KindUnreadable, Tenant: "acme", Import: "imp_1", Reason: "a message of rows could not be read (stream sequence 7: malformed row chunk)"}
	sum := processingSummary(time.Now())
	const failed = "a message of rows could not be read (stream sequence 7: malformed row chunk); its rows are unknown, so the import ended failed (rows counted before stay as they are)"
	runEndCases(t, []endCase{
		{"no such import", nil, false, 9, 0, endNothing, ""},
		{"another tenant's import", sum(func(s *ledger.Summary) { s.Tenant = "other" }), true, 9, 0, endNothing, ""},
		{"applied before a crash", sum(func(s *ledger.Summary) { s.Status = ledger.StatusFailed }), true, 5, 0, endAnnounce, ""},
		{"finished", sum(func(s *ledger.Summary) { s.Status = ledger.StatusCompleted }), true, 9, 0, endNothing, ""},
		{"replace finishing", sum(func(s *ledger.Summary) { s.DeletePlan = &ledger.DeletePlan{} }), true, 9, 0, endNothing, ""},
		{"processing", sum(func(s *ledger.Summary) {}), true, 9, 0, endFail, failed},
		{"sealed and waiting for rows", sum(func(s *ledger.Summary) { s.Sealed, s.Total = true, 20 }), true, 9, 0, endFail, failed},
	}, func(tc endCase) (endAction, string) { return decideUnreadable(tc.sum, tc.found, acc, tc.seq) })
}

func TestUniqueOutputs(t *testing.T) {
	outs := []runner.Output{{MsgID: "a:completed", Data: []byte("1")}, {Data: []byte("no id")}, {MsgID: "a:completed", Data: []byte("2")},
		{Data: []byte("no id")}, {MsgID: "b:completed"}}
	want := []runner.Output{{MsgID: "a:completed", Data: []byte("1")}, {Data: []byte("no id")}, {Data: []byte("no id")}, {MsgID: "b:completed"}}
	if got := uniqueOutputs(outs); !reflect.DeepEqual(got, want) {
		t.Fatalf("uniqueOutputs = %+v, want %+v", got, want)
	}
}

func TestRouteOf(t *testing.T) {
	at := func(seq uint64, change func(s *ledger.Summary)) *ledger.Summary {
		s := processing()
		s.LastSeq = seq
		if change != nil {
			change(s)
		}
		return s
	}
	outcomes := outcomesMsg(envelope.StageWrite, 0)
	for _, tc := range []struct {
		name  string
		sum   *ledger.Summary
		found bool
		acc   *envelope.Accounting
		want  route
	}{
		{"an expire check, whatever the summary", nil, false, &envelope.Accounting{Kind: envelope.KindExpire, Tenant: "acme"}, routeExpire},
		{"news of unreadable rows", at(9, nil), true, &envelope.Accounting{Kind: envelope.KindUnreadable, Tenant: "acme"}, routeUnreadable},
		{"the first message of an import", nil, false, outcomes, routeApply},
		{"a message after the last applied", at(9, nil), true, outcomes, routeApply},
		{"another tenant's import", at(9, nil), true, &envelope.Accounting{Kind: envelope.KindOutcomes, Tenant: "other", Import: "imp_1"}, routeForeign},
		{"applied before", at(10, nil), true, outcomes, routeAnnounce},
		{"applied before, replace mode's ending planned", at(10, func(s *ledger.Summary) { s.DeletePlan = &ledger.DeletePlan{Count: 3} }), true, outcomes, routeResumeFinish},
		{"after the last applied, deletions under way", at(9, func(s *ledger.Summary) { s.DeletePlan = &ledger.DeletePlan{Count: 3} }), true, outcomes, routeDeleting},
	} {
		if got := routeOf(tc.sum, tc.found, tc.acc, 10); got != tc.want {
			t.Errorf("%s: route %d, want %d", tc.name, got, tc.want)
		}
	}
}
