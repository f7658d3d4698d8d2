// Package testenv holds the small test helpers that tests of several
// packages share: running a blocking service until the test ends, polling
// with a deadline instead of sleeping, an upload form, a file in the test's
// temporary directory, a goroutine-safe buffer for captured output, and a
// reader of server-sent event streams.
package testenv

import (
	"bytes"
	"context"
	"mime/multipart"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// startStopLimit bounds how long a service may take to start or to stop.
const startStopLimit = 60 * time.Second

// Run starts run in the background and waits until it calls ready; the test
// fails if run returns first or takes over a minute. It returns what ready
// was given and a stop that cancels run and fails the test unless run
// returns nil within a minute. Stop runs once, at the latest when the test
// ends; what names the service in failures.
func Run[I any](tb testing.TB, what string, run func(ctx context.Context, ready func(I)) error) (I, func()) {
	tb.Helper()
	readyc := make(chan I, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- run(ctx, func(i I) { readyc <- i }) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("%s stopped with an error: %v", what, err)
			}
		case <-time.After(startStopLimit):
			tb.Errorf("%s did not stop within %s", what, startStopLimit)
		}
	})
	var info I
	select {
	case info = <-readyc:
	case err := <-done:
		cancel()
		tb.Fatalf("%s did not start: %v", what, err)
	case <-time.After(startStopLimit):
		cancel()
		tb.Fatalf("%s did not start within %s", what, startStopLimit)
	}
	tb.Cleanup(stop)
	return info, stop
}

// UploadForm is a multipart form with fields and then file under the field
// name "file", and its Content-Type.
func UploadForm(filename string, file []byte, fields map[string]string) (*bytes.Buffer, string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(file)
	_ = mw.Close()
	return &body, mw.FormDataContentType()
}

// WriteFile writes data to a file named name in a directory of its own,
// removed when the test ends, and returns the file's path; the test fails
// if it cannot.
func WriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// CheckFor polls f every so often until it returns nil, and fails the test
// with f's last error if total passes first (as nats-server's tests do).
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	tb.Fatalf("timed out after %s: %v", total, err)
}

// SyncBuffer is a bytes.Buffer that a process or logger may write while the
// test reads it; it is a zapcore.WriteSyncer too. The zero value is empty.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Sync does nothing: the bytes are in memory already.
func (s *SyncBuffer) Sync() error { return nil }

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
