// Command chaos is the fault harness of `make chaos`. It runs Intake as
// processes on loopback (the intake binary per target or all-in-one,
// nats-server built from its Go module, FerretDB in `intake ferretdb`),
// drives imports of several tenants (each with its own API key) through
// them, and breaks something at a random moment: kills a process with
// SIGKILL and restarts it, cuts an upload off, takes the database away,
// feeds a value the database refuses, stops the writer under a large
// upload. Afterwards it checks the invariants per row and per document:
// every accepted import finishes, each source row is counted exactly once
// in the right bucket, the database holds exactly the expected records
// (created by the right row), and no tenant sees another's imports or
// records. Every scenario prints what it did and PASS or FAIL; the run ends
// with a summary line and exits non-zero on any failure (keeping the logs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/intake/intake/pkg/envelope"
)

// scenario is one fault injection with its checks.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error
}

// processScenarios kill processes of a single-node system (this file).
var processScenarios = []scenario{
	{"kill -9 the all-in-one process mid-import, restart on the same data dir", killAllInOne},
	{"kill -9 nats-server mid-import, restart it", killNATS},
	{"kill -9 each service in turn mid-import (separate processes, the busiest instance), restart it", killEachService},
}

// scenarios is every scenario of the harness, in the order they run:
// process kills, the partition holder's kill of owner.go, then the faults
// of faults.go (database outage, poison data, backpressure), then the
// NATS cluster of cluster.go.
var scenarios = concat(processScenarios, ownerScenarios, faultScenarios, clusterScenarios)

func concat(lists ...[]scenario) []scenario {
	var all []scenario
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

func main() {
	runs := flag.Int("runs", 10, "runs of each scenario")
	rows := flag.Int("rows", 200_000, "rows per import")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to repeat a run)")
	instances := flag.Int("instances", defaultInstances, "instances of every pipeline stage (separate processes where the stages run apart)")
	times := fullTiming
	flag.DurationVar(&times.unsealed, "unsealed-timeout", times.unsealed, "--unsealed-timeout where an upload is cut off")
	flag.DurationVar(&times.outage, "outage", times.outage, "how long the database is down within the retries")
	flag.DurationVar(&times.longOutage, "long-outage", times.longOutage, "how long the database is down past the retries")
	flag.Parse()
	// Interrupted, the scenario in progress stops its processes and the
	// run ends, keeping the logs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "intake-chaos-")
	if err != nil {
		fail(err)
	}
	e, err := build(ctx, dir)
	if err != nil {
		fail(err)
	}
	e.times = times
	e.instances = max(*instances, 1)
	fmt.Printf("seed %d, %d runs of each scenario, %d rows per import, %d instances of every stage\n", *seed, *runs, *rows, e.instances)
	rng := rand.New(rand.NewPCG(*seed, 0))
	passed, failed := runAll(ctx, e, *runs, *rows, *only, rng, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if ctx.Err() != nil {
		fmt.Printf("interrupted; logs kept in %s\n", dir)
		os.Exit(1)
	}
	if failed > 0 {
		fmt.Printf("logs kept in %s\n", dir)
		os.Exit(1)
	}
	os.RemoveAll(dir)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chaos:", err)
	os.Exit(1)
}

// runAll runs every scenario runs times, each in a fresh directory.
func runAll(ctx context.Context, e *env, runs, rows int, only string, rng *rand.Rand, say func(string, ...any)) (passed, failed int) {
	for n, sc := range scenarios {
		if only != "" && !strings.Contains(sc.name, only) {
			continue
		}
		for i := 1; i <= runs && ctx.Err() == nil; i++ {
			run := *e
			run.dir = filepath.Join(e.dir, fmt.Sprintf("%d-%s-%d", n+1, slug(sc.name), i))
			_ = os.MkdirAll(run.dir, 0o755)
			start := time.Now()
			err := sc.run(ctx, &run, rows, rng, func(f string, a ...any) { say("  "+f, a...) })
			if err != nil {
				failed++
				say("FAIL %s (run %d, %s): %v (logs in %s)", sc.name, i, time.Since(start).Round(time.Second), err, run.dir)
				continue
			}
			passed++
			say("PASS %s (run %d, %s)", sc.name, i, time.Since(start).Round(time.Second))
		}
	}
	return passed, failed
}

// slug is a scenario's name as a directory name: its first words.
func slug(name string) string {
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) {
		if len(words) < 4 {
			words = append(words, w)
		}
	}
	return strings.Join(words, "-")
}

func killAllInOne(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	a, err := startAllInOne(ctx, e)
	if err != nil {
		return err
	}
	defer a.p.stop()
	jobs := jobsFor(a.tenants, rows, "a")
	at, err := uploadCounted(ctx, e, a.base, jobs, 0, rng)
	if err != nil {
		return err
	}
	killedAt := time.Now()
	a.p.kill9()
	say("killed intake %s, imports of %d tenants; restarting", at, len(jobs))
	if err := a.p.run(); err != nil {
		return err
	}
	if err := waitReady(ctx, a.base); err != nil {
		return err
	}
	if err := checkJobs(ctx, a.base, a.mongoURI, jobs, 5*time.Minute); err != nil {
		return err
	}
	if _, err := e.workLeft(a.base, jobs, killedAt); err != nil {
		return err
	}
	return alive(a.p)
}

func killNATS(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	natsAddr, http, mongoAddr := freeAddr(), freeAddr(), freeAddr()
	host, port, _ := strings.Cut(natsAddr, ":")
	ns, err := e.start("nats-server", e.natsBin, "-js", "-sd", filepath.Join(e.dir, "nats"), "-a", host, "-p", port)
	if err != nil {
		return err
	}
	defer ns.stop()
	p, err := e.start("intake", e.intakeBin, "serve", "--data-dir", filepath.Join(e.dir, "data"), "--http-addr", http,
		"--nats-url", "nats://"+natsAddr, "--embedded-mongo-addr", mongoAddr, "--ack-wait", e.ackWait, "--log-level", "warn",
		"--bootstrap-api-key", adminKey)
	if err != nil {
		return err
	}
	defer p.stop()
	base := "http://" + http
	if err := waitReady(ctx, base); err != nil {
		return err
	}
	tenants, err := createTenants(base, adminKey, tenantNames...)
	if err != nil {
		return err
	}
	jobs := jobsFor(tenants, rows/2, "n")
	at, err := uploadCounted(ctx, e, base, jobs, 0, rng)
	if err != nil {
		return err
	}
	killedAt := time.Now()
	ns.kill9()
	down := time.Duration(500+rng.IntN(2500)) * time.Millisecond
	say("killed nats-server %s, imports of %d tenants; down for %s", at, len(jobs), down)
	time.Sleep(down)
	if err := ns.run(); err != nil {
		return err
	}
	if err := checkJobs(ctx, base, "mongodb://"+mongoAddr+"/", jobs, 5*time.Minute); err != nil {
		return err
	}
	if _, err := e.workLeft(base, jobs, killedAt); err != nil {
		return err
	}
	return alive(ns, p)
}

func killEachService(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	s, err := startSplit(ctx, e, splitConfig{groups: []string{"ingest", "validator", "deduplicator", "writer", "reporter", "jobs"}})
	if err != nil {
		return err
	}
	defer s.stop()
	var all []*job
	for i, st := range []struct{ target, stage string }{
		{"validator", envelope.StageValidate}, {"deduplicator", envelope.StageDedup},
		{"writer", envelope.StageWrite}, {"reporter", envelope.StageReport},
	} {
		// Two tenants at a time, a different pair each round: imports of
		// rows and rows/2.
		pair := []tenant{s.tenants[i%3], s.tenants[(i+1)%3]}
		jobs := jobsFor(pair, rows, "s"+st.target[:3])
		before, err := ackedBy(s.addrs[st.target], st.stage)
		if err != nil {
			return err
		}
		// Uploaded while the stage is watched: it may be done with a small
		// import before a waited-for upload is answered.
		uploaded := make(chan error, 1)
		go func() { uploaded <- uploadJobs(s.base, jobs) }()
		all = append(all, jobs...)
		at, busiest, err := waitStage(ctx, e, s.addrs[st.target], st.stage, before, chunksOf(jobs), 0, rng)
		if err != nil {
			return errors.Join(err, <-uploaded)
		}
		killed := s.procs[st.target][busiest]
		killed.kill9()
		say("killed %s, the busiest of %d, %s, imports of %s and %s; restarting", killed.name, len(s.procs[st.target]), at, pair[0].name, pair[1].name)
		if err := <-uploaded; err != nil {
			return err
		}
		if err := killed.run(); err != nil {
			return err
		}
		for _, j := range jobs {
			if _, err := checkImport(ctx, s.base, s.mongoURI, j.t, j.id, j.c, 5*time.Minute, expect{}); err != nil {
				return fmt.Errorf("after killing %s: tenant %s: %w", st.target, j.t.name, err)
			}
		}
	}
	if err := checkIsolation(ctx, s.base, s.mongoURI, all); err != nil {
		return err
	}
	return s.alive()
}
