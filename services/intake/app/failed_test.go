package app_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// getFile GETs path with headers and returns the status and the whole body.
func (s *system) getFile(path string, headers map[string]string) (int, []byte) {
	s.t.Helper()
	resp := s.request(http.MethodGet, path, headers, nil, "")
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, data
}

// importFileAs uploads a file with headers and waits for its summary.
func (s *system) importFileAs(headers map[string]string, name string, data []byte, fields map[string]string) ingest.ImportView {
	s.t.Helper()
	body, ctype := testenv.UploadForm(name, data, fields)
	status, out := s.call(http.MethodPost, "/v1/imports", headers, body, ctype)
	if status != 202 {
		s.t.Fatalf("upload %s: %d %v", name, status, out)
	}
	id := out["id"].(string)
	if links, _ := out["links"].(map[string]any); links["failed_rows"] != "/v1/imports/"+id+"/failed.csv" {
		s.t.Errorf("the 202's links = %v, want failed_rows", out["links"])
	}
	var v ingest.ImportView
	testenv.CheckFor(s.t, time.Minute, 100*time.Millisecond, func() error {
		resp := s.request(http.MethodGet, "/v1/imports/"+id+"?wait=5s", headers, nil, "")
		defer resp.Body.Close()
		v = ingest.ImportView{}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return err
		}
		if v.Status == "processing" {
			return errorString("still processing")
		}
		return nil
	})
	return v
}

func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("failed.csv is not CSV: %v\n%s", err, data)
	}
	return rows
}

// checkReasons checks that the last column of each row says why it failed
// and returns the rows without it.
func checkReasons(t *testing.T, rows [][]string, want ...string) [][]string {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%d failed rows, want %d: %q", len(rows), len(want), rows)
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		if !strings.HasPrefix(r[len(r)-1], want[i]) {
			t.Errorf("row %d: reasons %q, want them to start with %q", i+1, r[len(r)-1], want[i])
		}
		out[i] = r[:len(r)-1]
	}
	return out
}

// A CSV's failed rows come back as uploaded (quoted cells with commas, a
// formula made safe) with their reasons; fixed and uploaded again, they are
// created. Another tenant cannot read them. An XLSX upload's failed rows
// come back as CSV and as XLSX.
func TestFailedRowsRoundTrip(t *testing.T) {
	s := startWithAdmin(t)
	acme := key(s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead))
	globex := key(s.createKey("globex", auth.CapImportsWrite, auth.CapImportsRead))

	upload := "name,Email Address,company,notes\r\n" +
		"Ann,ann@x.io,Acme,fine\r\n" +
		"Bob,bob@,\"Beta, Inc.\",\"=HYPERLINK(\"\"http://x.example\"\")\"\r\n" +
		"Cid,,Gamma,\"said \"\"hi\"\"\"\r\n" +
		"Dee,dee@x.io,Delta,\r\n"
	v := s.importFileAs(acme, "contacts.csv", []byte(upload), nil)
	if counts(v) != [5]int{2, 0, 0, 2, 0} {
		t.Fatalf("upload = %v %+v", counts(v), v.Errors)
	}
	status, data := s.getFile("/v1/imports/"+v.ID+"/failed.csv", acme)
	if status != 200 {
		t.Fatalf("failed.csv: %d %s", status, data)
	}
	rows := readCSV(t, data)
	if want := []string{"name", "Email Address", "company", "notes", schema.ReasonsColumn}; !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("header %q, want %q", rows[0], want)
	}
	cells := checkReasons(t, rows[1:], "email (validation): ", "email (validation): ")
	want := [][]string{
		{"Bob", "bob@", "Beta, Inc.", `'=HYPERLINK("http://x.example")`},
		{"Cid", "", "Gamma", `said "hi"`},
	}
	if !reflect.DeepEqual(cells, want) {
		t.Fatalf("failed rows %q, want %q", cells, want)
	}

	// Fixed in place and uploaded again, reasons column and all.
	rows[1][1], rows[2][1] = "bob@x.io", "cid@x.io"
	var fixed bytes.Buffer
	_ = csv.NewWriter(&fixed).WriteAll(rows)
	again := s.importFileAs(acme, "fix.csv", fixed.Bytes(), nil)
	if again.Status != "completed" || counts(again) != [5]int{2, 0, 0, 0, 0} {
		t.Fatalf("the fixed rows imported as %v %+v", counts(again), again.Errors)
	}
	if status, data := s.getFile("/v1/imports/"+again.ID+"/failed.csv", acme); status != 200 || len(readCSV(t, data)) != 1 {
		t.Fatalf("failed.csv of an import without failures: %d %q, want only the header", status, data)
	}

	for path, want := range map[string]int{
		"/v1/imports/" + v.ID + "/failed.txt": 404,
		"/v1/imports/imp_unknown/failed.csv":  404,
	} {
		if status, data := s.getFile(path, acme); status != want {
			t.Errorf("GET %s: %d %s, want %d", path, status, data, want)
		}
	}
	for _, format := range []string{"csv", "xlsx"} {
		if status, data := s.getFile("/v1/imports/"+v.ID+"/failed."+format, globex); status != 404 {
			t.Errorf("another tenant's failed.%s: %d %s, want 404", format, status, data)
		}
	}

	// An XLSX upload.
	book := workbook(t, [][]any{
		{"Name", "Email", "Phone"},
		{"Eve", "eve@", int64(2015550123)},
		{"Fay", "fay@x.io", nil},
		{"Gus", "not an address", "@SUM(1)"},
	})
	x := s.importFileAs(acme, "contacts.xlsx", book, nil)
	if counts(x) != [5]int{1, 0, 0, 2, 0} {
		t.Fatalf("xlsx upload = %v %+v", counts(x), x.Errors)
	}
	wantX := [][]string{{"Eve", "eve@", "2015550123"}, {"Gus", "not an address", "'@SUM(1)"}}
	status, data = s.getFile("/v1/imports/"+x.ID+"/failed.csv", acme)
	if rows := readCSV(t, data); status != 200 || !reflect.DeepEqual(rows[0], []string{"Name", "Email", "Phone", schema.ReasonsColumn}) ||
		!reflect.DeepEqual(checkReasons(t, rows[1:], "email (validation): ", ""), wantX) {
		t.Fatalf("failed.csv of an XLSX upload: %d %q", status, rows)
	}
	status, data = s.getFile("/v1/imports/"+x.ID+"/failed.xlsx", acme)
	if status != 200 {
		t.Fatalf("failed.xlsx: %d %s", status, data)
	}
	out, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("failed.xlsx is not a workbook: %v", err)
	}
	defer out.Close()
	xrows, err := out.GetRows(out.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(xrows[0], []string{"Name", "Email", "Phone", schema.ReasonsColumn}) ||
		!reflect.DeepEqual(checkReasons(t, xrows[1:], "email (validation): ", ""), wantX) {
		t.Fatalf("failed.xlsx rows %q", xrows)
	}
	// The workbook uploads again as it is: the same rows fail, the reasons
	// column is not read as data.
	if v := s.importFileAs(acme, "again.xlsx", data, nil); counts(v) != [5]int{0, 0, 0, 2, 0} {
		t.Fatalf("failed.xlsx uploaded again = %v %+v", counts(v), v.Errors)
	}
}

// Every built-in schema reads a file with the reasons column as if it were
// not there, and so does a schema that refuses unknown columns: its failed
// rows, fixed, upload again. An import of many chunks gives its failed rows
// in row order, each once.
func TestFailedRowsReuploadForEverySchema(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.ChunkSize = 7 })
	var file strings.Builder
	var want [][]string
	file.WriteString("email,name\n")
	for i := 1; i <= 100; i++ {
		email := fmt.Sprintf("p%d@x.io", i)
		if i%3 == 0 {
			email = fmt.Sprintf("p%d@", i)
			want = append(want, []string{email, fmt.Sprint("P", i)})
		}
		fmt.Fprintf(&file, "%s,P%d\n", email, i)
	}
	many := s.importCSV(file.String(), nil)
	if counts(many) != [5]int{67, 0, 0, 33, 0} {
		t.Fatalf("import of 15 chunks = %v", counts(many))
	}
	status, data := s.getBody("/v1/imports/" + many.ID + "/failed.csv")
	rows := readCSV(t, data)
	if status != 200 || !reflect.DeepEqual(rows[0], []string{"email", "name", schema.ReasonsColumn}) {
		t.Fatalf("failed.csv of 15 chunks: %d %q", status, rows)
	}
	if got := checkReasons(t, rows[1:], slices.Repeat([]string{"email (validation): "}, len(want))...); !reflect.DeepEqual(got, want) {
		t.Fatalf("failed rows of 15 chunks = %q, want %q", got, want)
	}

	for _, name := range []string{"contacts", "customers", "community_users", "audience_users", "phonebook_contacts", "persons"} {
		status, data := s.getBody("/v1/schemas/" + name + "/template.csv")
		if status != 200 {
			t.Fatalf("%s template: %d %s", name, status, data)
		}
		rows := readCSV(t, data)
		rows[0] = append(rows[0], schema.ReasonsColumn)
		rows[1] = append(rows[1], "email (validation): was wrong")
		var withReasons bytes.Buffer
		_ = csv.NewWriter(&withReasons).WriteAll(rows)
		if v := s.importCSV(withReasons.String(), map[string]string{"schema": name}); v.Status != "completed" || v.Failed != 0 || v.Created != 1 {
			t.Fatalf("%s with the reasons column imported as %+v", name, v)
		}
	}

	const strict = `{"name": "strict", "fields": [
		{"name": "email", "type": "email", "required": true},
		{"name": "name", "type": "string"}], "keys": ["email"], "unknown_headers": "error"}`
	if status, out := s.call("PUT", "/v1/schemas/strict", nil, strings.NewReader(strict), "application/json"); status != 200 {
		t.Fatalf("put schema: %d %v", status, out)
	}
	v := s.importCSV("email,name\nann@x.io,Ann\nbob@,Bob\n", map[string]string{"schema": "strict"})
	if counts(v) != [5]int{1, 0, 0, 1, 0} {
		t.Fatalf("strict import = %v", counts(v))
	}
	status, data = s.getBody("/v1/imports/" + v.ID + "/failed.csv")
	rows = readCSV(t, data)
	if status != 200 || len(rows) != 2 || rows[1][0] != "bob@" {
		t.Fatalf("failed.csv: %d %q", status, rows)
	}
	rows[1][0] = "bob@x.io"
	var fixed bytes.Buffer
	_ = csv.NewWriter(&fixed).WriteAll(rows)
	if again := s.importCSV(fixed.String(), map[string]string{"schema": "strict"}); again.Status != "completed" || counts(again) != [5]int{1, 0, 0, 0, 0} {
		t.Fatalf("fixed rows on a schema refusing unknown columns = %+v", again)
	}
}

// While an import processes its failed rows are not known yet (409); once
// its raw rows are past the retention they cannot be read back (410).
func TestFailedRowsProcessingAndPastRetention(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.RowsRetention = 2 * time.Second })
	msg, err := s.upstreamConn("default").Request("intake.api.v1.default.open", []byte(`{"tenant": "default", "schema": "contacts", "mode": "upsert"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var opened struct{ ID string }
	if err := json.Unmarshal(msg.Data, &opened); err != nil || opened.ID == "" {
		t.Fatalf("open: %s", msg.Data)
	}
	if status, data := s.getBody("/v1/imports/" + opened.ID + "/failed.csv"); status != 409 || !strings.Contains(string(data), "processing") {
		t.Fatalf("failed.csv while processing: %d %s", status, data)
	}

	v := s.importCSV("name,email\nAnn,ann@\n", nil)
	if v.Failed != 1 {
		t.Fatalf("import = %+v", v)
	}
	testenv.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		status, data := s.getBody("/v1/imports/" + v.ID + "/failed.csv")
		switch {
		case status == 200:
			return errNotExpired
		case status != 410 || !strings.Contains(string(data), "no longer kept"):
			t.Fatalf("failed.csv past retention: %d %s", status, data)
		}
		return nil
	})
}
