package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/tools/internal/procstat"
)

// env is where a run keeps its binaries, data and logs.
type env struct {
	dir       string
	intakeBin string
	natsBin   string
	ackWait   string // --ack-wait of the intake processes: how soon a killed worker's chunks come back
	times     timing
	// instances is how many instances of every pipeline stage run: as
	// separate processes where a scenario runs the stages apart, with
	// --instances in one process otherwise.
	instances int
	// lateFaultOK lets a fault that came after the work it aimed at pass,
	// saying so: the short test's imports are over in moments, too soon to
	// aim at. Full runs fail such a run instead.
	lateFaultOK bool
}

// timing holds the durations of the faults; the short test uses shorter
// ones where the fault allows it.
type timing struct {
	// unsealed is --unsealed-timeout where an upload is cut off: the import
	// it left must end failed within about 1.5 times this.
	unsealed time.Duration
	// outage is how long the database stays down within the retries.
	outage time.Duration
	// longOutage is how long the database stays down past the retries
	// (MaxDeliver 10 with backoff 100 ms .. 5 s: about 29 s of backoff plus
	// 10 attempts, each failing within the 2 s server selection timeout
	// the harness gives the intake processes).
	longOutage time.Duration
}

// fullTiming is what `make chaos` uses; the issue asks for a 15 s outage.
var fullTiming = timing{unsealed: 20 * time.Second, outage: 15 * time.Second, longOutage: 60 * time.Second}

// shortTiming is the short test's.
var shortTiming = timing{unsealed: 10 * time.Second, outage: 5 * time.Second, longOutage: 50 * time.Second}

// defaultInstances is how many instances of each stage the harness runs
// (--instances): two, the least that has a partition to fail over.
const defaultInstances = 2

// build compiles intake and nats-server (from the Go module) into dir.
func build(ctx context.Context, dir string) (*env, error) {
	e := &env{dir: dir, intakeBin: filepath.Join(dir, "intake"), natsBin: filepath.Join(dir, "nats-server"), ackWait: "3s", times: fullTiming,
		instances: defaultInstances}
	for bin, pkg := range map[string]string{e.intakeBin: "github.com/intake/intake/services/intake", e.natsBin: "github.com/nats-io/nats-server/v2"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return e, nil
}

// proc is a process of the system under test, restartable with the same arguments.
type proc struct {
	name string
	bin  string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has exited
}

func (e *env) start(name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, bin: bin, args: args, log: filepath.Join(e.dir, name+".log")}
	return p, p.run()
}

func (p *proc) run() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	cmd := p.cmd
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	return nil
}

// kill9 kills the process without letting it clean up.
func (p *proc) kill9() { _ = p.cmd.Process.Signal(syscall.SIGKILL); p.wait() }

// stop asks the process to shut down gracefully.
func (p *proc) stop() { _ = p.cmd.Process.Signal(syscall.SIGTERM); p.wait() }

// wait waits (up to 6 s) for the current run to exit.
func (p *proc) wait() {
	select {
	case <-p.done:
	case <-time.After(6 * time.Second):
	}
}

// exited reports whether the current run has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// peakRSS is the process's peak resident set size so far (VmHWM), in bytes.
func (p *proc) peakRSS() (int64, error) { return procstat.PeakRSS(p.cmd.Process.Pid) }

// alive fails if any of procs has exited on its own: a fault elsewhere must
// never make a process of Intake give up.
func alive(procs ...*proc) error {
	for _, p := range procs {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited by itself (log %s)", p.name, p.log)
		}
	}
	return nil
}

// freeAddr returns a loopback address nothing listens on, with a port
// below the kernel's ephemeral range: a process restarted on the same
// address must find it free, and ports in that range are handed to
// outgoing connections (a restart once failed with "address already in
// use" when a client connection took the port of the killed process).
func freeAddr() string {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	for range 1000 {
		port := 10000 + rand.IntN(max(low-10000, 1000))
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			addr := l.Addr().String()
			l.Close()
			return addr
		}
	}
	panic("no free port below the ephemeral range")
}

// waitFor calls f every 100 ms until it returns nil, for at most limit.
func waitFor(ctx context.Context, what string, limit time.Duration, f func() error) error {
	return waitEvery(ctx, what, limit, 100*time.Millisecond, f)
}

// waitEvery is waitFor calling f every interval.
func waitEvery(ctx context.Context, what string, limit, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(interval)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%s: not within %s: %v", what, limit, err)
}

// waitReady waits until the Intake API at base is ready (GET /readyz).
func waitReady(ctx context.Context, base string) error {
	return waitFor(ctx, base+"/readyz", time.Minute, func() error { return client.NewREST(base).Ready(ctx) })
}

// restOf is the REST client of Intake's API at base with t's API key.
func restOf(base string, t tenant) *client.REST {
	return client.NewREST(base, client.WithAPIKey(t.key))
}

// Tenants and their API keys.

// adminKey is the --bootstrap-api-key of the scenarios with tenants: an
// admin key of tenant default, which creates the tenants' keys.
const adminKey = "ik_chaos_bootstrap_admin_key_0123456789abcdefghij"

// tenant is who imports: its name and its API key ("" where Intake runs
// open, for tenant default).
type tenant struct{ name, key string }

// tenantNames are the tenants of the scenarios.
var tenantNames = []string{"acme", "globex", "initech"}

// createTenants creates an API key for each tenant with the admin key
// (POST /v1/keys), with the capabilities to import, read and register schemas.
func createTenants(base, admin string, names ...string) ([]tenant, error) {
	var out []tenant
	for _, name := range names {
		key, err := restOf(base, tenant{key: admin}).CreateKey(context.Background(), client.KeyRequest{Name: "chaos-" + name, Tenant: name,
			Capabilities: []string{"imports:write", "imports:read", "schemas:write"}})
		if err != nil {
			return nil, fmt.Errorf("key for tenant %s: %w", name, err)
		}
		out = append(out, tenant{name: name, key: key.Secret})
	}
	return out, nil
}

// getJSON is GET url decoded into out (for the NATS servers' monitoring).
func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Uploads.

func upload(base string, t tenant, c contacts) (string, error) {
	accepted, err := restOf(base, t).Upload(context.Background(), "contacts.csv", bytes.NewReader(c.csv), client.UploadOptions{})
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	return accepted.ID, nil
}

// heldUpload is an upload whose client sent only the start of the file and
// holds the request open, the rest never coming: the body is still
// streaming for as long as the test wants.
type heldUpload struct {
	rows    int           // data rows sent
	ended   chan error    // the request's end: why it failed (nil: it was accepted)
	release chan struct{} // closing it ends the client's side
}

// holdUpload posts c for t and sends the file up to the end of the line at
// cut bytes.
func holdUpload(base string, t tenant, c contacts, cut int) *heldUpload {
	if i := bytes.IndexByte(c.csv[cut:], '\n'); i >= 0 {
		cut += i + 1
	} else {
		cut = len(c.csv)
	}
	h := &heldUpload{rows: bytes.Count(c.csv[:cut], []byte("\n")) - 1, ended: make(chan error, 1), release: make(chan struct{})}
	// The file is a pipe that gives the start of the file, then nothing
	// until released, then an error: the client's side of the upload ends.
	pr, pw := io.Pipe()
	go func() {
		for b := c.csv[:cut]; len(b) > 0; {
			n := min(len(b), 64<<10)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		<-h.release
		pw.CloseWithError(fmt.Errorf("the client gave up"))
	}()
	go func() {
		_, err := restOf(base, t).Upload(context.Background(), "contacts.csv", pr, client.UploadOptions{})
		pr.Close() // the writer above stops, also when the server answered early
		h.ended <- err
	}()
	return h
}

// Systems under test.

// split is Intake as separate processes on loopback: nats-server, FerretDB
// (`intake ferretdb`) and `intake serve --target=...` per group of
// targets, with API keys (--bootstrap-api-key) and a key for each tenant.
// Every group but ingest runs as env.instances processes, instance i of
// them with --instance-index i --instance-count env.instances, so that
// each stage's partitions are spread over processes that can die apart.
// With splitConfig.embedded the first group's process runs NATS and
// FerretDB embedded instead (one process, with --instances), and the
// others connect to it.
type split struct {
	nats, db  *proc
	dbAddr    string
	natsURL   string              // the broker, with credentials where embedded
	procs     map[string][]*proc  // by group, e.g. "ingest", "validator,deduplicator,writer,reporter": one per instance
	addrs     map[string][]string // HTTP address (API, health, metrics) by group, as procs
	order     []string
	base      string // ingest's API
	mongoURI  string // the database, for the checks
	tenants   []tenant
	dbOptions string
}

// splitConfig says how to start a split system.
type splitConfig struct {
	groups []string            // target lists, one process each (per instance); one must be "ingest"
	flags  map[string][]string // extra flags by group
	// dbOptions are added to the processes' --mongo-uri (e.g.
	// "serverSelectionTimeoutMS=2000": an operation fails after 2 s
	// without a database instead of the driver's 30 s).
	dbOptions string
	// embedded: the first group runs NATS and FerretDB in its process (the
	// embedded default, with its fast reads of records by _id).
	embedded bool
}

func startSplit(ctx context.Context, e *env, cfg splitConfig) (_ *split, err error) {
	s := &split{procs: map[string][]*proc{}, addrs: map[string][]string{}, dbAddr: freeAddr(), dbOptions: cfg.dbOptions}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	natsAddr := freeAddr()
	host, port, _ := strings.Cut(natsAddr, ":")
	if !cfg.embedded {
		if s.nats, err = e.start("nats-server", e.natsBin, "-js", "-sd", filepath.Join(e.dir, "nats"), "-a", host, "-p", port); err != nil {
			return nil, err
		}
		if s.db, err = e.start("ferretdb", e.intakeBin, "ferretdb", "--data-dir", filepath.Join(e.dir, "db"), "--listen", s.dbAddr); err != nil {
			return nil, err
		}
	}
	s.mongoURI = "mongodb://" + s.dbAddr + "/"
	uri := s.mongoURI
	if cfg.dbOptions != "" {
		uri += "?" + cfg.dbOptions
	}
	s.natsURL = "nats://" + natsAddr
	for i, group := range cfg.groups {
		embeds := cfg.embedded && i == 0
		processes := e.instances
		if group == "ingest" || embeds {
			processes = 1
		}
		s.order = append(s.order, group)
		for n := range processes {
			addr := freeAddr()
			args := []string{"serve", "--target=" + group, "--http-addr", addr, "--nats-url", s.natsURL, "--mongo-uri", uri,
				"--ack-wait", e.ackWait, "--log-level", "warn"}
			if embeds {
				args = []string{"serve", "--target=" + group, "--http-addr", addr, "--data-dir", filepath.Join(e.dir, "data"),
					"--embedded-nats-addr", natsAddr, "--embedded-mongo-addr", s.dbAddr, "--ack-wait", e.ackWait, "--log-level", "warn",
					"--instances", strconv.Itoa(e.instances)}
			}
			name := strings.ReplaceAll(group, ",", "+")
			switch {
			case group == "ingest":
				args = append(args, "--bootstrap-api-key", adminKey)
				s.base = "http://" + addr
			case !embeds:
				args = append(args, "--instance-index", strconv.Itoa(n), "--instance-count", strconv.Itoa(processes))
				name += "-" + strconv.Itoa(n)
			}
			args = append(args, cfg.flags[group]...)
			p, err := e.start(name, e.intakeBin, args...)
			if err != nil {
				return nil, err
			}
			s.procs[group] = append(s.procs[group], p)
			s.addrs[group] = append(s.addrs[group], addr)
			if err := waitReady(ctx, "http://"+addr); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		if embeds {
			// The other processes connect with the credentials the
			// embedded nats-server generated (kept across its restarts).
			if s.natsURL, err = embeddedNATSURL(filepath.Join(e.dir, "data")); err != nil {
				return nil, err
			}
		}
	}
	if s.base == "" {
		return nil, fmt.Errorf("no ingest among %v", cfg.groups)
	}
	if s.tenants, err = createTenants(s.base, adminKey, tenantNames...); err != nil {
		return nil, err
	}
	return s, nil
}

// workersAndIngest are the intake processes, in the order started.
func (s *split) workersAndIngest() []*proc {
	var out []*proc
	for _, g := range s.order {
		out = append(out, s.procs[g]...)
	}
	return out
}

// alive fails if any process has exited on its own.
func (s *split) alive() error {
	return alive(append(s.workersAndIngest(), s.nats, s.db)...)
}

func (s *split) stop() {
	procs := s.workersAndIngest()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
	for _, p := range []*proc{s.db, s.nats} {
		if p != nil {
			p.stop()
		}
	}
}

// chunkCounts sums chunkCounts over a group's processes.
func (s *split) chunkCounts(group string) (map[string]float64, error) {
	total := map[string]float64{}
	for _, addr := range s.addrs[group] {
		counts, err := chunkCounts(addr)
		if err != nil {
			return nil, err
		}
		for k, n := range counts {
			total[k] += n
		}
	}
	return total, nil
}

// chunkCounts reads intake_chunks_total from a process's /metrics, by
// "stage/outcome" (outcomes: acked, retried, dead_lettered).
func chunkCounts(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		labels, ok := strings.CutPrefix(sc.Text(), "intake_chunks_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(labels, "} ")
		var stage, outcome string
		for _, l := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "stage":
				stage = strings.Trim(v, `"`)
			case "outcome":
				outcome = strings.Trim(v, `"`)
			}
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", sc.Text(), err)
		}
		out[stage+"/"+outcome] += n
	}
	return out, sc.Err()
}

// byOutcome sums counts of one outcome over the stages and lists them.
func byOutcome(counts map[string]float64, outcome string) (float64, string) {
	var total float64
	var parts []string
	for _, stage := range []string{"validate", "dedup", "write", "report"} {
		n := counts[stage+"/"+outcome]
		total += n
		parts = append(parts, fmt.Sprintf("%s %.0f", stage, n))
	}
	return total, strings.Join(parts, ", ")
}

// allInOne is `intake serve` on the embedded default (NATS and FerretDB in
// the process), with API keys and a key for each tenant.
type allInOne struct {
	p        *proc
	base     string
	mongoURI string
	tenants  []tenant
}

// Its FerretDB listens on loopback TCP, which the harness reads the records
// through; its nats-server listens only if flags ask.
func startAllInOne(ctx context.Context, e *env, flags ...string) (*allInOne, error) {
	http, mongoAddr := freeAddr(), freeAddr()
	args := append([]string{"serve", "--data-dir", filepath.Join(e.dir, "data"), "--http-addr", http,
		"--embedded-mongo-addr", mongoAddr, "--ack-wait", e.ackWait, "--log-level", "warn",
		"--bootstrap-api-key", adminKey, "--instances", strconv.Itoa(e.instances)}, flags...)
	p, err := e.start("intake", e.intakeBin, args...)
	if err != nil {
		return nil, err
	}
	a := &allInOne{p: p, base: "http://" + http, mongoURI: "mongodb://" + mongoAddr + "/"}
	if err := waitReady(ctx, a.base); err != nil {
		p.stop()
		return nil, err
	}
	if a.tenants, err = createTenants(a.base, adminKey, tenantNames...); err != nil {
		p.stop()
		return nil, err
	}
	return a, nil
}

// embeddedNATSURL is the URL, with the generated credentials, of the
// embedded nats-server of the intake serving dataDir.
func embeddedNATSURL(dataDir string) (string, error) {
	c, err := embedded.ReadNATSContext(dataDir)
	if err != nil {
		return "", err
	}
	return c.URLWithCredentials()
}
