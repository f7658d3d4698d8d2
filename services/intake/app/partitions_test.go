package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
)

// startStages runs the deduplicator, writer and reporter as instance index
// of two, in a process of their own on front's broker and database.
func startStages(t *testing.T, front *system, index int) *system {
	return startSystem(t, t.TempDir(), func(c *app.Config) {
		c.Targets = []string{"deduplicator", "writer", "reporter"}
		c.NATSURL, c.MongoURI, c.MongoDB = front.info.NATSURL, front.info.MongoURI, front.info.MongoDB
		c.EmbeddedMongoAddr = ""
		c.Partitions = partitions.Config{PinnedTTL: 2 * time.Second, Index: index, Instances: 2}
	})
}

// The instance holding an import's partitions stops in the middle of the
// import; the other instance takes them over and the import completes with
// every row counted exactly once and every record written.
func TestPartitionFailOver(t *testing.T) {
	front := startSystem(t, t.TempDir(), func(c *app.Config) {
		c.Targets = []string{"ingest", "upstream", "validator"}
		c.EmbeddedNATSAddr = "127.0.0.1:0"
		c.ChunkSize = 100
	})
	stages := []*system{startStages(t, front, 0), startStages(t, front, 1)}

	f := makeContacts(20000, "")
	status, body := front.upload(f.csv, map[string]string{"schema": "contacts", "mode": "upsert"})
	if status != 202 {
		t.Fatalf("upload: %d %v", status, body)
	}
	id := body["id"].(string)
	// The reporter's partition of the import is the owner's to stop.
	owner := subjects.Partition(subjects.Outcomes, "default", id, streams.DefaultPartitions) % 2
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v := front.summary(id, "")
		if v.Status != "processing" {
			t.Fatalf("import ended before the fail-over: %+v", v)
		}
		if v.Created+v.Skipped+v.Failed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no row accounted for within 2 minutes: %+v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	t.Logf("stopping instance %d, the owner of the import's partitions", owner)
	stages[owner].stop()
	t.Logf("stopped in %s", time.Since(start))
	if v := front.summary(id, ""); v.Status != "processing" {
		t.Fatalf("the import ended (%s) before its owner had stopped: nothing was taken over", v.Status)
	}

	checkImport(t, front, id, f, front.waitDone(id, 3*time.Minute))
	t.Logf("import completed %s after the stop", time.Since(start))
}

// A small import of one tenant, submitted just after another tenant's large
// one, does not wait behind it: it completes while the large one is still
// processing, and both are counted exactly.
func TestSmallImportDoesNotWaitBehindAnotherTenants(t *testing.T) {
	s := startSystem(t, t.TempDir(), func(c *app.Config) { c.BootstrapAPIKey = bootstrapKey })
	// Tenants whose chunks the deduplicator takes from different partitions.
	big, small := "acme", ""
	for _, name := range []string{"globex", "initech", "umbrella", "hooli"} {
		if subjects.Partition(subjects.Valid, name, "", streams.DefaultPartitions) != subjects.Partition(subjects.Valid, big, "", streams.DefaultPartitions) {
			small = name
			break
		}
	}
	bigKey := key(s.createKey(big, auth.CapImportsWrite, auth.CapImportsRead))
	smallKey := key(s.createKey(small, auth.CapImportsWrite, auth.CapImportsRead))

	a := makeContacts(100_000, "")
	status, body := s.uploadAs(bigKey, string(a.csv))
	if status != 202 {
		t.Fatalf("large upload: %d %v", status, body)
	}
	bigID := body["id"].(string)
	// The small import's chunks must not share the writer's and reporter's
	// partition with the large one (1 in 16 would): submit another then.
	var smallID string
	b := makeContacts(10, "small")
	for attempt := 0; smallID == ""; attempt++ {
		status, body := s.uploadAs(smallKey, string(b.csv))
		if status != 202 {
			t.Fatalf("small upload: %d %v", status, body)
		}
		id := body["id"].(string)
		if subjects.Partition(subjects.Outcomes, small, id, streams.DefaultPartitions) != subjects.Partition(subjects.Outcomes, big, bigID, streams.DefaultPartitions) {
			smallID = id
		} else if attempt > 5 {
			t.Fatal("every small import shares the large one's partition")
		}
	}

	submitted := time.Now()
	v := waitDoneAs(t, s, smallKey, smallID, 2*time.Minute)
	took := time.Since(submitted)
	bigNow := summaryAs(t, s, bigKey, bigID, "0s")
	if v.Status != "completed" || v.Created+v.Updated+v.Skipped+v.Failed != 10 {
		t.Fatalf("small import = %+v, want completed with its 10 rows", v)
	}
	if bigNow.Status != "processing" {
		t.Fatalf("the large import ended (%s, %d of %d rows) before the small one, submitted after it, completed", bigNow.Status, bigNow.Processed, bigNow.Total)
	}
	t.Logf("small import completed in %s while the large one had %d of %d rows accounted", took, bigNow.Processed, bigNow.Total)
	if w := waitDoneAs(t, s, bigKey, bigID, 5*time.Minute); w.Status != "completed" || w.Created != len(a.expected) || w.Failed != len(a.failed) || w.Skipped != len(a.skipped) {
		t.Fatalf("large import = %+v, want completed with %d created, %d failed, %d skipped", w, len(a.expected), len(a.failed), len(a.skipped))
	}
}

// summaryAs reads an import's summary with a tenant's key.
func summaryAs(t *testing.T, s *system, headers map[string]string, id, wait string) ingest.ImportView {
	t.Helper()
	resp := s.request("GET", "/v1/imports/"+id+"?wait="+wait, headers, nil, "")
	defer resp.Body.Close()
	var v ingest.ImportView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("summary of %s: %d %v", id, resp.StatusCode, err)
	}
	return v
}

// waitDoneAs waits with a tenant's key until an import is no longer processing.
func waitDoneAs(t *testing.T, s *system, headers map[string]string, id string, limit time.Duration) ingest.ImportView {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		v := summaryAs(t, s, headers, id, "2s")
		if v.Status != "processing" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still processing after %s: %+v", id, limit, v)
		}
	}
}

// Instances sharing the embedded database of another reach it over its
// socket and cannot index _id for FerretDB's filter themselves: the
// instance that runs it indexes their collections, or every read by _id
// there scans the whole table (TestPartitionFailOver's deduplicator reading
// the handle index slowed to a stall).
func TestEmbeddedDatabaseIndexesOtherInstancesCollections(t *testing.T) {
	dir := t.TempDir()
	front := startSystem(t, dir, nil)
	ctx := context.Background()
	// As another instance would: through the driver, not the fast path.
	if _, err := front.mongo.Database(front.info.MongoDB+"_records").Collection("handles.default.contacts").InsertOne(ctx, bson.D{{Key: "_id", Value: "email:ann@example.com"}}); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ferretdb", front.info.MongoDB+"_records.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	const indexed = `SELECT count(*) FROM _ferretdb_collections c JOIN sqlite_master m
		ON m.type = 'index' AND m.name = c.table_name || '_intake_id' WHERE c.name = 'handles.default.contacts'`
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := sdb.QueryRow(indexed).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the collection another instance created has no _id index FerretDB's filter uses")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
