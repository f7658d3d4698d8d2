// Command bench is the end-to-end load run of `make bench`. It generates a
// contacts CSV, starts `intake serve` on a fresh embedded data directory as
// a separate process and measures, in rows/s from upload to completed
// summary: a direct loader into the same FerretDB (the database's speed
// limit), the pipeline inserting into an empty collection, and the pipeline
// re-importing the file in upsert mode with 10% of the rows changed; then
// the peak RSS of the intake process.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/tools/internal/procstat"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin/intake", "intake binary")
	rows := flag.Int("rows", 1_000_000, "rows in the generated file")
	changed := flag.Float64("changed", 0.10, "share of rows changed for the upsert re-import")
	syncRequests := flag.Int("sync", 200, "sequential 100-row POST /customers/import requests to time (0: skip)")
	tenants := flag.Int("tenants", 0, "instead: this many tenants' first imports (tenants.go)")
	flag.Parse()
	if *tenants > 0 {
		return runTenants(*bin, *tenants)
	}

	dir, err := os.MkdirTemp("", "intake-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	first := filepath.Join(dir, "contacts.csv")
	second := filepath.Join(dir, "contacts-changed.csv")
	if err := writeContacts(first, *rows, 0); err != nil {
		return err
	}
	if err := writeContacts(second, *rows, *changed); err != nil {
		return err
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	// The embedded default: NATS in process, FerretDB on the data
	// directory's socket, which the direct loader uses too.
	socket, err := embedded.MongoSocketPath(filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	cmd := exec.Command(*bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	api := client.NewREST(base)
	if err := waitReady(api, time.Minute); err != nil {
		return err
	}
	fmt.Printf("%d rows, embedded default (in-process NATS JetStream + FerretDB/SQLite), %d cores\n", *rows, runtime.NumCPU())

	if *syncRequests > 0 {
		p50, p99, err := syncPath(base, *syncRequests)
		if err != nil {
			return fmt.Errorf("sync path: %w", err)
		}
		fmt.Printf("POST /customers/import, 100 rows, %d sequential requests: p50 %s, p99 %s (targets <= 150ms, <= 400ms)\n",
			*syncRequests, p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	}

	direct, err := directLoad(context.Background(), embedded.MongoSocketURI(socket), first)
	if err != nil {
		return fmt.Errorf("direct loader: %w", err)
	}
	fmt.Printf("direct loader (encoding/csv + unordered InsertMany of 1000): %8.0f rows/s\n", direct)

	insert, err := importFile(api, first, "insert", *rows)
	if err != nil {
		return err
	}
	fmt.Printf("pipeline insert into an empty collection:                 %8.0f rows/s  (%.2fx the direct loader, target >= 0.8x)\n", insert, insert/direct)

	upsert, err := importFile(api, second, "upsert", *rows)
	if err != nil {
		return err
	}
	fmt.Printf("pipeline upsert re-import, %2.0f%% of rows changed:           %8.0f rows/s  (%.2fx the direct loader, target >= 0.5x)\n", *changed*100, upsert, upsert/direct)

	rss, err := procstat.PeakRSS(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("peak RSS of the intake process: %d MiB (target <= 500 MiB)\n", rss>>20)
	return nil
}

// importFile uploads a file, waits for its summary and returns rows/s from
// the start of the upload to the completed summary.
func importFile(api *client.REST, path, mode string, rows int) (float64, error) {
	ctx := context.Background()
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
	}
	elapsed := time.Since(start)
	fmt.Printf("  %s: %v in %s: created=%v updated=%v skipped=%v failed=%v\n", mode, sum.Status, elapsed.Round(time.Millisecond),
		sum.Created, sum.Updated, sum.Skipped, sum.Failed)
	if sum.Status != client.StatusCompleted || sum.Total != rows {
		return 0, fmt.Errorf("import %s did not complete: %+v", accepted.ID, *sum)
	}
	return float64(rows) / elapsed.Seconds(), nil
}

// directLoad is the speed limit of the database: the file straight into a
// collection with unordered InsertMany in batches of 1,000.
func directLoad(ctx context.Context, uri, path string) (float64, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return 0, err
	}
	defer client.Disconnect(ctx)
	coll := client.Database("bench_direct").Collection("contacts")
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	r := csv.NewReader(bufio.NewReader(f))
	header, err := r.Read()
	if err != nil {
		return 0, err
	}
	n := 0
	batch := make([]any, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		batch = batch[:0]
		return err
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		doc := bson.D{{Key: "_id", Value: rec[1]}}
		for i, h := range header {
			doc = append(doc, bson.E{Key: h, Value: rec[i]})
		}
		batch = append(batch, doc)
		n++
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
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

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls the server's readiness until it is ready or limit has passed.
func waitReady(api *client.REST, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		if err = api.Ready(context.Background()); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("intake not ready within %s: %w", limit, err)
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
