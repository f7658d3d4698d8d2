package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/testenv"
)

// previewAs posts a file to /v1/imports/preview and decodes the answer.
func (s *system) previewAs(headers map[string]string, file []byte, fields map[string]string) (int, imports.Preview, string) {
	s.t.Helper()
	body, ctype := testenv.UploadForm("contacts.csv", file, fields)
	resp := s.request("POST", "/v1/imports/preview", headers, body, ctype)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var p imports.Preview
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &p); err != nil {
			s.t.Fatalf("preview answered non-JSON %q", data)
		}
	}
	return resp.StatusCode, p, string(data)
}

func (s *system) importCount(headers map[string]string) int {
	s.t.Helper()
	status, out := s.call("GET", "/v1/imports", headers, nil, "")
	if status != http.StatusOK {
		s.t.Fatalf("list imports: %d %v", status, out)
	}
	list, _ := out["imports"].([]any)
	return len(list)
}

// TestPreview: a preview says how a file would be imported (format,
// encoding, delimiter, header row, mapping, the first rows' problems)
// without importing anything, under the upload's capability.
func TestPreview(t *testing.T) {
	s := startWithAdmin(t)
	writer := key(s.createKey("acme", auth.CapImportsWrite, auth.CapImportsRead))
	readOnly := key(s.createKey("acme", auth.CapImportsRead))
	google, err := os.ReadFile("../../../pkg/mapping/testdata/google_contacts.csv")
	if err != nil {
		t.Fatal(err)
	}
	before := s.importCount(writer)

	t.Run("google contacts: the suggested mapping and valid rows", func(t *testing.T) {
		status, p, body := s.previewAs(writer, google, nil)
		if status != http.StatusOK {
			t.Fatalf("preview: %d %s", status, body)
		}
		if p.Format != "csv" || p.Encoding != "utf-8" || p.Delimiter != "," || p.HeaderRow != 1 || p.Schema != "contacts" || p.Key != "email" {
			t.Fatalf("read as %+v, schema %q key %q", p.Info, p.Schema, p.Key)
		}
		var keys map[string]any
		_ = json.Unmarshal([]byte(body), &keys)
		props := asMap(dig(loadOpenAPI(t), "components", "schemas", "Preview", "properties"))
		for k := range keys {
			if props[k] == nil {
				t.Errorf("the answer's %q is not in openapi.yaml's Preview", k)
			}
		}
		for _, r := range asList(dig(loadOpenAPI(t), "components", "schemas", "Preview", "required")) {
			if _, ok := keys[asString(r)]; !ok {
				t.Errorf("openapi.yaml's Preview requires %q; the answer lacks it", r)
			}
		}
		if p.Mapping.Export != "Google Contacts" {
			t.Fatalf("export = %q", p.Mapping.Export)
		}
		to := map[string]string{}
		for _, c := range p.Mapping.Columns {
			to[c.Column] = c.Field + "/" + c.Reason
		}
		if to["E-mail 1 - Value"] != "email/known_export" || to["Notes"] != "/ignored" {
			t.Fatalf("mapping: %v", to)
		}
		if len(p.Missing) != 0 || len(p.Rows) != 2 || p.More {
			t.Fatalf("missing %v, %d rows, more %v", p.Missing, len(p.Rows), p.More)
		}
		for _, r := range p.Rows {
			if len(r.Problems) != 0 {
				t.Errorf("row %d: %+v", r.Row, r.Problems)
			}
		}
		if p.Rows[0].Row != 2 || p.Rows[0].Cells[0] != "Ann" {
			t.Fatalf("first row: %+v", p.Rows[0])
		}
	})

	t.Run("a column ignored by the mapping: the key is missing and every row says so", func(t *testing.T) {
		status, p, body := s.previewAs(writer, google, map[string]string{"mapping": `{"E-mail 1 - Value": null, "E-mail 2 - Value": null}`})
		if status != http.StatusOK {
			t.Fatalf("preview: %d %s", status, body)
		}
		if strings.Join(p.Missing, ",") != "email" {
			t.Fatalf("missing = %v", p.Missing)
		}
		for _, r := range p.Rows {
			if len(r.Problems) == 0 || r.Problems[0].Field != "email" || r.Problems[0].Code != "validation" || r.Problems[0].Message == "" {
				t.Fatalf("row %d problems: %+v", r.Row, r.Problems)
			}
		}
	})

	t.Run("LinkedIn's preamble, Latin-1 semicolons, problems by row", func(t *testing.T) {
		linkedIn := "Notes:\n\"When exporting your connection data, you may notice that some of the email addresses are missing.\"\n\n" +
			"First Name,Last Name,URL,Email Address,Company,Position,Connected On\n" +
			"Ann,Smith,https://www.linkedin.com/in/annsmith,ann@work.example,Example Corp,CTO,05 Mar 2024\n" +
			"Bob,Jones,https://www.linkedin.com/in/bobjones,not-an-email,,,06 Mar 2024\n"
		status, p, body := s.previewAs(writer, []byte(linkedIn), nil)
		if status != http.StatusOK {
			t.Fatalf("preview: %d %s", status, body)
		}
		if p.HeaderRow != 4 || p.Header[0] != "First Name" || len(p.Rows) != 2 || p.Rows[0].Row != 5 || p.Rows[1].Row != 6 {
			t.Fatalf("header row %d %q, rows %+v", p.HeaderRow, p.Header, p.Rows)
		}
		if len(p.Rows[0].Problems) != 0 || len(p.Rows[1].Problems) != 1 || p.Rows[1].Problems[0].Field != "email" {
			t.Fatalf("problems: %+v / %+v", p.Rows[0].Problems, p.Rows[1].Problems)
		}
		status, p, body = s.previewAs(writer, []byte("name;email;city\nM\xfcller;m@x.example;K\xf6ln\n"), nil)
		if status != http.StatusOK || p.Encoding != "windows-1252" || p.Delimiter != ";" || p.Rows[0].Cells[0] != "Müller" {
			t.Fatalf("latin-1: %d %+v %s", status, p, body)
		}
	})

	t.Run("an XLSX workbook", func(t *testing.T) {
		book := workbook(t, [][]any{{"Name", "Email Address", "Phone"}, {"Ann", "ann@example.com", int64(2015550123)}, {"Bob", "bob@", nil}})
		status, p, body := s.previewAs(writer, book, nil)
		if status != http.StatusOK || p.Format != "xlsx" || p.HeaderRow != 1 || p.Encoding != "" || len(p.Rows) != 2 {
			t.Fatalf("%d %+v %s", status, p.Info, body)
		}
		if p.Rows[0].Cells[2] != "2015550123" || len(p.Rows[0].Problems) != 0 || len(p.Rows[1].Problems) != 1 || p.Rows[1].Problems[0].Field != "email" {
			t.Fatalf("rows: %+v", p.Rows)
		}
	})

	t.Run("the first 20 rows of a longer file", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("name,email\n")
		for i := 0; i < 25; i++ {
			fmt.Fprintf(&b, "P%d,p%d@x.example\n", i, i)
		}
		status, p, body := s.previewAs(writer, []byte(b.String()), nil)
		if status != http.StatusOK || len(p.Rows) != imports.PreviewRows || !p.More || p.Rows[19].Row != 21 {
			t.Fatalf("%d: %d rows, more %v; %s", status, len(p.Rows), p.More, body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			file   string
			fields map[string]string
			status int
			says   string
		}{
			{"an image", "\x89PNG\r\n\x1a\n0000", nil, 400, "the file looks like a PNG image"},
			{"an empty file", "", nil, 400, "the file is empty"},
			{"a mapping that is not JSON", "name,email\n", map[string]string{"mapping": "email=name"}, 400, "not a JSON object"},
			{"a mapping naming no column", "name,email\n", map[string]string{"mapping": `{"E-mail": "email"}`}, 400, "the file has no column"},
			{"an unknown schema", "name,email\n", map[string]string{"schema": "nope"}, 400, "nope"},
		} {
			status, _, body := s.previewAs(writer, []byte(c.file), c.fields)
			if status != c.status || !strings.Contains(body, c.says) {
				t.Errorf("%s: %d %s, want %d saying %q", c.name, status, body, c.status, c.says)
			}
		}
		if status, _, body := s.previewAs(readOnly, google, nil); status != http.StatusForbidden {
			t.Errorf("a read-only key: %d %s, want 403", status, body)
		}
	})

	t.Run("a huge upload is not read to its end", func(t *testing.T) {
		var sent atomic.Int64
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			fw, _ := mw.CreateFormFile("file", "huge.csv")
			if _, err := fw.Write([]byte("name,email\n")); err != nil {
				return
			}
			row := []byte(strings.Repeat("x", 100) + ",x@x.example\n")
			for sent.Load() < 1<<30 { // 1 GiB, unless the server stops reading
				if _, err := fw.Write(row); err != nil {
					_ = pw.CloseWithError(err)
					return
				}
				sent.Add(int64(len(row)))
			}
			_ = mw.Close()
			_ = pw.Close()
		}()
		// The request is written on a connection of its own while the answer
		// is read from it: the server answers before the body ends and
		// closes the connection, which an HTTP client may report as a
		// failed write instead of the answer.
		req, err := http.NewRequest("POST", s.base+"/v1/imports/preview", pr)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range writer {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		conn, err := net.Dial("tcp", req.URL.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() { _ = req.Write(conn) }()
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatalf("read the answer: %v", err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = pr.CloseWithError(io.ErrClosedPipe)
		var p imports.Preview
		if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &p) != nil || len(p.Rows) != imports.PreviewRows || !p.More {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
		t.Logf("the client sent %d bytes of a 1 GiB upload before the preview answered", sent.Load())
		// What the socket buffers hold is sent too (up to ~2 MB seen).
		if n := sent.Load(); n > 8*imports.MaxPreviewBytes {
			t.Fatalf("the client could send %d bytes: the preview read on", n)
		}
	})

	if after := s.importCount(writer); after != before {
		t.Fatalf("a preview created imports: %d before, %d after", before, after)
	}
}

// TestUploadAfterPreamble: an upload's header may follow lines of text
// (LinkedIn's "Notes:"), and its rows keep their spreadsheet numbers.
func TestUploadAfterPreamble(t *testing.T) {
	s := startSystem(t, t.TempDir(), nil)
	status, body := s.upload([]byte("Notes:\n\"Some addresses may be missing, as your connections chose.\"\n\nname,email\nAnn,ann@preamble.example\nBob,not-an-email\n"), nil)
	if status != http.StatusAccepted {
		t.Fatalf("upload: %d %v", status, body)
	}
	v := s.waitDone(body["id"].(string), time.Minute)
	if v.Status != "completed" || v.Created != 1 || v.Failed != 1 || len(v.Errors) != 1 || v.Errors[0].Row != 6 || v.Errors[0].Field != "email" {
		t.Fatalf("import: %s, created %d, failed %d, errors %+v", v.Status, v.Created, v.Failed, v.Errors)
	}
}
