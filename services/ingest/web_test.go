package ingest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/pkg/testenv"
)

// ----------------------------------------------------------------- the page

func get(t *testing.T, h http.Handler, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebPage(t *testing.T) {
	h := New(Config{}, platform.Deps{Log: zap.NewNop()}).Router()

	rec := get(t, h, "/", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET / Content-Type = %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("GET / Content-Security-Policy = %q", csp)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET / without X-Content-Type-Options: nosniff")
	}
	page := rec.Body.String()
	for _, want := range []string{
		`<html lang="en">`,
		`<label for="api-key">`, `id="api-key"`,
		`id="drop-zone"`, `<label for="file"`, `type="file"`,
		`<label for="schema">`, `<select id="schema"`,
		`<label for="mode">`, `value="insert"`, `value="upsert" selected`, `value="update"`, `value="replace"`,
		`<label for="key">`, `<label for="dry-run">`, `type="checkbox"`,
		`<label for="date-format">`, `name="date_format"`,
		`<button type="submit" id="upload-button"`,
		`<progress id="progress-bar"`, `id="live-created"`, `id="live-failed"`,
		`id="summary-status"`, `id="sum-created"`, `id="sum-updated"`, `id="sum-skipped"`, `id="sum-failed"`,
		`id="errors-table"`, `id="errors-prev"`, `id="errors-next"`, `id="download-errors"`,
		`id="recent-table"`, `id="refresh-imports"`,
		`role="alert"`,
		`src="/ui/app.js"`, `href="/ui/app.css"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// No external resources: every src and href is local.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "/") && !strings.HasPrefix(m[1], "#") || strings.HasPrefix(m[1], "//") {
			t.Errorf("the page loads %q, not a local resource", m[1])
		}
	}
	// Every element the script looks up by a literal ID exists.
	js := get(t, h, "/ui/app.js", nil).Body.String()
	for _, m := range regexp.MustCompile(`\$\('([^']+)'\)`).FindAllStringSubmatch(js, -1) {
		if !strings.Contains(page, `id="`+m[1]+`"`) {
			t.Errorf("app.js uses #%s, which the page lacks", m[1])
		}
	}
	for _, k := range []string{"created", "updated", "skipped", "failed"} {
		for _, prefix := range []string{"live-", "sum-"} {
			if !strings.Contains(page, `id="`+prefix+k+`"`) {
				t.Errorf("the page lacks #%s%s", prefix, k)
			}
		}
	}
	// The key travels in a header, never in a URL.
	if !strings.Contains(js, "'X-API-Key'") || strings.Contains(js, "api_key=") {
		t.Errorf("app.js should send the key as X-API-Key and never as a query parameter")
	}
}

func TestWebAssets(t *testing.T) {
	h := New(Config{}, platform.Deps{Log: zap.NewNop()}).Router()
	for path, ctype := range map[string]string{
		"/ui/app.js":      "javascript",
		"/ui/app.css":     "text/css",
		"/ui/favicon.svg": "image/svg+xml",
		"/ui/index.html":  "text/html",
	} {
		rec := get(t, h, path, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d (%d bytes)", path, rec.Code, rec.Body.Len())
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, ctype) {
			t.Errorf("GET %s Content-Type = %q, want %s", path, ct, ctype)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s has no ETag", path)
			continue
		}
		if again := get(t, h, path, http.Header{"If-None-Match": {etag}}); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match = %d, want 304", path, again.Code)
		}
	}
	for _, path := range []string{"/ui/", "/ui/nothing.js", "/ui/../web.go"} {
		if rec := get(t, h, path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, rec.Code)
		}
	}
}

// ------------------------------------------------------------------ events

// eventsEnv is the API on an embedded nats-server and FerretDB, without the
// pipeline: tests write summaries themselves.
type eventsEnv struct {
	api   *API
	store *store.Store
	nc    *nats.Conn
	js    jetstream.JetStream
}

func newEventsEnv(t *testing.T) *eventsEnv { return newEventsEnvWith(t, Config{}, nil) }

// newEventsEnvWith is newEventsEnv with the API's configuration and metrics.
func newEventsEnvWith(t *testing.T, cfg Config, m *metrics.Metrics) *eventsEnv {
	t.Helper()
	b := startBackends(t)
	st := store.New(b.client, "intake", nil)
	d := platform.Deps{NC: b.nc, JS: b.js, Store: st, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: m}
	return &eventsEnv{api: New(cfg, d), store: st, nc: b.nc, js: b.js}
}

func (e *eventsEnv) save(t *testing.T, sum *ledger.Summary) {
	t.Helper()
	if sum.CreatedAt.IsZero() {
		sum.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	}
	sum.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	if err := e.store.SaveSummary(context.Background(), sum); err != nil {
		t.Fatal(err)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Name string
	Data ImportView
}

// sseReader reads events from a stream, skipping (and counting) comments.
type sseReader struct{ *testenv.EventReader }

func (s sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var err error
	ev.Name, err = s.Next(&ev.Data)
	return ev, err
}

// openEvents starts GET /v1/imports/{id}/events and checks it is a stream.
func openEvents(t *testing.T, base, id string) (*http.Response, *sseReader) {
	t.Helper()
	resp, err := http.Get(base + "/v1/imports/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("events = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events Content-Type = %q", ct)
	}
	return resp, &sseReader{testenv.NewEventReader(resp.Body)}
}

// nextWithin reads the next event, failing the test if none comes in time.
func nextWithin(t *testing.T, s *sseReader, limit time.Duration) (sseEvent, error) {
	t.Helper()
	type res struct {
		ev  sseEvent
		err error
	}
	c := make(chan res, 1)
	go func() { ev, err := s.next(); c <- res{ev, err} }()
	select {
	case r := <-c:
		return r.ev, r.err
	case <-time.After(limit):
		t.Fatalf("no event within %s", limit)
		return sseEvent{}, nil
	}
}

// restOf reads events until the stream ends, each within limit.
func restOf(t *testing.T, s *sseReader, limit time.Duration) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for {
		ev, err := nextWithin(t, s, limit)
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func TestEventsFinishedImport(t *testing.T) {
	e := newEventsEnv(t)
	srv := httptest.NewServer(e.api.Router())
	defer srv.Close()
	done := time.Now().UTC().Truncate(time.Millisecond)
	e.save(t, &ledger.Summary{ID: "imp_done", Tenant: "default", Status: ledger.StatusCompleted, Sealed: true, Total: 5,
		Options: envelope.Options{Schema: "contacts", Mode: "upsert", Key: "email"}, Source: "people.csv",
		Counts: envelope.Counts{Created: 2, Updated: 1, Skipped: 2}, CompletedAt: &done})
	e.save(t, &ledger.Summary{ID: "imp_theirs", Tenant: "acme", Status: ledger.StatusCompleted, Sealed: true, Total: 1,
		Counts: envelope.Counts{Created: 1}})

	_, s := openEvents(t, srv.URL, "imp_done")
	var names []string
	var last sseEvent
	for _, ev := range restOf(t, s, 10*time.Second) {
		names = append(names, ev.Name)
		last = ev
	}
	if strings.Join(names, ",") != "progress,done" {
		t.Fatalf("events = %v, want progress then done", names)
	}
	v := last.Data
	if v.ID != "imp_done" || v.Status != "completed" || v.Total != 5 || v.Processed != 5 || v.Created != 2 || v.Updated != 1 || v.Skipped != 2 || v.Failed != 0 || v.Source != "people.csv" {
		t.Errorf("done = %+v", v)
	}
	var get ImportView
	resp, err := http.Get(srv.URL + "/v1/imports/imp_done")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&get)
	resp.Body.Close()
	a, _ := json.Marshal(get)
	b, _ := json.Marshal(v)
	if string(a) != string(b) {
		t.Errorf("done differs from GET /v1/imports/imp_done:\n%s\n%s", b, a)
	}

	// Unknown imports and other tenants' are 404 JSON before any stream; so
	// is a wildcard, which once matched the tenant's latest event of any import.
	opened, _ := json.Marshal(envelope.Event{Type: envelope.EventOpened, Tenant: "default", Import: "imp_pending", At: time.Now().UTC()})
	if _, err := e.js.Publish(context.Background(), subjects.For(subjects.Events, "default", "imp_pending"), opened); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"imp_unknown", "imp_theirs", "*", ">", "imp_pending.x"} {
		resp, err := http.Get(srv.URL + "/v1/imports/" + id + "/events")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
			!strings.Contains(string(body), `"error":"import not found"`) {
			t.Errorf("events of %s = %d %s %s, want 404 JSON", id, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestEventsFollowProgress(t *testing.T) {
	defer func(h time.Duration) { eventsHeartbeat = h }(eventsHeartbeat)
	eventsHeartbeat = 200 * time.Millisecond
	e := newEventsEnv(t)
	srv := httptest.NewServer(e.api.Router())
	defer srv.Close()

	// Accepted but not yet seen by the reporter: known from the opened event.
	id, tenant := "imp_live", "default"
	opened := envelope.Event{Type: envelope.EventOpened, Tenant: tenant, Import: id,
		Options: &envelope.Options{Schema: "contacts", Mode: "insert", Key: "email"}, At: time.Now().UTC()}
	data, _ := json.Marshal(opened)
	if _, err := e.js.Publish(context.Background(), subjects.For(subjects.Events, tenant, id), data); err != nil {
		t.Fatal(err)
	}
	_, s := openEvents(t, srv.URL, id)
	ev, err := nextWithin(t, s, 5*time.Second)
	if err != nil || ev.Name != "progress" || ev.Data.Status != "processing" || ev.Data.Mode != "insert" {
		t.Fatalf("first event = %+v, %v", ev, err)
	}

	// The reporter's counts, polled (no event is published for them).
	sum := &ledger.Summary{ID: id, Tenant: tenant, Status: ledger.StatusProcessing, Sealed: true, Total: 1000,
		Options: envelope.Options{Schema: "contacts", Mode: "insert", Key: "email"}, Counts: envelope.Counts{Created: 400, Failed: 100}}
	e.save(t, sum)
	ev, err = nextWithin(t, s, 5*time.Second)
	if err != nil || ev.Name != "progress" || ev.Data.Processed != 500 || ev.Data.Total != 1000 || ev.Data.Created != 400 {
		t.Fatalf("after the first chunks: %+v, %v", ev, err)
	}
	// Nothing changes for a while: heartbeats, and no repeated progress (checked below).
	time.Sleep(700 * time.Millisecond)

	// Completed: the lifecycle event wakes the stream at once.
	now := time.Now().UTC()
	sum.Status, sum.Counts, sum.CompletedAt = ledger.StatusCompleted, envelope.Counts{Created: 880, Failed: 120}, &now
	e.save(t, sum)
	data, _ = json.Marshal(envelope.Event{Type: envelope.EventCompleted, Tenant: tenant, Import: id, At: now})
	if err := e.nc.Publish(subjects.For(subjects.Events, tenant, id), data); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range restOf(t, s, 5*time.Second) {
		names = append(names, ev.Name)
		if ev.Data.Processed == 500 {
			t.Errorf("an unchanged summary was sent again: %+v", ev)
		}
		if ev.Name == "done" && (ev.Data.Status != "completed" || ev.Data.Processed != 1000 || ev.Data.Failed != 120) {
			t.Errorf("done = %+v", ev.Data)
		}
	}
	if len(names) == 0 || names[len(names)-1] != "done" {
		t.Errorf("final events = %v, want ending with done", names)
	}
	if s.Comments == 0 {
		t.Errorf("no heartbeat comment while the import did not change")
	}
}

// A stream ends when the server shuts down, so a graceful shutdown does not
// wait for its grace period, and when it is old enough.
func TestEventsEndOnShutdownAndAge(t *testing.T) {
	e := newEventsEnv(t)
	e.save(t, &ledger.Summary{ID: "imp_slow", Tenant: "default", Status: ledger.StatusProcessing, Sealed: true, Total: 10})

	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, "127.0.0.1:0", e.api.Router(), 20*time.Second, func(a string) { addr <- a }, zap.NewNop())
	}()
	base := "http://" + <-addr
	resp, s := openEvents(t, base, "imp_slow")
	if ev, err := nextWithin(t, s, 5*time.Second); err != nil || ev.Name != "progress" {
		t.Fatalf("first event = %+v, %v", ev, err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not shut down within 10s with an events stream open")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %s with an events stream open", took)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Logf("stream ended with %v", err)
	}

	defer func(d time.Duration) { eventsMaxAge = d }(eventsMaxAge)
	eventsMaxAge = time.Second
	srv := httptest.NewServer(e.api.Router())
	defer srv.Close()
	_, s = openEvents(t, srv.URL, "imp_slow")
	for {
		ev, err := nextWithin(t, s, 5*time.Second)
		if err != nil {
			break // ended
		}
		if ev.Name != "progress" {
			t.Fatalf("event %s from a processing import", ev.Name)
		}
	}
}
