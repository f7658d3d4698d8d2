// Command bench is the end-to-end load run of `make bench`. It generates a
// contacts CSV and measures, in rows/s from upload to completed summary,
// side by side on the same file:
//   - the embedded default (`intake serve` on a fresh data directory, as a
//     separate process): a direct loader into the same FerretDB (unordered
//     InsertMany of 1,000), the pipeline inserting into an empty
//     collection, the pipeline re-importing the file in upsert mode with
//     10% of the rows changed, and mongoimport through the embedded
//     FerretDB's owner-only socket;
//   - an outside database (`intake ferretdb` on loopback TCP, `intake serve
//     --mongo-uri`, none of the embedded accelerators): the same direct
//     loader, mongoimport, and the pipeline insert;
//
// then the peak RSS of every process and the ratios, in one table. With
// --split it instead imports the file once through one process per stage
// and prints each one's peak RSS (the large-import memory run).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/intake/intake/pkg/client"
)

func main() {
	// An interrupt ends the run through its deferred stops, so that the
	// processes it started go with it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	bin := flag.String("bin", "bin/intake", "intake binary")
	rows := flag.Int("rows", 1_000_000, "rows in the generated file")
	changed := flag.Float64("changed", 0.10, "share of rows changed for the upsert re-import")
	syncRequests := flag.Int("sync", 200, "sequential 100-row POST /customers/import requests to time (0: skip)")
	fair := flag.Bool("fairness", false, "time a 10-row import idle and behind another tenant's import of --rows rows (fairness.go) instead")
	mongoimportBin := flag.String("mongoimport", "", "mongoimport 100.10 binary to compare with (empty or absent: its columns are skipped)")
	outside := flag.Bool("outside", true, "also measure on FerretDB started separately (an outside database)")
	split := flag.Bool("split", false, "only import the file once through one process per stage on an outside FerretDB and print each process's peak RSS")
	debugAddr := flag.String("debug-addr", "", "pprof address for the outside database's intake serve (to profile it during the run)")
	tenants := flag.Int("tenants", 0, "instead: this many tenants' first imports (tenants.go)")
	replace := flag.Bool("replace", false, "instead: a replace that deletes all but one of --rows records, another tenant's imports timed meanwhile (replace.go)")
	flag.Parse()
	if *fair || *tenants > 0 || *replace {
		o, err := serveOperated(*bin)
		if err != nil {
			return err
		}
		defer o.close()
		switch {
		case *fair:
			return fairness(o, *rows)
		case *replace:
			return replaceRun(o, *rows)
		}
		return runTenants(o, *tenants)
	}

	dir, err := os.MkdirTemp("", "intake-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{ctx: ctx, bin: *bin, dir: dir, rows: *rows, file: filepath.Join(dir, "contacts.csv"), debugAddr: *debugAddr,
		mongoimport: findMongoimport(*mongoimportBin)}
	if err := writeContacts(b.file, *rows, 0); err != nil {
		return err
	}
	if *split {
		return b.splitImport()
	}
	changedFile := filepath.Join(dir, "contacts-changed.csv")
	if err := writeContacts(changedFile, *rows, *changed); err != nil {
		return err
	}
	fmt.Printf("%d rows, %d cores\n", *rows, runtime.NumCPU())
	if err := b.embeddedDefault(changedFile, *changed, *syncRequests); err != nil {
		return err
	}
	if *outside {
		if err := b.outsideDatabase(); err != nil {
			return err
		}
	}
	b.table.print(os.Stdout)
	return nil
}

// importFile uploads a file, waits for its summary and returns rows/s from
// the start of the upload to the completed summary; progress, if not nil,
// sees the summary every 30 s until then.
func importFile(ctx context.Context, api *client.REST, path, mode string, rows int, progress func(*client.Summary)) (float64, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	accepted, err := api.Upload(ctx, filepath.Base(path), f, client.UploadOptions{Mode: mode})
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	var sum *client.Summary
	for {
		sum, err = api.Summary(ctx, accepted.ID, 30*time.Second)
		if err != nil {
			return 0, err
		}
		if sum.Done() {
			break
		}
		if progress != nil {
			progress(sum)
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("  %s: %v in %s: created=%v updated=%v skipped=%v failed=%v\n", mode, sum.Status, elapsed.Round(time.Millisecond),
		sum.Created, sum.Updated, sum.Skipped, sum.Failed)
	if sum.Status != client.StatusCompleted || sum.Total != rows {
		return 0, fmt.Errorf("import %s did not complete: %+v", accepted.ID, *sum)
	}
	return float64(rows) / elapsed.Seconds(), nil
}

// writeContacts writes n contacts; the share changed of them get another name.
func writeContacts(path string, n int, changed float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "name,email,phone,company")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("Person %d", i)
		if changed > 0 && i%int(1/changed) == 0 {
			name += " (changed)"
		}
		fmt.Fprintf(w, "%s,user%d@example.com,+1 201 555 %04d,Company %d\n", name, i, i%10000, i%100)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// syncPath times the synchronous customers contract: a 100-row file, new
// keys every request, one request at a time.
func syncPath(base string, n int) (p50, p99 time.Duration, err error) {
	var took []time.Duration
	for i := 0; i < n; i++ {
		var csvBody bytes.Buffer
		csvBody.WriteString("name,email,phone\n")
		for r := 0; r < 100; r++ {
			fmt.Fprintf(&csvBody, "Customer %d-%d,c%d.%d@example.com,+1 201 555 %04d\n", i, r, i, r, r)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "customers.csv")
		_, _ = fw.Write(csvBody.Bytes())
		_ = mw.Close()
		start := time.Now()
		resp, err := http.Post(base+"/customers/import", mw.FormDataContentType(), &body)
		if err != nil {
			return 0, 0, err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took = append(took, time.Since(start))
		if resp.StatusCode != 200 || !bytes.Contains(data, []byte(`"created":100`)) {
			return 0, 0, fmt.Errorf("request %d: %s %s", i, resp.Status, data)
		}
	}
	sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
	return took[len(took)/2], took[len(took)*99/100], nil
}
