package app_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The failed-rows file of a large import streams in bounded memory: run
// with INTAKE_FAILED_ROWS_SCALE=<rows> (a tenth of them fail); it logs how
// long the file took and how far the heap rose while it was read, against
// the row errors (GET /errors), which hold every failed row at once.
func TestFailedRowsScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("INTAKE_FAILED_ROWS_SCALE"))
	if n == 0 {
		t.Skip("set INTAKE_FAILED_ROWS_SCALE=<rows> to measure")
	}
	s := startSystem(t, t.TempDir(), nil)
	var file strings.Builder
	file.WriteString("name,email,company\n")
	for i := 1; i <= n; i++ {
		at := "@x.io"
		if i%10 == 0 {
			at = "@" // fails
		}
		fmt.Fprintf(&file, "Person %d,p%d%s,Company %d\n", i, i, at, i%97)
	}
	start := time.Now()
	status, body := s.upload([]byte(file.String()), nil)
	if status != 202 {
		t.Fatalf("upload: %d %v", status, body)
	}
	v := s.waitDone(body["id"].(string), 30*time.Minute)
	if v.Failed != n/10 {
		t.Fatalf("import = %+v", counts(v))
	}
	t.Logf("import of %d rows (%d failed): %s", n, v.Failed, time.Since(start).Round(time.Millisecond))

	// The live heap (after a collection) every 100 ms while the answer
	// streams, against the live heap before: what the request holds, not
	// garbage awaiting the collector.
	measure := func(path string) (lines int, took time.Duration, rise uint64) {
		live := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		base := live()
		var peak atomic.Uint64
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if h := live(); h > peak.Load() {
					peak.Store(h)
					if dir := os.Getenv("INTAKE_FAILED_ROWS_HEAPPROFILE"); dir != "" {
						writeHeapProfile(t, filepath.Join(dir, strings.NewReplacer("/", "_").Replace(path)+".pprof"))
					}
				}
			}
		}()
		t0 := time.Now()
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		// Counted as it arrives, not held: the heap measured is the server's.
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			lines += bytes.Count(buf[:n], []byte("\n"))
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		took = time.Since(t0)
		close(done)
		<-sampled
		if p := peak.Load(); p > base {
			rise = p - base
		}
		return lines, took, rise
	}
	lines, took, rise := measure("/v1/imports/" + v.ID + "/failed.csv")
	if lines != n/10+1 {
		t.Fatalf("failed.csv has %d lines, want %d", lines, n/10+1)
	}
	t.Logf("failed.csv: %d lines in %s, live heap rose by at most %.1f MiB", lines, took.Round(time.Millisecond), float64(rise)/(1<<20))
	_, took, rise = measure("/v1/imports/" + v.ID + "/errors")
	t.Logf("errors (the whole list, streamed a page of 10,000 at a time): %s, live heap rose by at most %.1f MiB", took.Round(time.Millisecond), float64(rise)/(1<<20))
	_, took, rise = measure("/v1/imports/" + v.ID + "/errors?limit=1000")
	t.Logf("errors, a page of 1,000: %s, live heap rose by at most %.1f MiB", took.Round(time.Millisecond), float64(rise)/(1<<20))
	var all struct{ Errors []struct{ Row int } }
	s.getInto("/v1/imports/"+v.ID+"/errors", &all)
	for i, e := range all.Errors {
		if want := 10*(i+1) + 1; e.Row != want { // person i is row i+1
			t.Fatalf("errors[%d] is row %d, want %d (of %d errors)", i, e.Row, want, len(all.Errors))
		}
	}
	if len(all.Errors) != n/10 {
		t.Fatalf("errors lists %d, want %d", len(all.Errors), n/10)
	}
	_, took, rise = measure("/v1/imports/" + v.ID + "/failed.xlsx")
	t.Logf("failed.xlsx: %s, live heap rose by at most %.1f MiB", took.Round(time.Millisecond), float64(rise)/(1<<20))
}

// writeHeapProfile saves the heap profile (INTAKE_FAILED_ROWS_HEAPPROFILE:
// where the live heap is, at its peak).
func writeHeapProfile(t *testing.T, file string) {
	f, err := os.Create(file)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Error(err)
	}
}
