package imports_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/store/storetest"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/streams/streamstest"
	"github.com/intake/intake/pkg/subjects"
)

func TestViewOf(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := envelope.Options{Schema: "contacts", Mode: "replace", Key: "email", DryRun: true}
	for _, tt := range []struct {
		name string
		sum  ledger.Summary
		want client.SummaryReply
	}{{
		name: "before the seal the total is the rows accounted for",
		sum:  ledger.Summary{ID: "imp_a", Tenant: "acme", Status: ledger.StatusProcessing, Options: opts, Source: "a.csv", Counts: envelope.Counts{Created: 2, Failed: 1}},
		want: client.SummaryReply{Summary: client.Summary{ID: "imp_a", Tenant: "acme", Status: "processing", Schema: "contacts", Mode: "replace", Key: "email", DryRun: true,
			Source: "a.csv", Total: 3, Processed: 3, Counts: envelope.Counts{Created: 2, Failed: 1}, Errors: []client.RowError{}}},
	}, {
		name: "sealed: the seal's total, whatever was accounted for",
		sum: ledger.Summary{ID: "imp_b", Tenant: "acme", Status: ledger.StatusCompleted, Sealed: true, Total: 4, ReplayOf: "imp_a", Deleted: 5,
			Counts: envelope.Counts{Updated: 1, Skipped: 3}, Notice: "n", Reason: "r", CreatedAt: at, UpdatedAt: at, CompletedAt: &at},
		want: client.SummaryReply{Sealed: true, Summary: client.Summary{ID: "imp_b", Tenant: "acme", Status: "completed", ReplayOf: "imp_a", Deleted: 5,
			Total: 4, Processed: 4, Counts: envelope.Counts{Updated: 1, Skipped: 3}, Notice: "n", Reason: "r", Errors: []client.RowError{}, CreatedAt: &at, UpdatedAt: &at, CompletedAt: &at}},
	}, {
		name: "replace deleting: its progress",
		sum: ledger.Summary{ID: "imp_c", Tenant: "acme", Status: ledger.StatusProcessing, Sealed: true, Total: 1, Deleted: 990,
			Options: envelope.Options{Schema: "contacts", Mode: "replace"}, Counts: envelope.Counts{Skipped: 1}, DeletePlan: &ledger.DeletePlan{Docs: 1, Count: 3000, Done: 1000}},
		want: client.SummaryReply{Sealed: true, Summary: client.Summary{ID: "imp_c", Tenant: "acme", Status: "processing", Schema: "contacts", Mode: "replace",
			Total: 1, Processed: 1, Counts: envelope.Counts{Skipped: 1}, Deleted: 990, Errors: []client.RowError{}, Deleting: &client.Progress{Done: 1000, Total: 3000}}},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			if got := imports.ViewOf(&tt.sum); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFlatten(t *testing.T) {
	notes := []envelope.Outcome{
		{Row: 2, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: "email: required"}, {Field: "name", Message: "name: required"}}},
		{Row: 5, Result: envelope.Failed, Problems: []envelope.Problem{{Message: "row has 3 cells but the header has 2 columns"}}},
	}
	want := []client.RowError{{Row: 2, Field: "email", Message: "email: required"}, {Row: 2, Field: "name", Message: "name: required"},
		{Row: 5, Message: "row has 3 cells but the header has 2 columns"}}
	if got := imports.Flatten(notes); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := imports.Flatten(nil); got == nil || len(got) != 0 {
		t.Errorf("no notes: %#v, want an empty list (JSON [])", got)
	}
}

type env struct {
	svc   *imports.Service
	js    jetstream.JetStream
	store *store.Store
}

// start runs nats-server with the streams and FerretDB, without the
// stages: summaries are what a test stores, events what it publishes.
func start(t *testing.T) env {
	t.Helper()
	nc, js := streamstest.Start(t, streams.Config{})
	st := storetest.Wire(t)
	return env{svc: imports.New(imports.Deps{Store: st, JS: js, NC: nc}, imports.Config{}), js: js, store: st}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publish stores the messages outputs builds.
func (e env) publish(t *testing.T, outputs func() ([]runner.Output, error)) {
	t.Helper()
	outs, err := outputs()
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.PublishAll(ctxT(t), e.js, runner.Msgs(outs), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// An import the reporter has not yet summarised is shown from its events:
// right after the seal it keeps the options of its opened event (the
// upstream service used to show them empty) and the seal's total.
func TestSummaryBeforeTheReporter(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	opts := envelope.Options{Schema: "contacts", Mode: "upsert", Key: "email"}
	e.publish(t, func() ([]runner.Output, error) {
		return platform.OpenedOutputs(envelope.Accounting{Tenant: "acme", Import: "imp_p", Options: &opts, Source: "crm"})
	})

	v, found, err := e.svc.Summary(ctx, "acme", "imp_p", imports.DefaultErrorLimit)
	want := client.SummaryReply{Summary: client.Summary{ID: "imp_p", Tenant: "acme", Status: "processing", Schema: "contacts", Mode: "upsert", Key: "email", Errors: []client.RowError{}}}
	if err != nil || !found || !reflect.DeepEqual(v, want) {
		t.Fatalf("opened: %+v %v %v, want %+v", v, found, err, want)
	}

	e.publish(t, func() ([]runner.Output, error) { return platform.SealedOutputs("acme", "imp_p", 7, "") })
	v, found, err = e.svc.Summary(ctx, "acme", "imp_p", imports.DefaultErrorLimit)
	want.Total, want.Sealed = 7, true
	if err != nil || !found || !reflect.DeepEqual(v, want) {
		t.Fatalf("sealed: %+v %v %v, want %+v", v, found, err, want)
	}

	for _, tc := range []struct{ tenant, id string }{{"other", "imp_p"}, {"acme", "imp_none"}, {"acme", "imp.>"}} {
		if v, found, err := e.svc.Summary(ctx, tc.tenant, tc.id, 1); found || err != nil {
			t.Errorf("%s/%s: %+v %v %v, want not found", tc.tenant, tc.id, v, found, err)
		}
	}
}

// A stored summary lists up to the limit of row errors and says when there
// are more; limit 0 reads none.
func TestSummaryErrors(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	var rows []envelope.Outcome
	for r := 2; r < 6; r++ {
		rows = append(rows, envelope.Outcome{Row: r, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: fmt.Sprintf("bad %d", r)}}})
	}
	if err := e.store.InsertRowDoc(ctx, store.RowDoc{ID: "imp_e:doc", Import: "imp_e", Tenant: "acme", Rows: rows}); err != nil {
		t.Fatal(err)
	}
	sum := &ledger.Summary{ID: "imp_e", Tenant: "acme", Status: ledger.StatusCompleted, Sealed: true, Total: 4,
		Counts: envelope.Counts{Failed: 4}, RowDocs: []string{"imp_e:doc"}, CreatedAt: time.Now().UTC()}
	if err := e.store.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		limit     int
		rows      []int
		truncated bool
	}{{100, []int{2, 3, 4, 5}, false}, {4, []int{2, 3, 4, 5}, false}, {2, []int{2, 3}, true}, {0, nil, false}} {
		v, found, err := e.svc.Summary(ctx, "acme", "imp_e", tt.limit)
		if err != nil || !found {
			t.Fatalf("limit %d: %v %v", tt.limit, found, err)
		}
		var got []int
		for _, re := range v.Errors {
			got = append(got, re.Row)
		}
		if !reflect.DeepEqual(got, tt.rows) || v.ErrorsTruncated != tt.truncated || v.Errors == nil || !v.Sealed || v.Failed != 4 {
			t.Errorf("limit %d: rows %v truncated %v (errors %#v), want rows %v truncated %v", tt.limit, got, v.ErrorsTruncated, v.Errors, tt.rows, tt.truncated)
		}
	}
	notes, status, found, err := e.svc.Problems(ctx, "acme", "imp_e", envelope.Failed)
	if err != nil || !found || status != ledger.StatusCompleted || len(notes) != 4 {
		t.Errorf("problems: %d notes, status %q, %v %v", len(notes), status, found, err)
	}
	if _, _, found, err := e.svc.Problems(ctx, "other", "imp_e", envelope.Failed); found || err != nil {
		t.Errorf("another tenant's problems: found %v, %v", found, err)
	}
	list, err := e.svc.List(ctx, "acme", 10)
	if err != nil || len(list) != 1 || list[0].ID != "imp_e" || len(list[0].Errors) != 0 || list[0].Errors == nil {
		t.Errorf("list: %+v %v", list, err)
	}
}

// Cancel refuses unknown and finished imports with codes callers branch on,
// and stores the cancel of a running one for the reporter.
func TestCancel(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	for _, s := range []*ledger.Summary{
		{ID: "imp_run", Tenant: "acme", Status: ledger.StatusProcessing},
		{ID: "imp_done", Tenant: "acme", Status: ledger.StatusCompleted, Sealed: true},
		{ID: "imp_deleting", Tenant: "acme", Status: ledger.StatusProcessing, Sealed: true, DeletePlan: &ledger.DeletePlan{Docs: 1, Count: 5000, Done: 1000}},
	} {
		if err := e.store.SaveSummary(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Cancel(ctx, "acme", "imp_none"); !errors.Is(err, imports.ErrNotFound) {
		t.Errorf("unknown import: %v, want ErrNotFound", err)
	}
	if err := e.svc.Cancel(ctx, "other", "imp_run"); !errors.Is(err, imports.ErrNotFound) {
		t.Errorf("another tenant's import: %v, want ErrNotFound", err)
	}
	var fin *imports.FinishedError
	if err := e.svc.Cancel(ctx, "acme", "imp_done"); !errors.As(err, &fin) || fin.Status != ledger.StatusCompleted {
		t.Errorf("finished import: %v, want FinishedError completed", err)
	}
	if err := e.svc.Cancel(ctx, "acme", "imp_deleting"); !errors.As(err, &fin) || !fin.Deleting {
		t.Errorf("import whose replace deletions run: %v, want FinishedError deleting", err)
	}
	if err := e.svc.Cancel(ctx, "acme", "imp_run"); err != nil {
		t.Fatal(err)
	}
	st, err := e.js.Stream(ctx, subjects.StreamOutcomes)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subjects.Stored(subjects.Outcomes, "acme", "imp_run", streams.DefaultPartitions))
	if err != nil {
		t.Fatalf("no cancel stored: %v", err)
	}
	if m.Header.Get(nats.MsgIdHdr) != subjects.MsgID("acme", "imp_run", "cancel", 0) {
		t.Errorf("cancel message ID %q", m.Header.Get(nats.MsgIdHdr))
	}
}

// The summary's status is the stored one as it is: the protocol's names
// must be the store's.
func TestStatusesAgree(t *testing.T) {
	for stored, protocol := range map[string]string{
		ledger.StatusProcessing: client.StatusProcessing, ledger.StatusCompleted: client.StatusCompleted,
		ledger.StatusFailed: client.StatusFailed, ledger.StatusCancelled: client.StatusCancelled,
	} {
		if stored != protocol {
			t.Errorf("stored status %q is %q in the protocol", stored, protocol)
		}
	}
}

// Pages of an import's problems, followed by their cursors, give exactly
// the unpaged list, in order, each once, even when a page ends inside a row
// with several problems. A bad limit or cursor is a 400; another tenant's
// import is not found.
func TestProblemsPages(t *testing.T) {
	e := start(t)
	ctx := ctxT(t)
	sum := &ledger.Summary{ID: "imp_pg", Tenant: "acme", Status: ledger.StatusCompleted, Sealed: true, CreatedAt: time.Now().UTC()}
	for chunk := range 3 {
		var rows []envelope.Outcome
		for r := 2 + 10*chunk; r < 12+10*chunk; r += 2 {
			problems := []envelope.Problem{{Field: "email", Message: fmt.Sprintf("bad %d", r)}}
			if r%4 == 0 {
				problems = append(problems, envelope.Problem{Field: "phone", Message: fmt.Sprintf("bad %d", r)})
			}
			rows = append(rows, envelope.Outcome{Row: r, Result: envelope.Failed, Problems: problems})
		}
		if err := e.store.InsertRowDoc(ctx, store.RowDoc{ID: store.RowDocID("imp_pg", "validate", chunk), Import: "imp_pg", Tenant: "acme", Rows: rows}); err != nil {
			t.Fatal(err)
		}
		sum.MarkNoted("validate", chunk)
	}
	if err := e.store.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	notes, _, _, err := e.svc.Problems(ctx, "acme", "imp_pg", envelope.Failed)
	if err != nil {
		t.Fatal(err)
	}
	all := imports.Flatten(notes)
	for _, limit := range []int{1, 3, 4, len(all), 1000} {
		var got []client.RowError
		after, pages := "", 0
		for {
			page, found, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, after, limit)
			if err != nil || !found || len(page.Errors) > limit || page.Status != ledger.StatusCompleted {
				t.Fatalf("limit %d, page %d: %+v %v %v", limit, pages, page, found, err)
			}
			got, pages = append(got, page.Errors...), pages+1
			if after = page.Next; after == "" {
				break
			}
		}
		if !reflect.DeepEqual(got, all) || pages != (len(all)+limit-1)/limit {
			t.Errorf("limit %d: %d pages gave %+v, want %+v", limit, pages, got, all)
		}
	}
	first, _, _ := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, "", 2)
	var re *imports.RequestError
	for name, call := range map[string]func() error{
		"limit 0": func() error {
			_, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, "", 0)
			return err
		},
		"limit 10001": func() error {
			_, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, "", 10_001)
			return err
		},
		"garbage": func() error {
			_, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, "%%%", 2)
			return err
		},
		"other result": func() error {
			_, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Skipped, first.Next, 2)
			return err
		},
		"other import": func() error {
			_, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_other", envelope.Failed, first.Next, 2)
			return err
		},
	} {
		if err := call(); !errors.As(err, &re) || re.Status != http.StatusBadRequest {
			t.Errorf("%s: %v, want a 400", name, err)
		}
	}
	if _, found, err := e.svc.ProblemsPage(ctx, "other", "imp_pg", envelope.Failed, first.Next, 2); found || err != nil {
		t.Errorf("another tenant's import: found %v, %v", found, err)
	}

	// While the import runs, a chunk accounted for after a page was read
	// comes in a later page; what was listed is not listed again.
	sum.Status = ledger.StatusProcessing
	if err := e.store.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	page1, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, "", len(all)-1)
	if err != nil || page1.Next == "" {
		t.Fatalf("first page while running: %+v %v", page1, err)
	}
	late := []envelope.Outcome{{Row: 40, Result: envelope.Failed, Problems: []envelope.Problem{{Field: "email", Message: "late"}}}}
	if err := e.store.InsertRowDoc(ctx, store.RowDoc{ID: store.RowDocID("imp_pg", "write", 3), Import: "imp_pg", Tenant: "acme", Rows: late}); err != nil {
		t.Fatal(err)
	}
	sum.MarkNoted("write", 3)
	if err := e.store.SaveSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	page2, _, err := e.svc.ProblemsPage(ctx, "acme", "imp_pg", envelope.Failed, page1.Next, len(all)-1)
	want := append(all[len(all)-1:len(all):len(all)], client.RowError{Row: 40, Field: "email", Message: "late"})
	if err != nil || page2.Next != "" || !reflect.DeepEqual(page2.Errors, want) {
		t.Errorf("second page after a late chunk: %+v %v, want %+v", page2, err, want)
	}
}
