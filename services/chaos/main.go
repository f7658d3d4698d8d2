// Command chaos is the fault harness of `make chaos`. It runs Intake as
// separate processes on loopback (the intake binary per target, nats-server
// built from its Go module, FerretDB in `intake ferretdb`), drives imports
// through them, kills processes with SIGKILL at random moments, restarts
// them, and checks the invariants afterwards: every accepted import
// finishes, each source row is counted exactly once in the right bucket, and
// the database holds exactly the expected records. Every scenario prints
// what it did and PASS or FAIL; the run ends with a summary line and exits
// non-zero on any failure.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	{"kill -9 each service in turn mid-import (separate processes), restart it", killEachService},
}

// scenarios is every scenario of the harness, in the order they run:
// process kills, then the faults of faults.go (database outage, poison
// data, backpressure), then the NATS cluster of cluster.go.
var scenarios = concat(processScenarios, faultScenarios, clusterScenarios)

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
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "intake-chaos-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	e, err := build(ctx, dir)
	if err != nil {
		fail(err)
	}
	fmt.Printf("seed %d, %d runs of each scenario, %d rows per import\n", *seed, *runs, *rows)
	rng := rand.New(rand.NewPCG(*seed, 0))
	passed, failed := runAll(ctx, e, *runs, *rows, *only, rng, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chaos:", err)
	os.Exit(1)
}

// runAll runs every scenario runs times, each in a fresh directory.
func runAll(ctx context.Context, e *env, runs, rows int, only string, rng *rand.Rand, say func(string, ...any)) (passed, failed int) {
	for _, sc := range scenarios {
		if only != "" && !strings.Contains(sc.name, only) {
			continue
		}
		for i := 1; i <= runs; i++ {
			run := *e
			run.dir = filepath.Join(e.dir, fmt.Sprintf("%s-%d", strings.Fields(sc.name)[2], i))
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

// killAt waits a random moment within the import's expected processing time.
func killAt(rng *rand.Rand, rows int) time.Duration {
	return time.Duration(rng.Int64N(int64(time.Duration(rows)*time.Second/8000) + 1))
}

func killAllInOne(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	http, mongoAddr := freeAddr(), freeAddr()
	p, err := e.start("intake", e.intakeBin, "serve", "--data-dir", filepath.Join(e.dir, "data"), "--http-addr", http,
		"--embedded-nats-addr", "127.0.0.1:0", "--embedded-mongo-addr", mongoAddr, "--ack-wait", e.ackWait, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer p.stop()
	base := "http://" + http
	if err := waitHTTP(ctx, base+"/readyz"); err != nil {
		return err
	}
	a, b := makeContacts(rows, "a"), makeContacts(rows/2, "b")
	ida, err := upload(base, "", a)
	if err != nil {
		return err
	}
	idb, err := upload(base, "", b)
	if err != nil {
		return err
	}
	d := killAt(rng, rows)
	time.Sleep(d)
	p.kill9()
	say("killed intake %s after both uploads were accepted; restarting", d.Round(time.Millisecond))
	if err := p.run(); err != nil {
		return err
	}
	if err := waitHTTP(ctx, base+"/readyz"); err != nil {
		return err
	}
	for id, c := range map[string]contacts{ida: a, idb: b} {
		if err := check(ctx, base, "mongodb://"+mongoAddr+"/", "default", id, c, 5*time.Minute); err != nil {
			return err
		}
	}
	return nil
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
		"--nats-url", "nats://"+natsAddr, "--embedded-mongo-addr", mongoAddr, "--ack-wait", e.ackWait, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer p.stop()
	base := "http://" + http
	if err := waitHTTP(ctx, base+"/readyz"); err != nil {
		return err
	}
	c := makeContacts(rows, "n")
	id, err := upload(base, "", c)
	if err != nil {
		return err
	}
	d := killAt(rng, rows)
	time.Sleep(d)
	ns.kill9()
	down := time.Duration(500+rng.IntN(2500)) * time.Millisecond
	say("killed nats-server %s after the upload was accepted; down for %s", d.Round(time.Millisecond), down)
	time.Sleep(down)
	if err := ns.run(); err != nil {
		return err
	}
	return check(ctx, base, "mongodb://"+mongoAddr+"/", "default", id, c, 5*time.Minute)
}

func killEachService(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	natsAddr, mongoAddr := freeAddr(), freeAddr()
	host, port, _ := strings.Cut(natsAddr, ":")
	ns, err := e.start("nats-server", e.natsBin, "-js", "-sd", filepath.Join(e.dir, "nats"), "-a", host, "-p", port)
	if err != nil {
		return err
	}
	defer ns.stop()
	db, err := e.start("ferretdb", e.intakeBin, "ferretdb", "--data-dir", filepath.Join(e.dir, "db"), "--listen", mongoAddr)
	if err != nil {
		return err
	}
	defer db.stop()
	common := []string{"--nats-url", "nats://" + natsAddr, "--mongo-uri", "mongodb://" + mongoAddr + "/", "--ack-wait", e.ackWait, "--log-level", "warn"}
	procs := map[string]*proc{}
	var base string
	for _, target := range []string{"ingest", "validator", "deduplicator", "writer", "reporter"} {
		addr := freeAddr()
		p, err := e.start(target, e.intakeBin, append([]string{"serve", "--target=" + target, "--http-addr", addr}, common...)...)
		if err != nil {
			return err
		}
		defer p.stop()
		procs[target] = p
		if target == "ingest" {
			base = "http://" + addr
		}
		if err := waitHTTP(ctx, "http://"+addr+"/readyz"); err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
	}
	for _, target := range []string{"validator", "deduplicator", "writer", "reporter"} {
		c := makeContacts(rows/4, "s"+target[:3])
		id, err := upload(base, "", c)
		if err != nil {
			return err
		}
		d := killAt(rng, rows/4)
		time.Sleep(d)
		procs[target].kill9()
		say("killed %s %s into an import; restarting", target, d.Round(time.Millisecond))
		if err := procs[target].run(); err != nil {
			return err
		}
		if err := check(ctx, base, "mongodb://"+mongoAddr+"/", "default", id, c, 5*time.Minute); err != nil {
			return fmt.Errorf("after killing %s: %w", target, err)
		}
	}
	return nil
}
