package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/intake/intake/pkg/client"
)

// splitImport imports the file once through one process per stage: an
// outside FerretDB, ingest with the embedded nats-server (listening, with
// generated credentials) and validator, deduplicator, writer and reporter
// each in its own process; it prints every process's peak RSS.
func (b *bench) splitImport() error {
	const limitMiB = 512 // deploy/kubernetes's memory limit per stage
	db, uri, err := startFerretDB(b.bin, filepath.Join(b.dir, "ferretdb"))
	if err != nil {
		return err
	}
	defer db.stop()
	natsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	data := filepath.Join(b.dir, "ingest")
	ingest, err := startServe("ingest", b.dir, nil, b.bin, "--target=ingest", "--data-dir", data, "--embedded-nats-addr", natsAddr, "--mongo-uri", uri)
	if err != nil {
		return err
	}
	defer ingest.stop()
	procs := []*proc{db, ingest.proc}
	natsURL, err := embeddedNATSURL(data)
	if err != nil {
		return err
	}
	for _, target := range []string{"validator", "deduplicator", "writer", "reporter"} {
		// The URL holds the password: in the environment, not in ps.
		s, err := startServe(target, b.dir, []string{"INTAKE_NATS_URL=" + natsURL}, b.bin, "--target="+target, "--mongo-uri", uri)
		if err != nil {
			return err
		}
		defer s.stop()
		procs = append(procs, s.proc)
	}
	peaks := func() string {
		var parts []string
		for _, p := range procs {
			rss, err := p.peakRSS()
			if err != nil {
				return err.Error()
			}
			parts = append(parts, fmt.Sprintf("%s %d MiB", p.name, rss))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Printf("%d rows, one process per stage on an outside FerretDB (intake ferretdb over TCP)\n", b.rows)
	start := time.Now()
	rate, err := importFile(b.ctx, ingest.api, b.file, "insert", b.rows, func(s *client.Summary) {
		fmt.Printf("  %s: %d rows processed; peak RSS %s\n", time.Since(start).Round(time.Second), s.Processed, peaks())
	})
	if err != nil {
		return err
	}
	fmt.Printf("pipeline insert: %.0f rows/s\npeak RSS (target < %d MiB each):\n", rate, limitMiB)
	over := 0
	for _, p := range procs {
		rss, err := p.peakRSS()
		if err != nil {
			return err
		}
		mark := ""
		if rss >= limitMiB {
			mark, over = "  OVER", over+1
		}
		fmt.Printf("  %-12s %5d MiB%s\n", p.name, rss, mark)
	}
	if over > 0 {
		fmt.Printf("%d processes at or over %d MiB\n", over, limitMiB)
	}
	return nil
}
