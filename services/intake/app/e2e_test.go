package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"

	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// contactsFile is a generated contacts CSV and what importing it must give.
type contactsFile struct {
	csv      []byte
	total    int
	failed   map[int][]string // spreadsheet row -> fields with problems
	skipped  map[int]int      // duplicate row -> row it duplicates
	expected map[string]bson.M
	firstRow map[string]int // _id -> row that created it
}

// makeContacts builds n rows: some with an invalid email, some with neither
// email nor phone, some repeating an earlier row's email (in other case), and
// the expected outcome of each, computed independently of the importer.
func makeContacts(n int, salt string) contactsFile {
	f := contactsFile{total: n, failed: map[int][]string{}, skipped: map[int]int{}, expected: map[string]bson.M{}, firstRow: map[string]int{}}
	var b bytes.Buffer
	b.WriteString("Full Name,E-mail,Phone Number,Company\r\n")
	for i := 0; i < n; i++ {
		row := i + 2
		name := strings.TrimSpace(fmt.Sprintf("Person %d %s", i, salt))
		email := fmt.Sprintf("user%d@example.com", i)
		phone := ""
		company := fmt.Sprintf("Company %d", i%7)
		switch {
		case i%50 == 7:
			email = fmt.Sprintf("user%d@", i) // invalid
		case i%100 == 13:
			email = "" // no email, no phone: two problems
		case i%40 == 39:
			email = fmt.Sprintf("USER%d@Example.com", i-1) // same key as the row before
			name = "Duplicate " + name
		}
		if i%9 == 4 {
			phone = "(201) 555-0123"
		}
		if i%25 == 3 && email != "" && !strings.HasSuffix(email, "@") {
			email = strings.ToUpper(email[:1]) + email[1:]
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\r\n", name, email, phone, company)

		switch {
		case strings.HasSuffix(email, "@"):
			f.failed[row] = []string{"email"}
		case email == "" && phone != "":
			f.failed[row] = []string{"email"} // key required
		case email == "":
			f.failed[row] = []string{"email", "email"} // key required + at least one of email, phone
		default:
			id := "email:" + strings.ToLower(email)
			if first, dup := f.firstRow[id]; dup {
				f.skipped[row] = first
				continue
			}
			f.firstRow[id] = row
			doc := bson.M{"name": name, "email": strings.ToLower(email), "company": company}
			if phone != "" {
				doc["phone"] = "+12015550123"
			}
			f.expected[id] = doc
		}
	}
	f.csv = b.Bytes()
	return f
}

// checkImport asserts the summary, the row errors and the stored documents.
func checkImport(t *testing.T, s *system, id string, f contactsFile, v ingest.ImportView) {
	t.Helper()
	if v.Status != "completed" {
		t.Fatalf("status = %s (%s), want completed", v.Status, v.Reason)
	}
	want := ingest.ImportView{Total: f.total, Processed: f.total, Counts: envelope.Counts{Created: len(f.expected), Skipped: len(f.skipped), Failed: len(f.failed)}}
	if v.Total != want.Total || v.Processed != want.Processed || v.Created != want.Created || v.Updated != 0 || v.Skipped != want.Skipped || v.Failed != want.Failed {
		t.Fatalf("summary total/processed/created/updated/skipped/failed = %d/%d/%d/%d/%d/%d, want %d/%d/%d/0/%d/%d",
			v.Total, v.Processed, v.Created, v.Updated, v.Skipped, v.Failed, want.Total, want.Processed, want.Created, want.Skipped, want.Failed)
	}
	if v.Total != v.Created+v.Updated+v.Skipped+v.Failed {
		t.Fatalf("total %d != created+updated+skipped+failed", v.Total)
	}
	var all struct{ Errors []ingest.RowError }
	s.getInto("/v1/imports/"+v.ID+"/errors", &all)
	if len(v.Errors) > 100 || (len(all.Errors) > 100) != v.ErrorsTruncated {
		t.Fatalf("summary lists %d errors (truncated %v) of %d", len(v.Errors), v.ErrorsTruncated, len(all.Errors))
	}
	gotFailed := map[int][]string{}
	for _, e := range all.Errors {
		gotFailed[e.Row] = append(gotFailed[e.Row], e.Field)
		if e.Message == "" {
			t.Errorf("row %d: error without a message", e.Row)
		}
	}
	if len(gotFailed) != len(f.failed) {
		t.Fatalf("errors name %d rows, want %d", len(gotFailed), len(f.failed))
	}
	for row, fields := range f.failed {
		if strings.Join(gotFailed[row], ",") != strings.Join(fields, ",") {
			t.Errorf("row %d: error fields %v, want %v", row, gotFailed[row], fields)
		}
	}

	docs := s.records("default", "contacts")
	if len(docs) != len(f.expected) {
		t.Fatalf("%d records stored, want %d", len(docs), len(f.expected))
	}
	for id, want := range f.expected {
		got, ok := docs[id]
		if !ok {
			t.Fatalf("record %s missing", id)
		}
		stamp := stampOf(got)
		if stamp.Import != v.ID || stamp.CreatedImport != v.ID {
			t.Fatalf("record %s: stamped by import %+v, want %s", id, stamp, v.ID)
		}
		if stamp.Row != f.firstRow[id] || stamp.CreatedRow != f.firstRow[id] {
			t.Fatalf("record %s: written by row %+v, want %d", id, stamp, f.firstRow[id])
		}
		if _, ok := got["_intake_created_at"].(bson.DateTime); !ok {
			t.Fatalf("record %s: no creation time: %v", id, got)
		}
		got = withoutStamp(got)
		if !reflect.DeepEqual(map[string]any(got), map[string]any(want)) {
			t.Fatalf("record %s = %v, want %v", id, got, want)
		}
	}
}

func TestImportEndToEnd(t *testing.T) {
	for _, instances := range []int{1, 2} {
		t.Run(fmt.Sprintf("instances=%d", instances), func(t *testing.T) {
			s := startSystem(t, t.TempDir(), func(c *app.Config) { c.Instances = instances; c.ChunkSize = 100 })
			f := makeContacts(1000, "")

			status, body := s.upload(f.csv, map[string]string{"schema": "contacts", "mode": "upsert"})
			if status != 202 {
				t.Fatalf("upload: %d %v", status, body)
			}
			id := body["id"].(string)
			checkImport(t, s, id, f, s.waitDone(id, 2*time.Minute))

			// The duplicate's reason names the row it repeats.
			skipped := s.getJSON("/v1/imports/" + id + "/errors?result=skipped")
			if n := int(skipped["rows"].(float64)); n != len(f.skipped) {
				t.Fatalf("%d skipped rows listed, want %d", n, len(f.skipped))
			}
			first := skipped["errors"].([]any)[0].(map[string]any)
			row := int(first["row"].(float64))
			if msg := first["message"].(string); !strings.Contains(msg, fmt.Sprintf("duplicate of row %d", f.skipped[row])) {
				t.Fatalf("row %d: skip reason %q does not name row %d", row, msg, f.skipped[row])
			}

			// Importing the same file again changes nothing: every valid row is
			// skipped as unchanged or duplicate, the same rows fail.
			status, body = s.upload(f.csv, map[string]string{"mode": "upsert"})
			if status != 202 {
				t.Fatalf("second upload: %d %v", status, body)
			}
			v := s.waitDone(body["id"].(string), 2*time.Minute)
			if v.Created != 0 || v.Updated != 0 || v.Skipped != len(f.expected)+len(f.skipped) || v.Failed != len(f.failed) {
				t.Fatalf("re-import = %+v, want 0 created, 0 updated, %d skipped, %d failed", v, len(f.expected)+len(f.skipped), len(f.failed))
			}

			// A third import with changed names updates exactly the changed records.
			g := makeContacts(1000, "v2")
			status, body = s.upload(g.csv, nil)
			if status != 202 {
				t.Fatalf("third upload: %d %v", status, body)
			}
			v = s.waitDone(body["id"].(string), 2*time.Minute)
			if v.Created != 0 || v.Updated != len(g.expected) || v.Skipped != len(g.skipped) || v.Failed != len(g.failed) {
				t.Fatalf("changed import = %+v, want %d updated", v, len(g.expected))
			}
			docs := s.records("default", "contacts")
			for id, want := range g.expected {
				if docs[id]["name"] != want["name"] {
					t.Fatalf("record %s name = %v, want %v", id, docs[id]["name"], want["name"])
				}
				stamp := stampOf(docs[id])
				if stamp.CreatedImport == stamp.Import {
					t.Fatalf("record %s: update must keep who created it: %v", id, stamp)
				}
			}
		})
	}
}

func TestRestartMidImportLosesNothing(t *testing.T) {
	dir := t.TempDir()
	s := startSystem(t, dir, nil)
	f := makeContacts(20000, "")
	status, body := s.upload(f.csv, nil)
	if status != 202 {
		t.Fatalf("upload: %d %v", status, body)
	}
	id := body["id"].(string)
	var at ingest.ImportView
	testenv.CheckFor(t, 2*time.Minute, 10*time.Millisecond, func() error {
		at = s.summary(id, "")
		if at.Processed < 2000 && at.Status == "processing" {
			return fmt.Errorf("processed %d", at.Processed)
		}
		return nil
	})
	s.stop()
	if at.Status != "processing" {
		t.Fatalf("the import finished before the stop; the test proves nothing: %+v", at)
	}
	t.Logf("stopped with %d of %d rows processed", at.Processed, at.Total)

	restarted := time.Now()
	s = startSystem(t, dir, nil)
	checkImport(t, s, id, f, s.waitDone(id, 3*time.Minute))
	t.Logf("completed %s after the restart", time.Since(restarted))
}

func TestUploadErrors(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.MaxRows = 5 })
	cases := []struct {
		name   string
		csv    string
		fields map[string]string
		status int
		msg    string
	}{
		{"empty file", "", nil, 400, "empty"},
		{"unknown schema", "email\na@b.co\n", map[string]string{"schema": "nope"}, 400, "unknown schema"},
		{"unknown mode", "email\na@b.co\n", map[string]string{"mode": "merge"}, 400, "unknown mode"},
		{"key not allowed", "email\na@b.co\n", map[string]string{"key": "company"}, 400, "not allowed"},
		{"header matches nothing", "foo,bar\n1,2\n", nil, 400, "no column"},
		{"two columns for one field", "email,E-mail\na@b.co,c@d.co\n", nil, 400, "both map to field email"},
		{"too many rows", "email\na@b.co\nb@b.co\nc@b.co\nd@b.co\ne@b.co\nf@b.co\n", nil, 422, "more than 5 rows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := s.upload([]byte(c.csv), c.fields)
			if status != c.status || !strings.Contains(fmt.Sprint(body["error"]), c.msg) {
				t.Fatalf("got %d %v, want %d with %q", status, body, c.status, c.msg)
			}
		})
	}
	// The import cut at the row limit still ends, failed, with its rows accounted for.
	_, body := s.upload([]byte("email\na@b.co\nb@b.co\nc@b.co\nd@b.co\ne@b.co\nf@b.co\n"), nil)
	v := s.waitDone(body["import_id"].(string), time.Minute)
	if v.Status != "failed" || v.Total != 5 || v.Created+v.Updated+v.Skipped+v.Failed != 5 || !strings.Contains(v.Reason, "more than 5 rows") {
		t.Fatalf("cut import = %+v", v)
	}
	// The server still serves.
	if got := s.getJSON("/healthz"); got["status"] != "ok" {
		t.Fatalf("healthz = %v", got)
	}
}

func (s *system) getJSON(path string) map[string]any {
	s.t.Helper()
	var out map[string]any
	s.getInto(path, &out)
	return out
}

// asM reads a nested document (the driver decodes those as bson.D).
func asM(v any) bson.M {
	m := bson.M{}
	if d, ok := v.(bson.D); ok {
		for _, e := range d {
			m[e.Key] = e.Value
		}
	}
	return m
}

// Every chunk of every stage is processed twice: the first time the process
// "dies" after the handler did its database writes and before it published
// its outputs and acked. The summary and the records must be exactly those
// of a run without faults.
func TestCrashBeforeAckOnEveryChunk(t *testing.T) {
	var crashes atomic.Int64
	s := startSystem(t, t.TempDir(), func(c *app.Config) {
		c.ChunkSize = 100
		c.Runner.Crash = func(m runner.Msg) bool {
			if m.NumDelivered == 1 {
				crashes.Add(1)
				return true
			}
			return false
		}
	})
	f := makeContacts(1000, "")
	status, body := s.upload(f.csv, nil)
	if status != 202 {
		t.Fatalf("upload: %d %v", status, body)
	}
	id := body["id"].(string)
	checkImport(t, s, id, f, s.waitDone(id, 3*time.Minute))

	// And updates: a changed file redelivered everywhere still reports each
	// row updated once, not "unchanged" on the second delivery.
	g := makeContacts(1000, "v2")
	_, body = s.upload(g.csv, nil)
	v := s.waitDone(body["id"].(string), 3*time.Minute)
	if v.Created != 0 || v.Updated != len(g.expected) || v.Skipped != len(g.skipped) || v.Failed != len(g.failed) {
		t.Fatalf("changed import under crashes = %+v, want %d updated", v, len(g.expected))
	}
	if crashes.Load() < 40 {
		t.Fatalf("only %d crashes injected", crashes.Load())
	}
	t.Logf("%d crashes injected", crashes.Load())
}

// Two imports of the same tenant with overlapping keys, at the same time,
// never make two records for one key, and every row is counted once.
func TestConcurrentImportsSameKeys(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.Instances = 2; c.ChunkSize = 50 })
	a, b := makeContacts(2000, "a"), makeContacts(2000, "b")
	ids := make(chan string, 2)
	for _, f := range []contactsFile{a, b} {
		go func() {
			_, body := s.upload(f.csv, nil)
			ids <- fmt.Sprint(body["id"])
		}()
	}
	var created, updated int
	for i := 0; i < 2; i++ {
		v := s.waitDone(<-ids, 3*time.Minute)
		if v.Status != "completed" || v.Total != 2000 || v.Failed != len(a.failed) || v.Skipped != len(a.skipped) {
			t.Fatalf("import %s = %+v", v.ID, v)
		}
		created += v.Created
		updated += v.Updated
	}
	if created != len(a.expected) || updated != len(a.expected) {
		t.Fatalf("created %d and updated %d over both imports, want %d each", created, updated, len(a.expected))
	}
	if n := len(s.records("default", "contacts")); n != len(a.expected) {
		t.Fatalf("%d records, want %d", n, len(a.expected))
	}
}

// An import with 2,500 failed rows listed 1,000 problems at a time: three
// pages, the last without next, whose union is the unpaged list, in row
// order, each row once; the typed client's Problems follows the pages to
// the same list; failed.csv holds every failed row. A bad limit or cursor
// is a 400 with a message.
func TestErrorsPages(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	var file strings.Builder
	file.WriteString("name,email\n")
	for i := range 2_600 {
		at := "@"
		if i%26 == 0 {
			at = "@x.io" // 100 good rows among them
		}
		fmt.Fprintf(&file, "P%d,p%d%s\n", i, i, at)
	}
	status, body := s.upload([]byte(file.String()), nil)
	if status != 202 {
		t.Fatalf("upload: %d %v", status, body)
	}
	id := body["id"].(string)
	if v := s.waitDone(id, 2*time.Minute); v.Failed != 2_500 || v.Created != 100 {
		t.Fatalf("import = %+v", counts(v))
	}

	var all client.ErrorsPage
	s.getInto("/v1/imports/"+id+"/errors", &all)
	if len(all.Errors) != 2_500 || all.Rows != 2_500 || all.Next != "" {
		t.Fatalf("unpaged: %d errors, %d rows, next %q", len(all.Errors), all.Rows, all.Next)
	}
	var paged []client.RowError
	var sizes []int
	for after, more := "", true; more; {
		var page client.ErrorsPage
		s.getInto("/v1/imports/"+id+"/errors?limit=1000&after="+url.QueryEscape(after), &page)
		paged, sizes = append(paged, page.Errors...), append(sizes, len(page.Errors))
		if page.Status != "completed" || page.Rows != len(page.Errors) {
			t.Fatalf("page %d: status %q, %d rows, %d errors", len(sizes), page.Status, page.Rows, len(page.Errors))
		}
		after, more = page.Next, page.Next != ""
	}
	if !reflect.DeepEqual(sizes, []int{1000, 1000, 500}) || !reflect.DeepEqual(paged, all.Errors) {
		t.Fatalf("pages of %v problems; equal to the unpaged list: %v", sizes, reflect.DeepEqual(paged, all.Errors))
	}
	for i := 1; i < len(paged); i++ {
		if paged[i].Row <= paged[i-1].Row {
			t.Fatalf("problem %d: row %d after row %d", i, paged[i].Row, paged[i-1].Row)
		}
	}
	viaClient, err := client.NewREST(s.base).Problems(t.Context(), id, client.ResultFailed)
	if err != nil || !reflect.DeepEqual(viaClient, all.Errors) {
		t.Fatalf("client Problems: %d errors, %v", len(viaClient), err)
	}
	if status, csv := s.getBody("/v1/imports/" + id + "/failed.csv"); status != 200 || bytes.Count(csv, []byte("\n")) != 2_501 {
		t.Fatalf("failed.csv: %d, %d lines", status, bytes.Count(csv, []byte("\n")))
	}

	var first client.ErrorsPage
	s.getInto("/v1/imports/"+id+"/errors?limit=2", &first)
	for _, q := range []string{"limit=0", "limit=10001", "limit=many", "after=not-a-cursor", "result=skipped&after=" + first.Next} {
		status, data := s.getBody("/v1/imports/" + id + "/errors?" + q)
		var e struct{ Error string }
		if status != 400 || json.Unmarshal(data, &e) != nil || e.Error == "" {
			t.Errorf("?%s: %d %s, want a 400 with a message", q, status, data)
		}
	}
}
