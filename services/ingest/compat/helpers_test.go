package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/schema/schematest"
	"github.com/intake/intake/pkg/templates"
	"github.com/intake/intake/schemas"
	"github.com/intake/intake/services/ingest/compat"
)

const testSecret = "compat-test-secret-0123456789abcdef-0123456789"

// fakeKeys is an in-memory auth.KeyStore (as in pkg/auth's tests).
type fakeKeys struct {
	mu   sync.Mutex
	keys map[string]auth.Key
}

func (f *fakeKeys) LookupKey(_ context.Context, hash string) (auth.Key, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[hash]
	return k, ok, nil
}

// add issues a key for tenant with caps and returns its plaintext.
func (f *fakeKeys) add(t *testing.T, tenant string, caps ...string) string {
	t.Helper()
	plain, err := auth.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	h := auth.HashKey(plain)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]auth.Key{}
	}
	f.keys[h] = auth.Key{ID: auth.KeyID(h), Prefix: auth.KeyPrefix(plain), Name: "test", Tenant: tenant, Capabilities: caps, CreatedAt: time.Now()}
	return plain
}

// env is an Authenticator with HS256 JWTs and API keys.
type env struct {
	keys *fakeKeys
	auth *auth.Authenticator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	keys := &fakeKeys{}
	a, err := auth.New(auth.Config{HS256Secret: []byte(testSecret), FailuresPerMinute: -1}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return &env{keys: keys, auth: a}
}

// jwt signs a token for tenant/sub with caps, valid for an hour.
func jwt(t *testing.T, tenant, sub string, caps ...string) string {
	t.Helper()
	return jwtWith(t, []byte(testSecret), tenant, sub, time.Now().Add(time.Hour), caps...)
}

func jwtWith(t *testing.T, secret []byte, tenant, sub string, exp time.Time, caps ...string) string {
	t.Helper()
	if caps == nil {
		caps = []string{}
	}
	tok, err := auth.SignHS256(secret, map[string]any{
		"sub": sub, "tenant": tenant, "capabilities": caps,
		"exp": exp.Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func withHeaders(hs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// serve mounts the compat routes on a test server.
func serve(t *testing.T, imp compat.Importer, cfg compat.Config) string {
	t.Helper()
	r := chi.NewRouter()
	compat.Routes(r, imp, cfg)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveAuth serves the routes with a fresh Authenticator (HS256 JWTs
// signed with testSecret) and the defaults, changed by tweak when not nil.
func serveAuth(t *testing.T, imp compat.Importer, tweak func(*compat.Config)) string {
	t.Helper()
	cfg := compat.Config{Auth: newEnv(t).auth}
	if tweak != nil {
		tweak(&cfg)
	}
	return serve(t, imp, cfg)
}

// One test server per contract, with the credentials its tests call it
// with; the tests of several files share them.

func personsServer(t *testing.T, imp *fakeImporter, tweak func(*compat.Config)) (string, map[string]string) {
	t.Helper()
	return serveAuth(t, imp, tweak), withHeaders(bearer(jwt(t, "acme", "ann", auth.CapImportsWrite)), map[string]string{"SlashID-OrgID": "acme"})
}

func personsErr(status int, msg string) string {
	return personsAuthBody(status, msg)
}

func phonebookServer(t *testing.T, imp *fakeImporter, tweak func(*compat.Config)) (string, map[string]string) {
	t.Helper()
	return serveAuth(t, imp, tweak), bearer(jwt(t, "acme", "user-1", compat.CapPhonebook))
}

func audienceServer(t *testing.T, imp *fakeImporter) (string, map[string]string) {
	t.Helper()
	return serveAuth(t, imp, nil), bearer(jwt(t, "acme", "ann", auth.CapImportsWrite, auth.CapImportsRead))
}

func communityServer(t *testing.T, imp *fakeImporter, list compat.ListFunc) (string, map[string]string) {
	t.Helper()
	return serveAuth(t, imp, func(c *compat.Config) { c.ListImports = list }),
		bearer(jwt(t, "comm1", "ann", auth.CapImportsWrite, auth.CapImportsRead))
}

func customersServer(t *testing.T, imp *fakeImporter, tweak func(*compat.Config)) (string, map[string]string) {
	t.Helper()
	return serveAuth(t, imp, tweak), bearer(jwt(t, "acme", "ann", auth.CapImportsWrite))
}

// part is one multipart part: a file part when filename is set.
type part struct {
	name, filename string
	data           string
}

func file(name, filename, data string) part { return part{name: name, filename: filename, data: data} }
func field(name, value string) part         { return part{name: name, data: value} }

func form(parts ...part) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			panic(err)
		}
		_, _ = io.WriteString(w, p.data)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// response is a decoded answer.
type response struct {
	status int
	raw    string
	header http.Header
}

// json decodes the body into v, failing on unknown fields so that every
// field of a contract's body is accounted for.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(r.raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", r.raw, err)
	}
}

func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.raw), &m); err != nil {
		t.Fatalf("not a JSON object (%d): %q", r.status, r.raw)
	}
	return m
}

func do(t *testing.T, method, url string, headers map[string]string, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	return response{status: resp.StatusCode, raw: string(data), header: resp.Header}
}

func post(t *testing.T, url string, headers map[string]string, parts ...part) response {
	t.Helper()
	ct, body := form(parts...)
	return do(t, http.MethodPost, url, headers, ct, body)
}

func get(t *testing.T, url string, headers map[string]string) response {
	t.Helper()
	return do(t, http.MethodGet, url, headers, "", nil)
}

// expect fails unless r has status and exactly the JSON body want.
func expect(t *testing.T, r response, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if want == "" {
		return
	}
	var got, exp any
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
		t.Fatalf("body %q: %v", r.raw, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Fatalf("body\n got %s\nwant %s", g, e)
	}
}

// customersTemplate returns the shipped customers schema and its XLSX
// template (the header and one example row).
func customersTemplate(t *testing.T) (*schema.Schema, []byte) {
	t.Helper()
	s := schematest.Load(t, schemas.Entities, "entities/customers.json")
	x, err := templates.XLSX(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, x
}

// fakeImporter records submissions and answers with a scripted summary.
// It stands in for the pipeline in the adapter mapping tests; the
// integration tests use the real one.
type fakeImporter struct {
	mu             sync.Mutex
	submits        []imports.SubmitRequest
	bodies         []string
	submitErr      error
	concurrencyErr error          // CheckConcurrency's answer
	view           client.Summary // Wait's answer for the last submitted import, with its ID and tenant
	waitErr        error
	notes          []envelope.Outcome // Problems' answer, filtered by result
	problemsN      int                // calls of Problems
	imports        map[string]string  // import ID -> tenant
}

func (f *fakeImporter) Submit(_ context.Context, req imports.SubmitRequest) (imports.Submitted, error) {
	var data []byte
	if req.Rows != nil {
		// The file read already: the rows, as CSV lines, stand for the body.
		data = []byte(heldText(req.Rows))
	} else {
		var err error
		if data, err = io.ReadAll(req.Body); err != nil {
			return imports.Submitted{}, err
		}
		req.Body = nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits = append(f.submits, req)
	f.bodies = append(f.bodies, string(data))
	if f.submitErr != nil {
		return imports.Submitted{}, f.submitErr
	}
	id := fmt.Sprintf("imp_fake%d", len(f.submits))
	if f.imports == nil {
		f.imports = map[string]string{}
	}
	f.imports[id] = req.Tenant
	return imports.Submitted{ID: id, Rows: strings.Count(string(data), "\n")}, nil
}

func (f *fakeImporter) CheckConcurrency(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.concurrencyErr
}

func (f *fakeImporter) Wait(_ context.Context, tenant, id string, _ time.Duration) (client.Summary, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waitErr != nil {
		return client.Summary{}, false, f.waitErr
	}
	if owner, ok := f.imports[id]; !ok || owner != tenant {
		return client.Summary{}, false, nil
	}
	v := f.view
	v.ID, v.Tenant = id, tenant
	if v.Errors == nil {
		v.Errors = []client.RowError{}
	}
	return v, true, nil
}

func (f *fakeImporter) Problems(_ context.Context, tenant, id, result string) ([]envelope.Outcome, string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problemsN++
	if owner, ok := f.imports[id]; !ok || owner != tenant {
		return nil, "", false, nil
	}
	var out []envelope.Outcome
	for _, n := range f.notes {
		if n.Result == result {
			out = append(out, n)
		}
	}
	return out, f.view.Status, true, nil
}

func (f *fakeImporter) last(t *testing.T) (imports.SubmitRequest, string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.submits) == 0 {
		t.Fatal("nothing was submitted")
	}
	return f.submits[len(f.submits)-1], f.bodies[len(f.bodies)-1]
}

// lastCSV fails unless the last submission is for tenant, of the file
// named source, into opts, read as CSV with delimiter ("": the reader
// guesses); it returns the submission and its body for a contract's own
// checks.
func (f *fakeImporter) lastCSV(t *testing.T, tenant, source string, opts envelope.Options, delimiter string) (imports.SubmitRequest, string) {
	t.Helper()
	req, body := f.last(t)
	if req.Tenant != tenant || req.Source != source || !reflect.DeepEqual(req.Options, opts) ||
		req.File != (filereader.Options{Format: filereader.FormatCSV, Delimiter: delimiter}) {
		t.Fatalf("submitted %+v, want a CSV (delimiter %q) named %q for %q into %+v", req, delimiter, source, tenant, opts)
	}
	return req, body
}

func (f *fakeImporter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.submits)
}

// allCreated is the summary of a completed import whose n rows were all
// created.
func allCreated(n int) client.Summary {
	return client.Summary{Status: "completed", Total: n, Processed: n, Counts: envelope.Counts{Created: n}}
}

// outcome builds a row's outcome; each problem is "code|field|message"
// (field may be empty).
func outcome(row int, result string, problems ...string) envelope.Outcome {
	o := envelope.Outcome{Row: row, Result: result}
	for _, p := range problems {
		parts := strings.SplitN(p, "|", 3)
		o.Problems = append(o.Problems, envelope.Problem{Code: parts[0], Field: parts[1], Message: parts[2]})
	}
	return o
}

// heldText writes the header and rows of an opened file as CSV-like lines
// (cells joined by commas), for comparing with the uploaded CSV.
func heldText(rd filereader.Reader) string {
	var b strings.Builder
	b.WriteString(strings.Join(rd.Header(), ",") + "\n")
	for {
		row, err := rd.Next()
		if err != nil {
			return b.String()
		}
		b.WriteString(strings.Join(row.Cells, ",") + "\n")
	}
}
