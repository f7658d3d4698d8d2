package ingest

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type bodyResult struct {
	n   int
	err error
	ctx error // the request context's error when the handler ended
}

// serveBodies runs a server whose handler reads the whole body, waits
// after, and reports what it read.
func serveBodies(t *testing.T, idle, after time.Duration) (*httptest.Server, chan bodyResult) {
	t.Helper()
	results := make(chan bodyResult, 4)
	h := IdleBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err == nil {
			// Readers often read again after the end (multipart does):
			// that must not arm the deadline again.
			_, _ = r.Body.Read(make([]byte, 1))
		}
		if err == nil && after > 0 {
			select {
			case <-time.After(after):
			case <-r.Context().Done():
			}
		}
		results <- bodyResult{n: len(data), err: err, ctx: r.Context().Err()}
		if err != nil {
			writeError(w, http.StatusRequestTimeout, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"read": len(data)})
	}), idle)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, results
}

// A body that stops arriving fails after the idle time, with ErrBodyIdle;
// without IdleBody the handler would wait for it as long as the client
// keeps the connection open.
func TestIdleBodyFailsAStalledBody(t *testing.T) {
	srv, results := serveBodies(t, 200*time.Millisecond, 0)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("name,email\nAnn,")) }() // and then nothing
	go func() {
		resp, err := http.Post(srv.URL, "text/csv", pr)
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case res := <-results:
		var ie *IdleBodyError
		if !errors.Is(res.err, ErrBodyIdle) || !errors.As(res.err, &ie) || ie.Idle != 200*time.Millisecond {
			t.Fatalf("body error %v, want ErrBodyIdle", res.err)
		}
		if res.n != len("name,email\nAnn,") {
			t.Fatalf("read %d bytes before the stall", res.n)
		}
		if !strings.Contains(res.err.Error(), "no data arrived for 200ms") {
			t.Fatalf("message %q", res.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler still waits for a stalled body")
	}
}

// A slow body that keeps moving is read to the end, however long it takes
// in all; and once it has ended the handler may take its time (publishing,
// ?wait=) without the request being cut.
func TestIdleBodyLetsASlowBodyAndALongHandlerFinish(t *testing.T) {
	srv, results := serveBodies(t, 300*time.Millisecond, time.Second)
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 20; i++ { // 20 bytes over a second: longer than idle in all
			_, _ = pw.Write([]byte{'x'})
			time.Sleep(50 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	resp, err := http.Post(srv.URL, "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	res := <-results
	if res.err != nil || res.n != 20 || res.ctx != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("read %d, body error %v, context %v, status %d", res.n, res.err, res.ctx, resp.StatusCode)
	}

	// The next request on the same connection is not bounded by the last
	// body's deadline.
	time.Sleep(500 * time.Millisecond)
	resp2, err := http.Post(srv.URL, "text/plain", strings.NewReader("again"))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if res := <-results; res.err != nil || res.n != 5 {
		t.Fatalf("second request: %+v", res)
	}
}

// The upload handler's own reading (MaxBytesReader, multipart) sees the
// idle error as a body error; a stall before the file part is refused and a
// stall inside it ends the reading.
func TestIdleBodyUnderMultipart(t *testing.T) {
	var got error
	done := make(chan struct{})
	h := IdleBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		mr, err := r.MultipartReader()
		if err != nil {
			got = err
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				got = err
				return
			}
			if _, err := io.Copy(io.Discard, p); err != nil {
				got = err
				return
			}
		}
	}), 200*time.Millisecond)
	srv := httptest.NewServer(h)
	defer srv.Close()

	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("schema", "contacts")
	fw, _ := mw.CreateFormFile("file", "f.csv")
	_, _ = fw.Write([]byte("name,email\n"))
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(head.Bytes()) }() // the file part never ends
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the upload handler still waits for a stalled body")
	}
	if !errors.Is(got, ErrBodyIdle) {
		t.Fatalf("error %v, want ErrBodyIdle", got)
	}
}
