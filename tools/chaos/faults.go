package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
)

// faultScenarios break something other than a process of the pipeline's
// workers: an upload's connection, the database, the data, the consumers'
// pace. Every one runs imports of several tenants at once.
var faultScenarios = []scenario{
	{"kill -9 ingest during an upload (body still streaming), restart it", killIngestMidUpload},
	{"database (intake ferretdb) killed -9 mid-import, restarted on its data within the retries", databaseOutage},
	{"database (intake ferretdb) killed -9 mid-import, down past the retries", databaseOutagePastRetries},
	{"poison value: a value FerretDB refuses on every attempt fails its row alone", poisonChunk},
	{"backpressure: writer stopped during a large upload, ingest memory bounded", backpressure},
}

// workers is the group of targets that runs beside a separate ingest.
const workers = "validator,deduplicator,writer,reporter,jobs"

// cutOff is an upload that ingest's death cuts off.
type cutOff struct {
	t  tenant
	c  contacts
	up *heldUpload
}

// killIngestMidUpload kills ingest while two uploads are still streaming
// their bodies and two other imports, accepted before, are in flight in the
// workers. Invariants: the cut-off requests fail; the accepted imports are
// exact; an import a cut-off upload left behind (visible in GET
// /v1/imports) ends failed, "never sealed", within about 1.5 times
// --unsealed-timeout of its last progress, having counted only rows that
// were sent, each once and rightly; uploading the same file again completes exactly (the rows whose
// records the cut-off import created are skipped "unchanged").
func killIngestMidUpload(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	// The cut-off files have at least 10,000 rows and small chunks, so that
	// ingest has published several bursts (64 messages each) of them
	// before the kill: it reads ahead some 150 KB of a body.
	cutRows := max(rows, 10_000)
	chunk := min(max(cutRows/400, 10), 500)
	// The workers run NATS and FerretDB embedded, as the default does
	// (ingest, the process killed, is on its own).
	s, err := startSplit(ctx, e, splitConfig{
		groups:   []string{workers, "ingest"},
		embedded: true,
		flags: map[string][]string{
			"ingest": {"--chunk-size", strconv.Itoa(chunk)},
			workers:  {"--unsealed-timeout", e.times.unsealed.String()},
		},
	})
	if err != nil {
		return err
	}
	defer s.stop()
	acme, globex, initech := s.tenants[0], s.tenants[1], s.tenants[2]
	cuts := []*cutOff{{t: acme, c: makeContacts(cutRows, "hac")}, {t: globex, c: makeContacts(cutRows, "hgl")}}
	for _, h := range cuts {
		h.up = holdUpload(s.base, h.t, h.c, int(float64(len(h.c.csv))*(0.6+0.3*rng.Float64())))
	}
	jobs := []*job{{t: globex, c: makeContacts(rows/2, "wgl")}, {t: initech, c: makeContacts(rows/2, "win")}}
	if err := uploadJobs(s.base, jobs); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, j := range jobs {
		known[j.id] = true
	}
	// Kill once the cut-off imports are listed (their rows are flowing), or
	// regardless after 15 s: an upload that left nothing visible is fine too.
	visible := waitFor(ctx, "the cut-off uploads' imports to be listed", 15*time.Second, func() error {
		for _, h := range cuts {
			ids, err := otherImports(s.base, h.t, known)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				return fmt.Errorf("none yet for %s", h.t.name)
			}
		}
		return nil
	})
	d := time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
	time.Sleep(d)
	s.procs["ingest"][0].kill9()
	say("killed ingest %s after the cut-off uploads' imports were listed (%v), with %d and %d rows of %d and %d sent, 2 accepted imports in flight; restarting",
		d.Round(time.Millisecond), visible == nil, cuts[0].up.rows, cuts[1].up.rows, cuts[0].c.total, cuts[1].c.total)
	for _, h := range cuts {
		// The client stops sending (Go's client returns only once its body
		// writer is done), and its request must have failed.
		close(h.up.release)
		select {
		case err := <-h.up.ended:
			if err == nil {
				return fmt.Errorf("the cut-off upload for %s was accepted", h.t.name)
			}
		case <-time.After(30 * time.Second):
			return fmt.Errorf("the cut-off upload for %s did not end within 30 s of ingest's death", h.t.name)
		}
	}
	if err := s.procs["ingest"][0].run(); err != nil {
		return err
	}
	if err := waitReady(ctx, s.base); err != nil {
		return err
	}
	// Watch the imports the cut-off uploads left from now on: each must end
	// within about 1.5 times the timeout of its last progress.
	left := make([]string, len(cuts))
	ends := make([]chan watched, len(cuts))
	for i, h := range cuts {
		ids, err := otherImports(s.base, h.t, known)
		if err != nil {
			return err
		}
		if len(ids) > 1 {
			return fmt.Errorf("one cut-off upload for %s left %d imports: %v", h.t.name, len(ids), ids)
		}
		ends[i] = make(chan watched, 1)
		if len(ids) == 1 {
			left[i] = ids[0]
			known[ids[0]] = true
			go func() { ends[i] <- watchEnd(ctx, s.base, h.t, ids[0], 5*time.Minute) }()
		}
	}
	for _, j := range jobs {
		if _, err := checkImport(ctx, s.base, s.mongoURI, j.t, j.id, j.c, 5*time.Minute, expect{}); err != nil {
			return fmt.Errorf("accepted import %s of %s: %w", j.c.tag, j.t.name, err)
		}
	}
	// The imports the cut-off uploads left end failed in bounded time,
	// having counted only what was sent, each row once.
	bound := e.times.unsealed*3/2 + 15*time.Second
	existing := make([]map[string]bool, len(cuts))
	for i, h := range cuts {
		existing[i] = map[string]bool{}
		if left[i] == "" {
			// A cut-off upload may leave nothing (killed before its first
			// burst was stored), or its import may be listed only now.
			ids, err := otherImports(s.base, h.t, known)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				say("the cut-off upload of %s left no import", h.t.name)
				continue
			}
			left[i] = ids[0]
			go func() { ends[i] <- watchEnd(ctx, s.base, h.t, ids[0], 5*time.Minute) }()
		}
		w := <-ends[i]
		if w.err != nil {
			return fmt.Errorf("the import the cut-off upload of %s left: %w", h.t.name, w.err)
		}
		if w.idle > bound {
			return fmt.Errorf("the import the cut-off upload of %s left ended %s after its last progress; want within %s (--unsealed-timeout %s)",
				h.t.name, w.idle.Round(time.Second), bound, e.times.unsealed)
		}
		created, sum, err := checkPartial(ctx, s.base, s.mongoURI, h.t, left[i], h.c, h.up.rows, time.Minute)
		if err != nil {
			return err
		}
		say("cut-off import of %s: %d of %d rows sent, %d accounted for (%d created), ended %s %s after its last progress: %s",
			h.t.name, h.up.rows, h.c.total, sum.Processed, sum.Created, sum.Status, w.idle.Round(time.Second), sum.Reason)
		existing[i] = created
	}
	// Uploaded again, the files import exactly.
	all := append([]*job(nil), jobs...)
	var again []*job
	for _, h := range cuts {
		again = append(again, &job{t: h.t, c: h.c})
	}
	if err := uploadJobs(s.base, again); err != nil {
		return fmt.Errorf("uploading the cut-off files again: %w", err)
	}
	for i, j := range again {
		if _, err := checkImport(ctx, s.base, s.mongoURI, j.t, j.id, j.c, 5*time.Minute, expect{existing: existing[i]}); err != nil {
			return fmt.Errorf("the cut-off file of %s uploaded again: %w", j.t.name, err)
		}
	}
	all = append(all, again...)
	if err := checkIsolation(ctx, s.base, s.mongoURI, all); err != nil {
		return err
	}
	return s.alive()
}

// otherImports lists a tenant's imports not in known.
func otherImports(base string, t tenant, known map[string]bool) ([]string, error) {
	list, err := restOf(base, t).Imports(context.Background(), 1000)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range list {
		if !known[s.ID] {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// databaseOutage kills the database (the `intake ferretdb` process) with
// SIGKILL while imports of three tenants are in flight and restarts it on
// the same data directory after e.times.outage (15 s in `make chaos`):
// every stage retries with backoff and every import completes exactly.
//
// Why kill -9 and not SIGSTOP: a killed database refuses connections, so
// every operation fails (in-flight ones at once, the next ones after the
// driver's server selection timeout) and the retries with backoff are what
// is exercised, as is SQLite's recovery of a database killed mid-write. A
// stopped one keeps its connections open and answers nothing: operations
// hang until the handler's timeout instead of failing, which tests less of
// what the issue asks (and the same retries afterwards).
func databaseOutage(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	// A 2 s server selection timeout (the driver's default is 30 s) makes
	// each attempt fail within 2 s while the database is down.
	s, err := startSplit(ctx, e, splitConfig{groups: []string{"ingest", workers}, dbOptions: "serverSelectionTimeoutMS=2000"})
	if err != nil {
		return err
	}
	defer s.stop()
	jobs := jobsFor(s.tenants, max(rows, 20_000), "o") // large enough to be caught mid-import
	// Once the imports are counting: every stage is at work.
	at, err := uploadCounted(ctx, e, s.base, jobs, 1, rng)
	if err != nil {
		return err
	}
	killedAt := time.Now()
	s.db.kill9()
	say("killed the database %s, imports of %d tenants; down for %s", at, len(jobs), e.times.outage)
	time.Sleep(e.times.outage)
	if err := alive(append(s.workersAndIngest(), s.nats)...); err != nil {
		return fmt.Errorf("while the database was down: %w", err)
	}
	if err := s.db.run(); err != nil {
		return err
	}
	if err := checkJobs(ctx, s.base, s.mongoURI, jobs, 5*time.Minute); err != nil {
		return err
	}
	late, err := e.workLeft(s.base, jobs, killedAt)
	if err != nil {
		return err
	}
	counts, err := s.chunkCounts(workers)
	if err != nil {
		return err
	}
	retried, which := byOutcome(counts, "retried")
	say("chunks retried: %s", which)
	if dead, which := byOutcome(counts, "dead_lettered"); dead > 0 {
		return fmt.Errorf("chunks dead-lettered within the retries: %s", which)
	}
	// Imports that completed after the kill had work in some stage while
	// the database was down, and every stage needs the database for every
	// chunk. (Sampled from the summaries afterwards: a "processing" seen
	// just before the kill may have completed before it.)
	if late > 0 && retried == 0 {
		return fmt.Errorf("%d imports completed after the database went down, and no chunk was retried", late)
	}
	return s.alive()
}

// completedAfter counts the imports whose summary says they completed after t.
func completedAfter(base string, jobs []*job, t time.Time) int {
	return countSummaries(base, jobs, func(s client.Summary) bool { return s.CompletedAt != nil && s.CompletedAt.After(t) })
}

// databaseOutagePastRetries keeps the database down past the retries
// (MaxDeliver 10, backoff 100 ms .. 5 s, each attempt failing within a
// 200 ms server selection timeout): the chunks in flight are dead-lettered
// and their rows reported failed with the reason. Once the database is back
// every import ends (nothing stuck), failed and saying how many rows were
// given up on if any were; every row is still counted once and rightly, and
// the records written are exactly right.
//
// The imports are at most 10,000 rows in chunks of 1,000: a stage's runner
// tries its messages one after the other, so with hundreds of chunks
// waiting each one's next attempt comes later, and the 10 attempts take
// longer than the outage (the retry budget grows with the backlog).
func databaseOutagePastRetries(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	s, err := startSplit(ctx, e, splitConfig{
		groups:    []string{"ingest", workers},
		flags:     map[string][]string{"ingest": {"--chunk-size", "1000"}},
		dbOptions: "serverSelectionTimeoutMS=200",
	})
	if err != nil {
		return err
	}
	defer s.stop()
	jobs := jobsFor(s.tenants, min(rows, 10_000), "d")
	if err := uploadJobs(s.base, jobs); err != nil {
		return err
	}
	d := time.Duration(rng.Int64N(int64(200 * time.Millisecond)))
	time.Sleep(d)
	busy := processing(s.base, jobs)
	s.db.kill9()
	say("killed the database %s after %d imports of %d tenants were accepted (%d still processing); down for %s",
		d.Round(time.Millisecond), len(jobs), len(s.tenants), busy, e.times.longOutage)
	time.Sleep(e.times.longOutage)
	if err := alive(append(s.workersAndIngest(), s.nats)...); err != nil {
		return fmt.Errorf("while the database was down: %w", err)
	}
	if err := s.db.run(); err != nil {
		return err
	}
	dead := 0
	for _, j := range jobs {
		out, err := checkImport(ctx, s.base, s.mongoURI, j.t, j.id, j.c, 5*time.Minute, expect{degraded: true})
		if err != nil {
			return fmt.Errorf("tenant %s, import %s: %w", j.t.name, j.c.tag, err)
		}
		dead += len(out.dead)
		if len(out.dead) > 0 {
			say("import of %s ended %s: %s", j.t.name, out.sum.Status, shorten(out.sum.Reason))
		} else {
			say("import of %s ended %s", j.t.name, out.sum.Status)
		}
	}
	if busy > 0 && dead == 0 {
		return fmt.Errorf("%d imports were processing when the database went down for %s, and no row was given up on", busy, e.times.longOutage)
	}
	counts, err := s.chunkCounts(workers)
	if err != nil {
		return err
	}
	_, which := byOutcome(counts, "dead_lettered")
	say("chunks dead-lettered: %s", which)
	if n := counts["report/dead_lettered"]; n > 0 {
		return fmt.Errorf("the reporter dead-lettered %.0f accounting messages", n)
	}
	if err := checkIsolation(ctx, s.base, s.mongoURI, jobs); err != nil {
		return err
	}
	return s.alive()
}

// processing counts the jobs still processing (for the record: a fault
// that hits only finished imports tests little).
func processing(base string, jobs []*job) int {
	return countSummaries(base, jobs, func(s client.Summary) bool { return s.Status == client.StatusProcessing })
}

// countSummaries counts the imports whose summary, read now, satisfies is
// (an import whose summary could not be read does not).
func countSummaries(base string, jobs []*job, is func(client.Summary) bool) int {
	sums, errs := readSummaries(base, jobs)
	n := 0
	for i, s := range sums {
		if errs[i] == nil && is(s) {
			n++
		}
	}
	return n
}

// readSummaries reads the jobs' summaries at once, with each read's error:
// a read takes up to a second on a loaded machine, and one after the other
// they would be seconds out of date.
func readSummaries(base string, jobs []*job) ([]client.Summary, []error) {
	sums := make([]client.Summary, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			s, err := restOf(base, j.t).Summary(context.Background(), j.id, 0)
			if s != nil {
				sums[i] = *s
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return sums, errs
}

func shorten(s string) string {
	if len(s) > 240 {
		return s[:240] + "..."
	}
	return s
}

// poisonValue passes validation (a JSON object) and is refused by the
// embedded FerretDB on every insert: FerretDB v1 does not store nested arrays.
const poisonValue = `{"matrix": [[1, 2], [3, 4]]}`

// poisonSchema is tenant acme's own contacts schema: the built-in one with
// a JSON field "extra".
const poisonSchema = `{"name": "contacts", "fields": [
  {"name": "name", "type": "string", "max_length": 200},
  {"name": "email", "type": "email", "max_length": 254},
  {"name": "phone", "type": "phone", "region": "US"},
  {"name": "company", "type": "string", "max_length": 200},
  {"name": "extra", "type": "json"}],
 "at_least_one_of": [["email", "phone"]], "keys": ["email", "phone"], "unknown_headers": "ignore"}`

// poisonChunk imports, for acme, a file with one row whose value the
// database refuses every time (real data: a JSON cell with nested arrays,
// which validation accepts and FerretDB v1 cannot store), beside imports of
// two other tenants. That row fails alone, with the database's reason; the
// other rows of its chunk are written and counted created (the unordered
// insert wrote them), nothing is dead-lettered, the import completes, and
// everything else, in this import and the others, is exact.
func poisonChunk(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	natsAddr := freeAddr()
	a, err := startAllInOne(ctx, e, "--embedded-nats-addr", natsAddr)
	if err != nil {
		return err
	}
	defer a.p.stop()
	acme := a.tenants[0]
	if err := restOf(a.base, acme).PutSchema(ctx, "contacts", []byte(poisonSchema)); err != nil {
		return fmt.Errorf("acme's schema: %w", err)
	}
	clean := makeContacts(rows, "pac")
	var candidates []int // rows that reach the writer
	for key, row := range clean.first {
		_ = key
		candidates = append(candidates, row)
	}
	sort.Ints(candidates)
	poisoned := candidates[rng.IntN(len(candidates))]
	c := makeContactsWith(rows, "pac", map[int]string{poisoned: poisonValue})
	// The poisoned row fails, and its record is never stored.
	c.failed[poisoned] = true
	delete(c.records, c.keyOf[poisoned])
	poison := &job{t: acme, c: c}
	jobs := append([]*job{poison}, jobsFor(a.tenants[1:], rows/2, "p")...)
	if err := uploadJobs(a.base, jobs); err != nil {
		return err
	}
	say("row %d of acme's import carries %s", poisoned, poisonValue)
	start := time.Now()
	out, err := checkImport(ctx, a.base, a.mongoURI, acme, poison.id, c, 5*time.Minute, expect{})
	if err != nil {
		return err
	}
	failed, codes, err := rowErrors(a.base, acme, poison.id, "failed")
	if err != nil {
		return err
	}
	if msg := failed[poisoned]; codes[poisoned] != envelope.CodeDatabase || !strings.Contains(msg, "nested arrays are not supported") {
		return fmt.Errorf("row %d failed without the database's code and reason: %s %q", poisoned, codes[poisoned], msg)
	}
	say("acme's import ended %s after %s: %d created, %d failed", out.sum.Status, time.Since(start).Round(time.Second), out.sum.Created, out.sum.Failed)
	natsURL, err := embeddedNATSURL(filepath.Join(e.dir, "data"))
	if err != nil {
		return err
	}
	if err := noDeadLetter(ctx, natsURL, "write", subjects.For(subjects.Unique, acme.name, poison.id)); err != nil {
		return err
	}
	for _, j := range jobs[1:] {
		if _, err := checkImport(ctx, a.base, a.mongoURI, j.t, j.id, j.c, 5*time.Minute, expect{}); err != nil {
			return fmt.Errorf("tenant %s, import %s: %w", j.t.name, j.c.tag, err)
		}
	}
	if err := checkIsolation(ctx, a.base, a.mongoURI, jobs); err != nil {
		return err
	}
	return alive(a.p)
}

// noDeadLetter checks that INTAKE_DEAD holds nothing stage gave up on from
// subject.
func noDeadLetter(ctx context.Context, natsURL, stage, subject string) error {
	nc, js, err := streams.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	st, err := js.Stream(ctx, subjects.StreamDead)
	if err != nil {
		return err
	}
	m, err := st.GetLastMsgForSubject(ctx, subjects.DeadFor(stage, subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", subjects.DeadFor(stage, subject), err)
	}
	return fmt.Errorf("dead letter on %s: %s", m.Subject, m.Header.Get("Intake-Reason"))
}

// ingestRSSLimit bounds ingest's peak resident memory while a large file
// is uploaded with the writer stopped.
const ingestRSSLimit = 300 << 20

// backpressure stops the writers (every instance) and uploads a file of 5 times --rows rows
// (1,000,000 in `make chaos`) for acme, with imports of two other tenants.
// Ingest streams the upload into JetStream, which buffers the backlog on
// disk (the streams have no MaxBytes), so the upload is accepted at the
// broker's pace whatever the writer does; the validator and deduplicator
// go on and the imports wait for the writer. Invariants: ingest's peak RSS
// (VmHWM) stays under 300 MiB; no import finishes without the writer; once
// it is back every import completes exactly.
func backpressure(ctx context.Context, e *env, rows int, rng *rand.Rand, say func(string, ...any)) error {
	s, err := startSplit(ctx, e, splitConfig{groups: []string{"ingest", "validator,deduplicator,reporter,jobs", "writer"}})
	if err != nil {
		return err
	}
	defer s.stop()
	writers := s.procs["writer"]
	for _, w := range writers {
		w.stop()
	}
	big := &job{t: s.tenants[0], c: makeContacts(rows*5, "bac")}
	jobs := append([]*job{big}, jobsFor(s.tenants[1:], rows/2, "b")...)
	start := time.Now()
	if err := uploadJobs(s.base, jobs); err != nil {
		return fmt.Errorf("with the writer stopped: %w", err)
	}
	uploaded := time.Since(start)
	// Everything before the writer catches up: each import has counted its
	// invalid rows and duplicates, and waits.
	var early error
	err = waitFor(ctx, "the validator and deduplicator to catch up", 5*time.Minute, func() error {
		for _, j := range jobs {
			sum, err := restOf(s.base, j.t).Summary(ctx, j.id, 0)
			if err != nil {
				return err
			}
			if sum.Status != "processing" {
				early = fmt.Errorf("import %s of %s ended %s without a writer: %+v", j.c.tag, j.t.name, sum.Status, sum)
				return nil
			}
			if want := len(j.c.failed) + len(j.c.skipped); sum.Processed != want {
				return fmt.Errorf("%s: %d of %d rows counted", j.t.name, sum.Processed, want)
			}
		}
		return nil
	})
	if early != nil {
		return early
	}
	if err != nil {
		return err
	}
	peak, err := s.procs["ingest"][0].peakRSS()
	if err != nil {
		return err
	}
	backlog, _ := dirSize(filepath.Join(e.dir, "nats"))
	say("writer stopped; %d rows of 3 tenants uploaded in %s (acme's %d), all waiting for the writer after %s; ingest peak RSS %d MiB, broker store %d MiB",
		totalRows(jobs), uploaded.Round(100*time.Millisecond), big.c.total, time.Since(start).Round(100*time.Millisecond), peak>>20, backlog>>20)
	if peak > ingestRSSLimit {
		return fmt.Errorf("ingest's peak RSS %d MiB is over %d MiB", peak>>20, ingestRSSLimit>>20)
	}
	for _, w := range writers {
		if err := w.run(); err != nil {
			return err
		}
	}
	if err := checkJobs(ctx, s.base, s.mongoURI, jobs, 10*time.Minute); err != nil {
		return err
	}
	say("writer restarted; every import completed %s after the uploads", time.Since(start).Round(time.Second))
	return s.alive()
}

func totalRows(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		n += j.c.total
	}
	return n
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
