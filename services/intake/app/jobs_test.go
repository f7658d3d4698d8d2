package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/services/intake/app"
)

// stepGate holds one deletion step of the deletion job (its batch deleted
// and its progress saved) until released, then makes the runner act as if
// the process died before the step's ack: the step is delivered again.
// The last step is crashed the same way once, without holding it.
type stepGate struct {
	hold, last int
	reached    chan struct{}
	release    chan struct{}
	mu         sync.Mutex
	crashed    map[int]bool
}

func (g *stepGate) crash(m runner.Msg) bool {
	if !strings.HasPrefix(m.Subject, subjects.Jobs+".") {
		return false
	}
	var j struct {
		Kind string `json:"kind"`
		From int    `json:"from"`
	}
	if json.Unmarshal(m.Data, &j) != nil || j.Kind != "delete" || (j.From != g.hold && j.From != g.last) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.crashed[j.From] {
		return false
	}
	g.crashed[j.From] = true
	if j.From == g.hold {
		close(g.reached)
		<-g.release
	}
	return true
}

// A replace that deletes many records does so in steps of the deletion
// job, outside the reporter's accounting: while one step is held, another
// tenant's import completes and the replace still says processing; a step
// and the last step delivered twice (crashes after their writes) leave
// `deleted` exact.
func TestReplaceDeletesInBatchesWhileOthersImport(t *testing.T) {
	const n = 20_000 // records before the replace; it keeps one
	gate := &stepGate{hold: 5_000, last: 19_000, reached: make(chan struct{}), release: make(chan struct{}), crashed: map[int]bool{}}
	s := startSystem(t, t.TempDir(), func(cfg *app.Config) { cfg.Runner.Crash = gate.crash })
	var csv strings.Builder
	csv.WriteString("name,email\n")
	for i := range n {
		fmt.Fprintf(&csv, "P%d,p%d@x.io\n", i, i)
	}
	if v := s.importCSVWithin(csv.String(), map[string]string{"mode": "insert"}, 5*time.Minute); counts(v) != [5]int{n, 0, 0, 0, 0} {
		t.Fatalf("setup = %v", counts(v))
	}

	status, body := s.upload([]byte("name,email\nP0,p0@x.io\n"), map[string]string{"mode": "replace"})
	if status != 202 {
		t.Fatalf("replace upload: %d %v", status, body)
	}
	replace := body["id"].(string)
	select {
	case <-gate.reached:
	case <-time.After(5 * time.Minute):
		t.Fatalf("the deletion step at %d never ran: %+v", gate.hold, s.summary(replace, ""))
	}

	// The step is held: another tenant's import goes through.
	other := s.importAs("acme", [][]string{{"Ann", "ann@acme.io"}, {"Bob", "bob@acme.io"}})
	if other.Status != client.StatusCompleted || other.Created != 2 {
		t.Fatalf("the other tenant's import = %+v", other.Summary)
	}
	if v := s.summary(replace, ""); v.Status != "processing" {
		t.Fatalf("replace while its deletions are held = %s, want processing", v.Status)
	}
	close(gate.release)

	v := s.waitDone(replace, 5*time.Minute)
	if v.Status != "completed" || v.Deleted != n-1 || v.Skipped != 1 || v.Notice != "" {
		t.Fatalf("replace = %s, deleted %d, skipped %d, notice %q; want completed, %d, 1, none", v.Status, v.Deleted, v.Skipped, v.Notice, n-1)
	}
	if got := s.records("default", "contacts"); len(got) != 1 || got["email:p0@x.io"] == nil {
		t.Fatalf("%d records after the replace, want p0 alone", len(got))
	}
	s.waitGone("intake_dedup", "claims.default."+replace)
}

// importCSVWithin is importCSV with a longer wait.
func (s *system) importCSVWithin(csv string, fields map[string]string, limit time.Duration) client.Summary {
	s.t.Helper()
	status, body := s.upload([]byte(csv), fields)
	if status != 202 {
		s.t.Fatalf("upload: %d %v", status, body)
	}
	return s.waitDone(body["id"].(string), limit)
}

// importAs imports rows of contacts (name, email) as tenant over NATS and
// waits for the result.
func (s *system) importAs(tenant string, rows [][]string) *client.SummaryReply {
	s.t.Helper()
	c, err := client.New(s.upstreamConn(tenant))
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	imp, err := c.Open(ctx, client.OpenRequest{Tenant: tenant, Schema: "contacts", Mode: "insert"})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := imp.Publish(ctx, rows, []string{"name", "email"}); err != nil {
		s.t.Fatal(err)
	}
	if err := imp.Seal(ctx); err != nil {
		s.t.Fatal(err)
	}
	res, err := imp.Wait(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

// waitGone polls until db has no collection coll.
func (s *system) waitGone(db, coll string) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		names, err := s.mongo.Database(db).ListCollectionNames(context.Background(), bson.D{{Key: "name", Value: coll}})
		if err != nil {
			s.t.Fatal(err)
		}
		if len(names) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s.%s still there after a minute", db, coll)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Past the retention: an import's rows answer 410 with the reason once its
// row notes are removed (the summary and its counts stay), and the import
// answers 404 once its summary is removed.
func TestRetentionRemovesOldImports(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(cfg *app.Config) { cfg.Retention.Every = 100 * time.Millisecond })
	v := s.importCSV("name,email\nAnn,ann@x.io\nBad,bad@\n", map[string]string{"mode": "insert"})
	if v.Failed != 1 {
		t.Fatalf("import = %v", counts(v))
	}
	finishedAgo := func(d time.Duration) {
		t.Helper()
		_, err := s.mongo.Database("intake").Collection("imports").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: v.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "completed_at", Value: time.Now().Add(-d)}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitStatus := func(path string, want int) []byte {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			status, body := s.getBody(path)
			if status == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s = %d %s after a minute, want %d", path, status, body, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if status, body := s.getBody("/v1/imports/" + v.ID + "/errors"); status != 200 || !strings.Contains(string(body), "bad@") {
		t.Fatalf("errors before the retention = %d %s", status, body)
	}

	finishedAgo(31 * 24 * time.Hour)
	body := waitStatus("/v1/imports/"+v.ID+"/errors", 410)
	if !strings.Contains(string(body), "removed after the retention") {
		t.Fatalf("410 without the reason: %s", body)
	}
	waitStatus("/v1/imports/"+v.ID+"/failed.csv", 410)
	if got := s.summary(v.ID, ""); got.Failed != 1 || got.Created != 1 || got.Status != "completed" {
		t.Fatalf("summary after its notes were removed = %+v", got)
	}

	// Events are kept for less than summaries (--rows-retention, checked
	// at start): by now the import's are gone too.
	events, err := s.jetStream().Stream(context.Background(), subjects.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Purge(context.Background(), jetstream.WithPurgeSubject(subjects.For(subjects.Events, "default", v.ID))); err != nil {
		t.Fatal(err)
	}
	finishedAgo(91 * 24 * time.Hour)
	waitStatus("/v1/imports/"+v.ID, 404)
}
