package upstream_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/services/upstream"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// publishSealWait publishes rows (with header, or nil once the import has
// one), seals the import and waits for it to end.
func publishSealWait(t *testing.T, ctx context.Context, im *client.Import, rows [][]string, header []string) *client.SummaryReply {
	t.Helper()
	return publishWait(t, ctx, im, rows, header, im.Seal)
}

// publishWait publishes rows as publishSealWait does, then calls finish
// (im.Seal, or im.Flush to leave the import unsealed) and waits for the
// import to end.
func publishWait(t *testing.T, ctx context.Context, im *client.Import, rows [][]string, header []string, finish func(context.Context) error) *client.SummaryReply {
	t.Helper()
	if err := im.Publish(ctx, rows, header); err != nil {
		t.Fatal(err)
	}
	if err := finish(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := im.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newClient is a client on the shared test connection.
func newClient(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	return clientOn(t, env.nc, opts...)
}

// clientOn is a client on nc; the test fails if it cannot be made.
func clientOn(t *testing.T, nc *nats.Conn, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// contacts builds n rows of the contacts schema: every 50th (from the 8th)
// has an invalid email, every 40th repeats the email of the row before it
// in other case; want is what importing them into an empty tenant gives.
func contacts(n int, salt string) (rows [][]string, want client.Summary, errRows map[int]bool) {
	seen := map[string]bool{}
	errRows = map[int]bool{}
	for i := 0; i < n; i++ {
		row := i + 2
		email := fmt.Sprintf("user%d.%s@example.com", i, salt)
		switch {
		case i%50 == 7:
			email = fmt.Sprintf("user%d@", i)
		case i%40 == 39:
			email = strings.ToUpper(fmt.Sprintf("user%d.%s@example.com", i-1, salt))
		}
		rows = append(rows, []string{fmt.Sprintf("Person %d", i), email, "", fmt.Sprintf("Company %d", i%7)})
		switch key := strings.ToLower(email); {
		case strings.HasSuffix(email, "@"):
			want.Failed++
			errRows[row] = true
		case seen[key]:
			want.Skipped++
		default:
			seen[key] = true
			want.Created++
		}
	}
	want.Total, want.Processed = n, n
	return rows, want, errRows
}

var contactsHeader = []string{"Full Name", "E-mail", "Phone Number", "Company"}

// The whole protocol through the client: 100,000 rows in 200 chunks, with
// an idempotency key, and the exact summary.
func TestClientImports100000Rows(t *testing.T) {
	const tenant, n = "bulk", 100_000
	ctx := ctxFor(t, 5*time.Minute)
	c := newClient(t)
	rows, want, errRows := contacts(n, "bulk")
	req := client.OpenRequest{Tenant: tenant, Schema: "contacts", Mode: "upsert", Source: "crm-sync", Header: contactsHeader, IdempotencyKey: "crm-sync/2025-03-14"}
	im, err := c.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if im.Existing || !reflect.DeepEqual(im.Options, client.ImportOptions{Schema: "contacts", Mode: "upsert", Key: "email"}) {
		t.Fatalf("open: existing %v options %+v", im.Existing, im.Options)
	}
	// Opening again with the same key is the same import.
	again, err := c.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != im.ID || !again.Existing {
		t.Fatalf("second open with the same key: %s (existing %v), want %s", again.ID, again.Existing, im.ID)
	}

	start := time.Now()
	for i := 0; i < n; i += 1000 { // as a producer would, in batches
		if err := im.Publish(ctx, rows[i:i+1000], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	published := time.Since(start)
	sum, err := im.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows published in %s, completed after %s (%d chunk retries)", n, published.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), im.Retries())

	if im.Chunks() != n/500 {
		t.Errorf("%d chunks, want %d", im.Chunks(), n/500)
	}
	if sum.ID != im.ID || sum.Tenant != tenant || sum.Status != client.StatusCompleted || !sum.Sealed ||
		sum.Schema != "contacts" || sum.Mode != "upsert" || sum.Key != "email" || sum.Source != "crm-sync" || sum.DryRun ||
		sum.Total != want.Total || sum.Processed != want.Processed || sum.Created != want.Created || sum.Updated != 0 ||
		sum.Skipped != want.Skipped || sum.Failed != want.Failed || sum.Deleted != 0 || sum.Reason != "" {
		t.Fatalf("summary %+v,\nwant completed, total/processed %d, created %d, skipped %d, failed %d",
			*sum, want.Total, want.Created, want.Skipped, want.Failed)
	}
	if len(sum.Errors) != 100 || !sum.ErrorsTruncated || sum.CreatedAt == nil || sum.CompletedAt == nil {
		t.Fatalf("%d errors (truncated %v), created %v, completed %v", len(sum.Errors), sum.ErrorsTruncated, sum.CreatedAt, sum.CompletedAt)
	}
	for _, e := range sum.Errors {
		if !errRows[e.Row] || e.Field != "email" || e.Message == "" {
			t.Fatalf("error %+v is not one of the invalid emails", e)
		}
	}
	// Exactly the chunks published are stored, and the records are written.
	st, err := env.js.Stream(ctx, subjects.StreamRows)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subjects.Filters(subjects.Rows, tenant, im.ID)[1]))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects; len(got) != 1 || got[subjects.Stored(subjects.Rows, tenant, im.ID, streams.DefaultPartitions)] != uint64(n/500) {
		t.Errorf("row chunks stored %v, want %d in the import's partition", got, n/500)
	}
	count, err := env.mongo.Database("intake_records").Collection("records."+tenant+".contacts").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if int(count) != want.Created {
		t.Errorf("%d records stored, want %d", count, want.Created)
	}
}

func apiError(t *testing.T, err error, code int, contains string) {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != code || !strings.Contains(ae.Message, contains) {
		t.Fatalf("err = %v, want code %d containing %q", err, code, contains)
	}
}

// rawRequest sends a request as any publisher would and returns the reply.
// rawRequest sends body to an API subject with its reply on the subject's
// tenant's inbox (the only replies Intake answers on).
func rawRequest(t *testing.T, subject, body string) *nats.Msg {
	t.Helper()
	m, err := requestOn(env.nc, client.InboxPrefix(strings.Split(subject, ".")[3])+"."+nuid.Next(), subject, body, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// requestOn sends a request whose reply subject is reply, and waits for the answer.
func requestOn(nc *nats.Conn, reply, subject, body string, timeout time.Duration) (*nats.Msg, error) {
	sub, err := nc.SubscribeSync(reply)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, reply, []byte(body)); err != nil {
		return nil, err
	}
	return sub.NextMsg(timeout)
}

func TestOpenRejectsBadRequests(t *testing.T) {
	t.Parallel()
	const tenant = "errs"
	ctx := ctxFor(t, time.Minute)
	c := newClient(t)
	for _, tt := range []struct {
		name string
		req  client.OpenRequest
		want string
	}{
		{"unknown schema", client.OpenRequest{Schema: "nope"}, `unknown schema "nope" (known: audience_users, community_users, contacts, customers, persons, phonebook_contacts)`},
		{"unknown mode", client.OpenRequest{Mode: "merge"}, `unknown mode "merge"`},
		{"unknown key", client.OpenRequest{Key: "company"}, "company"},
		{"header matching nothing", client.OpenRequest{Header: []string{"Colour", "Size"}}, "header:"},
		{"mapping to an unknown field", client.OpenRequest{Mapping: mapping.Given{"Mail": ptr("fax")}}, `mapping: column "Mail": schema contacts has no field "fax"`},
		{"mapping a column the header lacks", client.OpenRequest{Header: []string{"Name", "Email"}, Mapping: mapping.Given{"Mail": ptr("email")}}, `the file has no column "Mail"`},
		{"no column for the key", client.OpenRequest{Header: []string{"Name", "Phone"}}, "no column provides email (required as the reconciliation key)"},
		{"bad date_format", client.OpenRequest{DateFormat: "dd/mm"}, `date_format "dd/mm" is neither dmy, mdy, ymd nor a Go layout`},
		{"tenant mismatch", client.OpenRequest{Tenant: "globex"}, `tenant "globex" in the request does not match the subject's tenant "errs"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			subject := client.APISubject(tenant, client.OpOpen)
			body, _ := json.Marshal(tt.req)
			m := rawRequest(t, subject, string(body))
			if m.Header.Get(client.HeaderErrorCode) != "400" {
				t.Fatalf("reply %q with headers %v, want error code 400", m.Data, m.Header)
			}
			var er client.ErrorReply
			if err := json.Unmarshal(m.Data, &er); err != nil || er.Code != 400 || !strings.Contains(er.Error, tt.want) {
				t.Fatalf("reply %q, want an error containing %q", m.Data, tt.want)
			}
		})
	}
	// Malformed and misspelt requests.
	m := rawRequest(t, client.APISubject(tenant, client.OpOpen), `{"schema": "contacts",`)
	if !strings.Contains(string(m.Data), "malformed request") {
		t.Fatalf("malformed JSON: %q", m.Data)
	}
	m = rawRequest(t, client.APISubject(tenant, client.OpOpen), `{"shema": "contacts"}`)
	if !strings.Contains(string(m.Data), `unknown field \"shema\"`) {
		t.Fatalf("misspelt field: %q", m.Data)
	}
	// Through the client: a typed error.
	_, err := c.Open(ctx, client.OpenRequest{Tenant: tenant, Schema: "nope"})
	apiError(t, err, client.CodeBadRequest, `unknown schema "nope"`)

	// Seal and summary of imports that do not exist, or are another tenant's.
	total := 1
	_, err = c.SealImport(ctx, tenant, client.SealRequest{ID: "imp_neveropened", Total: &total})
	apiError(t, err, client.CodeNotFound, "unknown import imp_neveropened")
	_, err = c.SealImport(ctx, tenant, client.SealRequest{ID: "imp_x"})
	apiError(t, err, client.CodeBadRequest, "total")
	_, err = c.SealImport(ctx, tenant, client.SealRequest{ID: "bad id", Total: &total})
	apiError(t, err, client.CodeBadRequest, "invalid import id")
	other, err := c.Open(ctx, client.OpenRequest{Tenant: "errs2"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Summary(ctx, tenant, other.ID)
	apiError(t, err, client.CodeNotFound, "unknown import")
	_, err = c.SealImport(ctx, tenant, client.SealRequest{ID: other.ID, Total: &total})
	apiError(t, err, client.CodeNotFound, "unknown import")
	// The owner sees it (processing: opened, nothing published yet).
	s, err := c.Summary(ctx, "errs2", other.ID)
	if err != nil || s.Status != client.StatusProcessing || s.Schema != "contacts" {
		t.Fatalf("summary %+v, %v", s, err)
	}
	if err := other.Abandon(ctx, "test over"); err != nil {
		t.Fatal(err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	const tenant = "idem"
	ctx := ctxFor(t, time.Minute)
	c := newClient(t)
	first, err := c.Open(ctx, client.OpenRequest{Tenant: tenant, IdempotencyKey: "batch 7 / ü"})
	if err != nil {
		t.Fatal(err)
	}
	// Other options with the same key: a conflict, not a second import.
	_, err = c.Open(ctx, client.OpenRequest{Tenant: tenant, Mode: "insert", IdempotencyKey: "batch 7 / ü"})
	apiError(t, err, client.CodeConflict, "idempotency key already used for import "+first.ID)
	// The same key of another tenant is another import.
	otherTenant, err := c.Open(ctx, client.OpenRequest{Tenant: "idem2", IdempotencyKey: "batch 7 / ü"})
	if err != nil || otherTenant.ID == first.ID || otherTenant.Existing {
		t.Fatalf("other tenant: %+v, %v", otherTenant, err)
	}
	// An open that stored its key but crashed before announcing the import:
	// the retry announces it.
	id := ids.NewImport()
	kv, err := env.js.KeyValue(ctx, upstream.IdempotencyBucket)
	if err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf(`{"id":%q,"options":{"schema":"contacts","mode":"upsert","key":"email"},"source":"nats","opened":false}`, id)
	if _, err := kv.Create(ctx, tenant+"."+base64.RawURLEncoding.EncodeToString([]byte("crashed")), []byte(rec)); err != nil {
		t.Fatal(err)
	}
	im, err := c.Open(ctx, client.OpenRequest{Tenant: tenant, IdempotencyKey: "crashed"})
	if err != nil || im.ID != id || !im.Existing {
		t.Fatalf("retry after a crash: %+v, %v; want import %s", im, err, id)
	}
	s := publishSealWait(t, ctx, im, [][]string{{"Ann", "ann@example.com", "", ""}}, contactsHeader)
	if s.Status != client.StatusCompleted || s.Created != 1 || s.Schema != "contacts" {
		t.Fatalf("summary %+v", s)
	}
	// Sealing again with the same count is fine; with another, a conflict.
	one, two := 1, 2
	if _, err := c.SealImport(ctx, tenant, client.SealRequest{ID: id, Total: &one}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SealImport(ctx, tenant, client.SealRequest{ID: id, Total: &two})
	apiError(t, err, client.CodeConflict, "already sealed with total 1")
	if err := first.Abandon(ctx, "test over"); err != nil {
		t.Fatal(err)
	}
	if err := otherTenant.Abandon(ctx, "test over"); err != nil {
		t.Fatal(err)
	}
}

// A chunk that is not JSON is dead-lettered by the validator, and its
// publisher hears at once: its rows are unknown, so the import fails with
// the reason (in the summary, the failed event and the answer to a later
// seal) instead of waiting for the unsealed-import timeout.
func TestMalformedChunkFailsTheImportAtOnce(t *testing.T) {
	t.Parallel()
	const tenant = "junk"
	ctx := ctxFor(t, 2*time.Minute)
	c := newClient(t, client.WithChunkSize(10))
	im, err := c.Open(ctx, client.OpenRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := contacts(20, "junk")
	if err := im.Publish(ctx, rows[:10], contactsHeader); err != nil {
		t.Fatal(err)
	}
	if err := im.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A broken publisher's chunk, between the good ones.
	bad := nats.NewMsg(subjects.For(subjects.Rows, tenant, im.ID))
	bad.Data = []byte(`{"tenant": "junk", "import": "` + im.ID + `", "rows": [{"row": 2, "cells": [`)
	bad.Header.Set(jetstream.MsgIDHeader, im.ID+":rows:99")
	if _, err := env.js.PublishMsg(ctx, bad); err != nil {
		t.Fatal(err)
	}
	s := waitFinished(t, c, tenant, im.ID, time.Minute) // no seal: the failure does not wait for one
	if s.Status != client.StatusFailed || !strings.Contains(s.Reason, "could not be read") || !strings.Contains(s.Reason, "malformed row chunk") {
		t.Fatalf("summary %+v, want failed with the reason", s)
	}
	ev, err := env.js.Stream(ctx, subjects.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	last, err := ev.GetLastMsgForSubject(ctx, subjects.For(subjects.Events, tenant, im.ID))
	if err != nil {
		t.Fatal(err)
	}
	var event envelope.Event
	if err := json.Unmarshal(last.Data, &event); err != nil || event.Type != envelope.EventFailed || !strings.Contains(event.Reason, "could not be read") {
		t.Fatalf("last event %s (%v), want failed with the reason", last.Data, err)
	}
	// The publisher, going on, is told when it seals.
	if err := im.Publish(ctx, rows[10:], contactsHeader); err != nil {
		t.Fatal(err)
	}
	if err := im.Seal(ctx); err == nil || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("seal after the failure: %v, want the failure's reason", err)
	}
	st, err := env.js.Stream(ctx, subjects.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := st.GetLastMsgForSubject(ctx, subjects.DeadFor(envelope.StageValidate, subjects.For(subjects.Rows, tenant, im.ID)))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if string(dead.Data) != string(bad.Data) || !strings.Contains(dead.Header.Get("Intake-Reason"), "malformed row chunk") {
		t.Fatalf("dead letter %q, reason %q", dead.Data, dead.Header.Get("Intake-Reason"))
	}
}

// waitFinished polls the summary until the import has finished; the
// summary may not exist at first (rows of an import never opened).
func waitFinished(t *testing.T, c *client.Client, tenant, id string, limit time.Duration) *client.SummaryReply {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s, err := c.Summary(context.Background(), tenant, id)
		if err == nil && s.Done() {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s not finished after %s: %+v, %v", id, limit, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Rows of an import that was never opened are validated, written and
// counted, and the import ends failed by the unsealed-import timeout.
func TestRowsOfAnImportNeverOpenedTimeOut(t *testing.T) {
	t.Parallel()
	const tenant = "ghost"
	ctx := ctxFor(t, time.Minute)
	id := ids.NewImport()
	rows, want, _ := contacts(3, "ghost")
	ch := envelope.RowChunk{Tenant: tenant, Import: id, Options: envelope.Options{Schema: "contacts", Mode: "upsert"}, Header: contactsHeader}
	for i, r := range rows {
		ch.Rows = append(ch.Rows, envelope.RawRow{Row: i + 2, Cells: r})
	}
	data, _ := json.Marshal(ch)
	m := nats.NewMsg(subjects.For(subjects.Rows, tenant, id))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, subjects.RowsMsgID(subjects.RowsPrefix(tenant, id, ids.NewSecret()), 0))
	if _, err := env.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := waitFinished(t, newClient(t), tenant, id, unsealedTimeout+30*time.Second)
	wantReason := fmt.Sprintf("timed out: 3 rows accounted for after %s; the import was never opened or sealed", unsealedTimeout)
	if s.Status != client.StatusFailed || s.Reason != wantReason || s.Processed != 3 || s.Created != want.Created || s.Sealed {
		t.Fatalf("summary %+v, want failed: %q", s, wantReason)
	}
	if since := time.Since(start); since < unsealedTimeout {
		t.Fatalf("timed out after %s, before the timeout of %s", since, unsealedTimeout)
	}
}

// An import opened and never sealed ends failed after the timeout, and the
// failed event wakes Wait.
func TestUnsealedImportTimesOut(t *testing.T) {
	t.Parallel()
	const tenant = "idle"
	ctx := ctxFor(t, time.Minute)
	c := newClient(t, client.WithPollInterval(time.Minute)) // only the event can wake Wait in time
	im, err := c.Open(ctx, client.OpenRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := contacts(3, "idle")
	// Wait reads "processing" first, then sleeps until the failed event.
	s := publishWait(t, ctx, im, rows, contactsHeader, im.Flush)
	wantReason := fmt.Sprintf("timed out: 3 rows accounted for after %s; the import was never sealed", unsealedTimeout)
	if s.Status != client.StatusFailed || s.Reason != wantReason || s.Processed != 3 || s.Created != 3 || s.CompletedAt == nil {
		t.Fatalf("summary %+v, want failed: %q", s, wantReason)
	}
	// A late seal is refused: the import has ended.
	three := 3
	_, err = c.SealImport(ctx, tenant, client.SealRequest{ID: im.ID, Total: &three})
	apiError(t, err, client.CodeConflict, "already ended failed")
}

func TestSealCountDisagreesWithRows(t *testing.T) {
	t.Parallel()
	const tenant = "count"
	c := newClient(t, client.WithChunkSize(10))
	// openSealWait opens an import, publishes n rows, seals it at sealed
	// rows and waits for it to end.
	openSealWait := func(t *testing.T, n, sealed int) *client.SummaryReply {
		t.Helper()
		ctx := ctxFor(t, time.Minute)
		im, err := c.Open(ctx, client.OpenRequest{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		rows := make([][]string, n)
		for i := range rows {
			rows[i] = []string{fmt.Sprintf("P%d", i), fmt.Sprintf("%s.%d@example.com", im.ID, i), "", ""}
		}
		// Seal at the stated total, not the count of rows published.
		return publishWait(t, ctx, im, rows, contactsHeader, func(ctx context.Context) error {
			if err := im.Flush(ctx); err != nil {
				return err
			}
			_, err := c.SealImport(ctx, tenant, client.SealRequest{ID: im.ID, Total: &sealed})
			return err
		})
	}
	t.Run("more rows than sealed", func(t *testing.T) {
		t.Parallel()
		s := openSealWait(t, 5, 3)
		if s.Status != client.StatusFailed || s.Reason != "accounting error: 5 outcomes for 3 rows" {
			t.Fatalf("summary %+v, want failed with an accounting error", s)
		}
	})
	t.Run("fewer rows than sealed", func(t *testing.T) {
		t.Parallel()
		s := openSealWait(t, 5, 8)
		want := fmt.Sprintf("timed out: 5 of 8 rows accounted for after %s", unsealedTimeout)
		if s.Status != client.StatusFailed || s.Reason != want || s.Total != 8 || s.Processed != 5 {
			t.Fatalf("summary %+v, want failed: %q", s, want)
		}
	})
}

// A chunk larger than the broker takes: the client gets a clear error, and
// a raw publish is refused by the server.
func TestChunkTooLarge(t *testing.T) {
	t.Parallel()
	const tenant = "huge"
	ctx := ctxFor(t, time.Minute)
	c := newClient(t)
	im, err := c.Open(ctx, client.OpenRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 9<<20)
	err = im.Publish(ctx, [][]string{{big, "a@example.com", "", ""}}, contactsHeader)
	if err == nil {
		err = im.Seal(ctx)
	}
	if !errors.Is(err, client.ErrChunkTooLarge) || !strings.Contains(err.Error(), "row 2 of import "+im.ID) {
		t.Fatalf("err = %v, want ErrChunkTooLarge naming row 2", err)
	}
	// Bypassing the client: the server refuses the message.
	m := nats.NewMsg(subjects.For(subjects.Rows, tenant, im.ID))
	m.Data = []byte(big)
	if _, err := env.js.PublishMsg(ctx, m); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("raw publish of 9 MiB: %v, want %v", err, nats.ErrMaxPayload)
	}
	// The pipeline goes on: a normal import of the same tenant completes.
	ok, err := c.Open(ctx, client.OpenRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Publish(ctx, [][]string{{"Ann", "ann@example.com", "", ""}}, contactsHeader); err != nil {
		t.Fatal(err)
	}
	if err := ok.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := ok.Wait(ctx); err != nil || s.Status != client.StatusCompleted {
		t.Fatalf("summary %+v, %v", s, err)
	}
	if err := abandonRaw(ctx, c, tenant, im.ID); err != nil {
		t.Fatal(err)
	}
}

// abandonRaw seals an import with no rows and a reason, so it ends at once.
func abandonRaw(ctx context.Context, c *client.Client, tenant, id string) error {
	zero := 0
	_, err := c.SealImport(ctx, tenant, client.SealRequest{ID: id, Total: &zero, Reason: "test over"})
	return err
}

// The upstream service answers only on the requesting tenant's inbox: a
// request whose reply subject points elsewhere (another tenant's inbox, the
// idempotency bucket's entry of another tenant) is not served at all, so
// it neither opens an import nor writes where it points.
func TestAnswersOnlyOnTheTenantsInbox(t *testing.T) {
	t.Parallel()
	const tenant, victim, key = "inboxes", "inboxes-victim", "sync-42"
	ctx := ctxFor(t, time.Minute)
	b64 := base64.RawURLEncoding.EncodeToString([]byte(key))
	refusedBefore := testutil.ToFloat64(env.metrics.UpstreamRefusedReplies)
	body, _ := json.Marshal(client.OpenRequest{Schema: "contacts", IdempotencyKey: key})
	bad := []string{"$KV." + upstream.IdempotencyBucket + "." + victim + "." + b64, client.InboxPrefix(victim) + ".x", "_INBOX.x"}
	for _, reply := range bad {
		m := nats.NewMsg(client.APISubject(tenant, client.OpOpen))
		m.Reply, m.Data = reply, body
		if err := env.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for testutil.ToFloat64(env.metrics.UpstreamRefusedReplies) < refusedBefore+float64(len(bad)) {
		if ctx.Err() != nil {
			t.Fatalf("refused %v requests, want %d", testutil.ToFloat64(env.metrics.UpstreamRefusedReplies)-refusedBefore, len(bad))
		}
		time.Sleep(20 * time.Millisecond)
	}
	kv, err := env.js.KeyValue(ctx, upstream.IdempotencyBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{tenant + "." + b64, victim + "." + b64} {
		if e, err := kv.Get(ctx, k); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("idempotency entry %s: %v %v, want none", k, e, err)
		}
	}
	// The victim's open with that key is a new import of its own, and the
	// requester's with its own inbox is answered.
	c := newClient(t)
	v, err := c.OpenImport(ctx, client.OpenRequest{Tenant: victim, Schema: "contacts", IdempotencyKey: key})
	if err != nil || v.Existing || v.Tenant != victim {
		t.Fatalf("victim's open: %+v %v", v, err)
	}
	m := rawRequest(t, client.APISubject(tenant, client.OpOpen), string(body))
	var rep client.OpenReply
	if err := json.Unmarshal(m.Data, &rep); err != nil || rep.ID == "" || rep.ID == v.ID || rep.Existing || !strings.HasPrefix(rep.RowsMsgIDPrefix, tenant+"."+rep.ID+".") {
		t.Fatalf("requester's own open: %s (%v)", m.Data, err)
	}
}

// The protocol's summary is the HTTP API's: for a replay of an import
// published over NATS, the summary reply holds exactly what
// GET /v1/imports/{id} shows (replay_of included), plus sealed.
func TestSummaryAnswersAsTheHTTPAPI(t *testing.T) {
	const tenant = "default" // the tenant of the test's open HTTP API
	ctx := ctxFor(t, 2*time.Minute)
	c := newClient(t)
	rows, _, _ := contacts(60, "same")
	im, err := c.Open(ctx, client.OpenRequest{Tenant: tenant, Schema: "contacts", Source: "crm", Header: contactsHeader})
	if err != nil {
		t.Fatal(err)
	}
	publishSealWait(t, ctx, im, rows, nil)
	resp, err := http.Post("http://"+env.info.HTTPAddr+"/v1/imports/"+im.ID+"/replay", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var replay struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&replay)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted || replay.ID == "" {
		t.Fatalf("replay: %s %+v %v", resp.Status, replay, err)
	}
	rep := waitFinished(t, c, tenant, replay.ID, time.Minute)

	resp, err = http.Get("http://" + env.info.HTTPAddr + "/v1/imports/" + replay.ID)
	if err != nil {
		t.Fatal(err)
	}
	var viaHTTP client.Summary
	err = json.NewDecoder(resp.Body).Decode(&viaHTTP)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s %v", resp.Status, err)
	}
	if rep.ReplayOf != im.ID || !rep.Sealed || rep.Schema != "contacts" || rep.Processed != 60 || rep.Failed == 0 || len(rep.Errors) == 0 {
		t.Errorf("summary reply %+v, want a sealed replay of %s with its row errors", *rep, im.ID)
	}
	if !reflect.DeepEqual(rep.Summary, viaHTTP) {
		t.Errorf("over NATS %+v,\nover HTTP %+v", rep.Summary, viaHTTP)
	}
}

func ptr(s string) *string { return &s }

// An open with a header and a mapping maps the rows as told: the chunks
// carry the mapping (the client puts the open reply's options on each), and
// the summary says how every column was mapped.
func TestOpenWithMapping(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t, time.Minute)
	c := newClient(t)
	header := []string{"Contact", "Mail 1", "Telephone"}
	im, err := c.Open(ctx, client.OpenRequest{Tenant: "mapped", Header: header, Mapping: mapping.Given{"Mail 1": ptr("email"), "Telephone": nil}})
	if err != nil {
		t.Fatal(err)
	}
	s := publishSealWait(t, ctx, im, [][]string{{"Ann", "ann@x.example", "not a phone"}}, header)
	if s.Status != client.StatusCompleted || s.Created != 1 || s.Mapping == nil {
		t.Fatalf("summary %+v", s)
	}
	want := []mapping.Column{
		{Column: "Contact", Field: "name", Reason: mapping.ReasonAlias},
		{Column: "Mail 1", Field: "email", Reason: mapping.ReasonGiven},
		{Column: "Telephone", Reason: mapping.ReasonIgnored, Note: "ignored by the mapping"},
	}
	if !reflect.DeepEqual(s.Mapping.Columns, want) || !reflect.DeepEqual(s.Mapping.Ignored, []string{"Telephone"}) {
		t.Errorf("mapping %+v", s.Mapping)
	}
}
