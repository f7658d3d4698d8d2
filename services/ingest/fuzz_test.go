package ingest

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/schemas"
)

// fuzzDeps starts what the upload handler needs, once per (fuzz worker)
// process: an in-process nats-server with JetStream and the streams, and
// an embedded FerretDB for the schema catalog. Nothing consumes the rows.
func fuzzDeps(tb testing.TB) platform.Deps {
	tb.Helper()
	b := startBackends(tb)
	reg := schema.NewRegistry()
	files, _ := fs.Glob(schemas.Entities, "entities/*.json")
	for _, f := range files {
		data, _ := fs.ReadFile(schemas.Entities, f)
		s, err := schema.Parse(data)
		if err != nil {
			tb.Fatal(err)
		}
		reg.Put(s)
	}
	st := store.New(b.client, "intake", b.ferret.FastPath())
	return platform.Deps{NC: b.nc, JS: b.js, Store: st, Schemas: catalog.New(reg, st), Log: zap.NewNop()}
}

// FuzzUpload sends fuzzer-made requests to the real upload handler (with a
// real broker and database behind it): a multipart body built from a file
// and form fields, or raw body bytes as multipart or as something else.
// Whatever arrives, the handler must not panic, must answer one of the
// statuses the API documents for an upload with a JSON body (an error
// message unless accepted), and must leave no temporary file behind.
//
// opts holds one form field per line ("schema=persons"); a line starting
// with "?" is a query parameter instead ("?delimiter=semicolon").
func FuzzUpload(f *testing.F) {
	d := fuzzDeps(f)
	tmp := f.TempDir()
	api := New(Config{MaxUploadBytes: 1 << 20, MaxRows: 1000, ChunkSize: 50, TempDir: tmp}, d)
	router := api.Router()

	f.Add([]byte("name,email\nAnn,ann@x.io\nBob,bob@\n"), "schema=contacts\nmode=upsert", []byte{}, uint8(0))
	f.Add([]byte("slashid:emails,slashid:attributes\na@x.io,\"{\"\"a\"\":{\"\"b\"\":1}}\"\n"), "schema=persons\n?dry_run=true", []byte{}, uint8(0))
	f.Add([]byte("Name;E-Mail\nM\xfcller;m@x.io\n"), "?delimiter=semicolon\nkey=email", []byte{}, uint8(0))
	f.Add([]byte("email\na@x.io\nb@x.io\n"), "format=xlsx\nsheet=x", []byte{}, uint8(0))
	f.Add([]byte{}, "", []byte("--fuzzB0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nemail\r\na@x.io\r\n--fuzzB0undary--\r\n"), uint8(1))
	f.Add([]byte{}, "", []byte("--fuzzB0undary\r\nContent-Disposition: form-data; name=\"schema\"\r\n\r\ncontacts"), uint8(1))
	f.Add([]byte{}, "", []byte("email\na@x.io\n"), uint8(2))
	f.Add([]byte("email\na@x.io\n"), "file=inline\nschema=contacts\nschema=nope", []byte{}, uint8(0))
	// The hostile corpus's small files.
	if entries, err := os.ReadDir("../../testdata/hostile"); err == nil {
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join("../../testdata/hostile", e.Name()))
			if err == nil && len(data) <= 16<<10 {
				opts := ""
				if strings.Contains(e.Name(), "persons") || strings.Contains(e.Name(), "json") {
					opts = "schema=persons"
				}
				if strings.Contains(e.Name(), "customers") {
					opts = "schema=customers"
				}
				f.Add(data, opts, []byte{}, uint8(0))
			}
		}
	}

	f.Fuzz(func(t *testing.T, file []byte, opts string, raw []byte, kind uint8) {
		q := url.Values{}
		var body bytes.Buffer
		contentType := ""
		switch kind % 3 {
		case 0:
			mw := multipart.NewWriter(&body)
			for _, line := range strings.Split(opts, "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch {
				case k == "":
				case strings.HasPrefix(k, "?"):
					q.Add(k[1:], v)
				default:
					_ = mw.WriteField(k, v)
				}
			}
			fw, _ := mw.CreateFormFile("file", "upload")
			_, _ = fw.Write(file)
			_ = mw.Close()
			contentType = mw.FormDataContentType()
		case 1:
			body.Write(raw)
			contentType = "multipart/form-data; boundary=fuzzB0undary"
		case 2:
			body.Write(raw)
			contentType = opts
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/imports?"+q.Encode(), &body)
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("status %d with Content-Type %q", rec.Code, ct)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusAccepted {
			if id, _ := out["id"].(string); id == "" || out["rows"] == nil {
				t.Fatalf("accepted without an id or a row count: %v", out)
			}
		} else if msg, _ := out["error"].(string); strings.TrimSpace(msg) == "" {
			t.Fatalf("status %d without an error message: %v", rec.Code, out)
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Fatalf("left in the temporary directory: %v", left)
		}
	})
}
