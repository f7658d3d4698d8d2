package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The whole system's answers are tested in services/intake/app (TestRESTClient);
// these are the wire details a server there does not vary.

func TestRESTUploadSendsOptionsBeforeTheFile(t *testing.T) {
	var parts []string
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		mr, err := r.MultipartReader()
		if err != nil {
			t.Errorf("not multipart: %v", err)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			v, _ := io.ReadAll(p)
			parts = append(parts, p.FormName()+"="+string(v))
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"imp_1","status":"processing","rows":2}`)
	}))
	defer srv.Close()
	c := NewREST(srv.URL, WithBearerToken("tok"))
	got, err := c.Upload(context.Background(), "c.csv", strings.NewReader("name\nA\nB\n"), UploadOptions{Mode: "replace", DryRun: true, Delimiter: "semicolon"})
	if err != nil || got.ID != "imp_1" || got.Rows != 2 {
		t.Fatalf("upload = %+v, %v", got, err)
	}
	want := []string{"mode=replace", "dry_run=true", "delimiter=semicolon", "file=name\nA\nB\n"}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Errorf("parts = %q, want %q", parts, want)
	}
	if auth != "Bearer tok" {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestRESTErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/imports":
			w.Header().Set("Retry-After", "10")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"the rows could not be stored; retry the upload","import_id":"imp_2"}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "upstream down\n")
		}
	}))
	defer srv.Close()
	c := NewREST(srv.URL)
	_, err := c.Upload(context.Background(), "c.csv", strings.NewReader("x"), UploadOptions{})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 503 || he.ImportID != "imp_2" || he.RetryAfter != 10*time.Second ||
		err.Error() != "503 Service Unavailable: the rows could not be stored; retry the upload" {
		t.Errorf("upload error = %#v (%v)", he, err)
	}
	_, err = c.Summary(context.Background(), "imp_2", 0)
	if !errors.As(err, &he) || he.Status != 502 || he.Message != "upstream down" {
		t.Errorf("a body that is not JSON: %#v", he)
	}
}

func TestRESTUploadReadErrorEndsTheRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"imp_3"}`)
	}))
	defer srv.Close()
	file := io.MultiReader(strings.NewReader("name\nA\n"), errReader{errors.New("disk gone")})
	if _, err := NewREST(srv.URL).Upload(context.Background(), "c.csv", file, UploadOptions{}); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("upload of a file that cannot be read: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// FailedRows copies the file as it comes, answers an error status as an
// *HTTPError, and a file cut short as an error, not a shorter file.
func TestRESTFailedRows(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/imports/imp_1/failed.csv":
			_, _ = io.WriteString(w, "email,intake_reasons\r\nbob@,email (validation): bad\r\n")
		case "/v1/imports/imp_2/failed.xlsx":
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "PK\x03\x04 cut")
		default:
			w.WriteHeader(http.StatusGone)
			_, _ = io.WriteString(w, `{"error":"the raw rows of import imp_3 are no longer kept"}`)
		}
	}))
	defer srv.Close()
	c := NewREST(srv.URL)
	var b strings.Builder
	if err := c.FailedRows(context.Background(), "imp_1", "", &b); err != nil || b.String() != "email,intake_reasons\r\nbob@,email (validation): bad\r\n" {
		t.Fatalf("failed rows = %q, %v", b.String(), err)
	}
	if err := c.FailedRows(context.Background(), "imp_2", FormatXLSX, io.Discard); err == nil {
		t.Error("a file cut short was no error")
	}
	err := c.FailedRows(context.Background(), "imp_3", FormatCSV, io.Discard)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusGone || !strings.Contains(he.Message, "no longer kept") {
		t.Errorf("410 answer = %#v (%v)", he, err)
	}
}
