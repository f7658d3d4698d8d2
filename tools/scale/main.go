// Command scale is `make scale`: how Intake's throughput grows with
// instances. For each instance count it starts a fresh system of separate
// processes on loopback (a nats-server; FerretDB as its own process behind
// an in-process toxiproxy that delays each direction, as a database over a
// network; that many `intake serve --target=<stage>` processes of every
// stage, the partitions spread by --instance-index/--instance-count), has
// every tenant import the same number of new rows at once, checks every
// import's counts exactly, and prints rows/s, the ratio to the first
// instance count, and the peak RSS of each kind of process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/intake/intake/tools/internal/procs"
)

func main() {
	cfg := config{}
	instances := flag.String("instances", "1,2,4", "instance counts to measure, comma-separated; each runs every stage in that many processes")
	flag.IntVar(&cfg.tenants, "tenants", 8, "tenants importing at once, each with its own API key")
	flag.IntVar(&cfg.rows, "rows", 25000, "rows of each tenant's import")
	flag.DurationVar(&cfg.delay, "delay", 2*time.Millisecond, "delay the proxy adds to each direction between the services and the database (whole milliseconds)")
	keep := flag.Bool("keep", false, "keep the work directory (logs, data) after a run that passed; a failed run always keeps it")
	flag.Parse()
	var err error
	if cfg.instances, err = parseInstances(*instances); err != nil {
		fmt.Fprintln(os.Stderr, "scale: --instances:", err)
		os.Exit(2)
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "intake-scale-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if _, err := run(ctx, cfg, dir, os.Stdout); err != nil {
		// The processes' logs say why.
		fmt.Fprintf(os.Stderr, "scale: %v\nscale: logs and data kept in %s\n", err, dir)
		stop()
		os.Exit(1)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "scale: logs and data kept in", dir)
		return
	}
	_ = os.RemoveAll(dir)
}

// config is what a run measures.
type config struct {
	tenants, rows int
	instances     []int
	delay         time.Duration
}

func (c config) check() error {
	switch {
	case c.tenants < 1 || c.rows < 1:
		return fmt.Errorf("--tenants and --rows must be at least 1")
	case c.delay < 0 || c.delay%time.Millisecond != 0:
		return fmt.Errorf("--delay must be whole milliseconds, 0 or more (the proxy's latency toxic counts in milliseconds), not %s", c.delay)
	}
	return nil
}

// parseInstances reads "1,2,4": instance counts, each at least 1.
func parseInstances(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not an instance count (a whole number, at least 1)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// result is one instance count's measurement.
type result struct {
	instances int
	rowsPerS  float64
	// directPerS is the direct loader's rows/s on the same system (directLoad).
	directPerS float64
	took       time.Duration
	peakRSS    map[string]int64         // by process kind (a stage, nats-server, ferretdb): the largest of its processes
	cpu        map[string]time.Duration // by process kind: the CPU time of all its processes during the imports
	backlog    map[string]int           // by stage: the most messages its consumers held unacknowledged at once
}

// run builds the binaries into dir and measures every instance count of
// cfg, printing a line per count as it is done and then the table.
func run(ctx context.Context, cfg config, dir string, out io.Writer) ([]result, error) {
	bins, err := procs.Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%d tenants x %d rows at once; FerretDB as its own process behind a proxy delaying each direction by %s; %d cores (shared: other work on the machine changes the figures)\n",
		cfg.tenants, cfg.rows, cfg.delay, runtime.NumCPU())
	file := contactsCSV(cfg.rows)
	var results []result
	for _, n := range cfg.instances {
		r, err := measure(ctx, bins, filepath.Join(dir, fmt.Sprintf("instances-%d", n)), cfg, n, file)
		if err != nil {
			return nil, fmt.Errorf("%d instances: %w", n, err)
		}
		fmt.Fprintf(out, "  %d instance(s) of every stage: %d rows in %s, every count exact (direct loader: %.0f rows/s)\n",
			n, cfg.tenants*cfg.rows, r.took.Round(time.Millisecond), r.directPerS)
		results = append(results, r)
	}
	fmt.Fprint(out, table(results))
	return results, nil
}

// measure starts a system of n instances of every stage in dir, runs the
// imports on it and stops it.
func measure(ctx context.Context, bins procs.Binaries, dir string, cfg config, n int, file []byte) (result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	s, err := startSystem(ctx, bins, dir, n, cfg.delay)
	if err != nil {
		return result{}, err
	}
	defer s.stop()
	// The database's limit first, on the same fresh database and proxy.
	direct, err := directLoad(ctx, "mongodb://"+s.proxy.Listen+"/", cfg.tenants, cfg.rows)
	if err != nil {
		return result{}, err
	}
	tenants, err := createTenants(ctx, s.ingests[0], cfg.tenants)
	if err != nil {
		return result{}, err
	}
	before, err := s.usage()
	if err != nil {
		return result{}, err
	}
	watch := watchBacklog(ctx, s.natsMon, 500*time.Millisecond)
	took, err := importAll(ctx, s.ingests, tenants, file, cfg.rows)
	backlog := watch.end()
	if err != nil {
		return result{}, err
	}
	if err := s.alive(); err != nil {
		return result{}, err
	}
	after, err := s.usage()
	if err != nil {
		return result{}, err
	}
	cpu := map[string]time.Duration{}
	for kind, t := range after.cpu {
		cpu[kind] = t - before.cpu[kind]
	}
	all := float64(cfg.tenants * cfg.rows)
	return result{instances: n, took: took, rowsPerS: all / took.Seconds(), directPerS: all / direct.Seconds(), peakRSS: after.peakRSS, cpu: cpu, backlog: backlog}, nil
}

// usage is what each kind of process has used so far: the peak RSS of the
// largest of its processes, and the CPU time of all of them.
type usage struct {
	peakRSS map[string]int64
	cpu     map[string]time.Duration
}

func (s *system) usage() (usage, error) {
	u := usage{peakRSS: map[string]int64{}, cpu: map[string]time.Duration{}}
	add := func(kind string, p *procs.Process) error {
		rss, err := p.PeakRSS()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		cpu, err := p.CPUTime()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		u.peakRSS[kind] = max(u.peakRSS[kind], rss)
		u.cpu[kind] += cpu
		return nil
	}
	for _, stage := range stages {
		for _, p := range s.byStage[stage] {
			if err := add(stage, p); err != nil {
				return usage{}, err
			}
		}
	}
	if err := add("nats-server", s.nats); err != nil {
		return usage{}, err
	}
	return u, add("ferretdb", s.db)
}

// rssKinds are the table's RSS columns, in pipeline order.
var rssKinds = append(append([]string{}, stages...), "nats-server", "ferretdb")

// table is the results as tables by instance count: rows/s, the ratio to
// the first result's, the direct loader's rows/s and the pipeline's share
// of it, and peak RSS in MiB by process kind; CPU time by
// process kind; the stages' peak backlogs.
func table(results []result) string {
	var b strings.Builder
	row := func(lead string, cols []string, cell func(col string) string) {
		b.WriteString(lead)
		for _, c := range cols {
			fmt.Fprintf(&b, " %12s", cell(c))
		}
		b.WriteString("\n")
	}
	name := func(col string) string { return col }
	row(fmt.Sprintf("%-9s %9s %7s %9s %7s  peak RSS MiB:", "instances", "rows/s", "ratio", "direct", "share"), rssKinds, name)
	for _, r := range results {
		row(fmt.Sprintf("%-9d %9.0f %6.2fx %9.0f %6.2fx %13s", r.instances, r.rowsPerS, r.rowsPerS/results[0].rowsPerS,
			r.directPerS, r.rowsPerS/r.directPerS, ""), rssKinds,
			func(k string) string { return strconv.FormatInt(r.peakRSS[k]>>20, 10) })
	}
	b.WriteString("CPU seconds during the imports by process kind (cores: their sum over the time taken):\n")
	row(fmt.Sprintf("%-9s %6s", "instances", "cores"), rssKinds, name)
	for _, r := range results {
		var sum time.Duration
		for _, t := range r.cpu {
			sum += t
		}
		row(fmt.Sprintf("%-9d %6.2f", r.instances, sum.Seconds()/r.took.Seconds()), rssKinds,
			func(k string) string { return fmt.Sprintf("%.1f", r.cpu[k].Seconds()) })
	}
	b.WriteString("peak backlog (messages unacknowledged at once) by stage:\n")
	row(fmt.Sprintf("%-9s", "instances"), backlogStages, name)
	for _, r := range results {
		row(fmt.Sprintf("%-9d", r.instances), backlogStages, func(st string) string { return strconv.Itoa(r.backlog[st]) })
	}
	return b.String()
}
