package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// bench is one run's settings and the table it fills.
type bench struct {
	ctx            context.Context // ends on an interrupt
	bin, dir, file string
	rows           int
	mongoimport    string // "" when absent: its columns are skipped
	debugAddr      string
	table          table
}

// findMongoimport is path if it names an executable file, else "" after
// saying why its columns are skipped.
func findMongoimport(path string) string {
	if path == "" {
		fmt.Println("mongoimport: no --mongoimport given: its columns are skipped")
		return ""
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		fmt.Printf("mongoimport: %s is not an executable file: its columns are skipped\n", path)
		return ""
	}
	return path
}

// column is one measured column: rows/s and the CPU time per row it cost
// the database's process and the client's (the pipeline's serve process,
// the benchmark itself for the direct loader, mongoimport). CPU per row
// does not depend on what else loads the machine as rows/s does.
type column struct {
	rate             float64
	dbCPU, clientCPU time.Duration
	rows             int
}

func (c column) cpu() string {
	if c.rate == 0 {
		return ""
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(c.rows) }
	return fmt.Sprintf("%.0f us (db %.0f)", per(c.dbCPU+c.clientCPU), per(c.dbCPU))
}

// measure runs f, charging it the CPU time that db (nil: none apart from
// the client) and client used meanwhile.
func (b *bench) measure(db *proc, client func() time.Duration, f func() (float64, error)) (column, error) {
	dbCPU := func() time.Duration {
		if db == nil {
			return 0
		}
		return db.cpu()
	}
	db0, c0 := dbCPU(), client()
	rate, err := f()
	return column{rate: rate, dbCPU: dbCPU() - db0, clientCPU: client() - c0, rows: b.rows}, err
}

// embeddedDefault measures on the embedded default: NATS and FerretDB in
// the serve process; the direct loader and mongoimport reach FerretDB
// through its owner-only socket.
func (b *bench) embeddedDefault(changedFile string, changed float64, syncRequests int) error {
	data := filepath.Join(b.dir, "data")
	s, err := startServe("serve-embedded", b.dir, nil, b.bin, "--data-dir", data)
	if err != nil {
		return err
	}
	defer s.stop()
	uri, err := embeddedSocketURI(data)
	if err != nil {
		return err
	}
	fmt.Println("embedded default (in-process NATS JetStream + FerretDB/SQLite):")
	if syncRequests > 0 {
		p50, p99, err := syncPath(s.base, syncRequests)
		if err != nil {
			return fmt.Errorf("sync path: %w", err)
		}
		fmt.Printf("  POST /customers/import, 100 rows, %d sequential requests: p50 %s, p99 %s (targets <= 150ms, <= 400ms)\n",
			syncRequests, p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	}
	direct, err := b.measure(s.proc, selfCPU, func() (float64, error) { return directLoad(b.ctx, uri, b.file) })
	if err != nil {
		return fmt.Errorf("direct loader: %w", err)
	}
	// The pipeline and its database are one process: all its CPU is "db".
	insert, err := b.measure(s.proc, noCPU, func() (float64, error) { return importFile(b.ctx, s.api, b.file, "insert", b.rows, nil) })
	if err != nil {
		return err
	}
	upsert, err := b.measure(s.proc, noCPU, func() (float64, error) { return importFile(b.ctx, s.api, changedFile, "upsert", b.rows, nil) })
	if err != nil {
		return err
	}
	mi, miRSS, err := b.runMongoimport(s.proc, uri)
	if err != nil {
		return err
	}
	rss, err := s.peakRSS()
	if err != nil {
		return err
	}
	b.addInsert("embedded default (in-process NATS + FerretDB/SQLite)", direct, insert, fmt.Sprintf("serve %d MiB (target <= 500)", rss))
	b.table.add(fmt.Sprintf("pipeline upsert re-import, %.0f%% changed", changed*100), upsert, ratio(upsert.rate, direct.rate, "InsertMany", 0.5), "")
	b.addMongoimport(insert, mi, miRSS)
	return nil
}

// outsideDatabase measures on FerretDB started separately and reached over
// loopback TCP, as a MongoDB deployment is: the serve process has the
// embedded NATS but none of the embedded FerretDB's accelerators.
func (b *bench) outsideDatabase() error {
	db, uri, err := startFerretDB(b.bin, filepath.Join(b.dir, "ferretdb"))
	if err != nil {
		return err
	}
	defer db.stop()
	args := []string{"--data-dir", filepath.Join(b.dir, "outside"), "--mongo-uri", uri}
	if b.debugAddr != "" {
		args = append(args, "--debug-addr", b.debugAddr)
	}
	s, err := startServe("serve-outside", b.dir, nil, b.bin, args...)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Println("outside database (intake ferretdb on loopback TCP, intake serve --mongo-uri):")
	direct, err := b.measure(db, selfCPU, func() (float64, error) { return directLoad(b.ctx, uri, b.file) })
	if err != nil {
		return fmt.Errorf("direct loader: %w", err)
	}
	mi, miRSS, err := b.runMongoimport(db, uri)
	if err != nil {
		return err
	}
	insert, err := b.measure(db, s.cpu, func() (float64, error) { return importFile(b.ctx, s.api, b.file, "insert", b.rows, nil) })
	if err != nil {
		return err
	}
	rss, err := s.peakRSS()
	if err != nil {
		return err
	}
	dbRSS, err := db.peakRSS()
	if err != nil {
		return err
	}
	b.addInsert("outside database (intake ferretdb over TCP, intake serve --mongo-uri)", direct, insert, fmt.Sprintf("serve %d MiB, ferretdb %d MiB", rss, dbRSS))
	b.addMongoimport(insert, mi, miRSS)
	return nil
}

// addInsert starts a section of the table with the direct loader and the
// pipeline insert against it.
func (b *bench) addInsert(title string, direct, insert column, rss string) {
	b.table.section(title)
	b.table.add("direct unordered InsertMany of 1,000", direct, "", "")
	b.table.add("pipeline insert", insert, ratio(insert.rate, direct.rate, "InsertMany", 0.8), rss)
}

// runMongoimport imports the file with mongoimport into the database at
// uri, served by the process db; rate 0 when mongoimport is absent.
func (b *bench) runMongoimport(db *proc, uri string) (c column, rssMiB int64, err error) {
	if b.mongoimport == "" {
		return column{}, 0, nil
	}
	var run mongoimportRun
	c, err = b.measure(db, func() time.Duration { return run.cpu }, func() (float64, error) {
		var err error
		run, err = mongoimport(b.ctx, b.mongoimport, uri, b.file, b.rows)
		return run.rate, err
	})
	return c, run.rssMiB, err
}

func (b *bench) addMongoimport(pipeline, mi column, rssMiB int64) {
	if b.mongoimport == "" {
		b.table.add("mongoimport 100.10", column{}, "skipped: no mongoimport", "")
		return
	}
	b.table.add("mongoimport 100.10 (--type csv --headerline)", mi, "", fmt.Sprintf("mongoimport %d MiB", rssMiB))
	b.table.add("  pipeline insert / mongoimport", column{}, ratio(pipeline.rate, mi.rate, "mongoimport", 1.0), "")
}
