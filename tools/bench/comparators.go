package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The tools the pipeline is compared with, each writing the same CSV into
// a fresh database of the same server.

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

// imported is mongoimport's closing line, "N document(s) imported
// successfully. M document(s) failed to import."
var imported = regexp.MustCompile(`(\d+) document\(s\) imported successfully\. (\d+) document\(s\) failed`)

// mongoimportRun is what one mongoimport run measured.
type mongoimportRun struct {
	rate   float64
	rssMiB int64
	cpu    time.Duration
}

// mongoimport runs mongoimport (its defaults, as a user would) on the CSV
// into a fresh database at uri.
func mongoimport(ctx context.Context, bin, uri, path string, rows int) (mongoimportRun, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--uri", uri, "--db", "bench_mongoimport", "--collection", "contacts",
		"--type", "csv", "--headerline", "--file", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return mongoimportRun{}, fmt.Errorf("mongoimport: %w: %s", err, lastLines(out.Bytes()))
	}
	elapsed := time.Since(start)
	m := imported.FindSubmatch(out.Bytes())
	if m == nil {
		return mongoimportRun{}, fmt.Errorf("mongoimport: no count in its output: %s", lastLines(out.Bytes()))
	}
	if n, _ := strconv.Atoi(string(m[1])); n != rows || string(m[2]) != "0" {
		return mongoimportRun{}, fmt.Errorf("mongoimport imported %s of %d rows, %s failed", m[1], rows, m[2])
	}
	return mongoimportRun{rate: float64(rows) / elapsed.Seconds(), rssMiB: exitedPeakRSS(cmd),
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// lastLines is the end of a tool's output, for an error message.
func lastLines(out []byte) string {
	if len(out) > 600 {
		out = out[len(out)-600:]
	}
	return string(bytes.TrimSpace(out))
}
