package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/xuri/excelize/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/intake/app/apptest"
)

// system is a whole Intake started in-process on the embedded default
// (apptest), with the calls of these tests.
type system struct {
	t     testing.TB
	info  app.Info
	base  string
	mongo *mongo.Client
	sys   *apptest.System
}

// startSystem runs app.Run on dataDir with random ports and waits until it serves.
func startSystem(t testing.TB, dataDir string, tweak func(*app.Config)) *system {
	t.Helper()
	// NATS as by default, in process only; FerretDB on loopback TCP, since
	// a test's temporary directory can be too long for a Unix socket path.
	return startSystemLogged(t, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), func(cfg *app.Config) {
		cfg.DataDir = dataDir
		if tweak != nil {
			tweak(cfg)
		}
	})
}

// startSystemLogged is startSystem with the caller's logger and no data
// directory of its own (the tweak sets one).
func startSystemLogged(t testing.TB, log *zap.Logger, tweak func(*app.Config)) *system {
	t.Helper()
	sys := apptest.Start(t, apptest.WithLogger(log), apptest.WithConfig(tweak))
	return &system{t: t, info: sys.Info, base: sys.Base, mongo: sys.Mongo, sys: sys}
}

// stop shuts the system down gracefully and checks it stopped cleanly.
func (s *system) stop() {
	if err := s.sys.Stop(); err != nil {
		s.t.Errorf("stop intake: %v", err)
	}
}

// upstreamConn connects to Intake's NATS as tenant's upstream publisher
// (Intake answers only on the tenant's inbox prefix); it closes when the
// test ends.
func (s *system) upstreamConn(tenant string) *nats.Conn {
	s.t.Helper()
	nc, err := s.info.ConnectNATS(nats.CustomInboxPrefix(client.InboxPrefix(tenant)))
	if err != nil {
		s.t.Fatalf("connect to NATS: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// natsConn connects to Intake's NATS; the connection closes when the test
// ends.
func (s *system) natsConn() *nats.Conn {
	s.t.Helper()
	nc, err := s.info.ConnectNATS()
	if err != nil {
		s.t.Fatalf("connect to NATS: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// jetStream opens JetStream on a connection to Intake's NATS.
func (s *system) jetStream() jetstream.JetStream {
	s.t.Helper()
	js, err := jetstream.New(s.natsConn())
	if err != nil {
		s.t.Fatal(err)
	}
	return js
}

// openOverNATS opens an import as a publisher in the process does: a
// pkg/client client on the system's NATS.
func (s *system) openOverNATS(ctx context.Context, req client.OpenRequest) *client.Import {
	s.t.Helper()
	c, err := client.New(s.natsConn())
	if err != nil {
		s.t.Fatal(err)
	}
	im, err := c.Open(ctx, req)
	if err != nil {
		s.t.Fatalf("open: %v", err)
	}
	return im
}

// workbook is an XLSX file whose first sheet holds rows, cells typed as
// given (numbers stay numbers), as a spreadsheet program saves one.
func workbook(t testing.TB, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// onBothStorePaths runs test on the embedded default, where the stages
// use FerretDB's SQLite fast path, and with a FerretDB reached over the
// wire, where they use the plain MongoDB calls; useStore points a config at
// the path's database.
func onBothStorePaths(t *testing.T, test func(t *testing.T, useStore func(*app.Config))) {
	t.Run("embedded", func(t *testing.T) { test(t, func(*app.Config) {}) })
	t.Run("over the wire", func(t *testing.T) {
		test(t, func(c *app.Config) {
			fr, err := embedded.StartFerret(t.TempDir(), "127.0.0.1:0", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(fr.Stop)
			c.MongoURI = fr.URI()
		})
	})
}

// upload posts a CSV to /v1/imports and returns the status and decoded body.
func (s *system) upload(csv []byte, fields map[string]string) (int, map[string]any) {
	s.t.Helper()
	body, ctype := testenv.UploadForm("contacts.csv", csv, fields)
	resp, err := http.Post(s.base+"/v1/imports", ctype, body)
	if err != nil {
		s.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		s.t.Fatalf("upload answered %d with non-JSON %q", resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// summary reads GET /v1/imports/{id}, optionally waiting.
func (s *system) summary(id, wait string) ingest.ImportView {
	s.t.Helper()
	url := s.base + "/v1/imports/" + id
	if wait != "" {
		url += "?wait=" + wait
	}
	resp, err := http.Get(url)
	if err != nil {
		s.t.Fatalf("get summary: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("get summary: %d %s", resp.StatusCode, data)
	}
	var v ingest.ImportView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		s.t.Fatalf("decode summary: %v", err)
	}
	return v
}

// waitDone polls the summary until the import leaves "processing".
func (s *system) waitDone(id string, limit time.Duration) ingest.ImportView {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		v := s.summary(id, "5s")
		if v.Status != "processing" {
			return v
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("import %s still processing after %s: %+v", id, limit, v)
		}
	}
}

// records returns every stored contact by _id.
func (s *system) records(tenant, schema string) map[string]bson.M {
	s.t.Helper()
	c := s.mongo.Database("intake_records").Collection("records." + tenant + "." + schema)
	cur, err := c.Find(context.Background(), bson.D{})
	if err != nil {
		s.t.Fatalf("find records: %v", err)
	}
	var docs []bson.M
	if err := cur.All(context.Background(), &docs); err != nil {
		s.t.Fatalf("read records: %v", err)
	}
	out := map[string]bson.M{}
	for _, d := range docs {
		id := fmt.Sprint(d["_id"])
		if _, dup := out[id]; dup {
			s.t.Fatalf("two records with _id %s", id)
		}
		out[id] = d
	}
	return out
}

// getBody sends GET path (no key) and returns the status and the whole answer.
func (s *system) getBody(path string) (int, []byte) {
	s.t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, data
}

func (s *system) getInto(path string, out any) {
	s.t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
}

// recordStamp is what a stored record says about the rows that wrote it.
type recordStamp struct {
	Import, CreatedImport string
	Row, CreatedRow       int
}

// stampOf reads a record's stamp fields, in the form the store writes
// them or in the earlier one.
func stampOf(doc bson.M) recordStamp {
	last, created := store.Stamps(doc)
	return recordStamp{Import: last.Import, Row: last.Row, CreatedImport: created.Import, CreatedRow: created.Row}
}

// withoutStamp removes _id and the importer's own fields, leaving the
// record's data.
func withoutStamp(doc bson.M) bson.M {
	for k := range doc {
		if k == "_id" || strings.HasPrefix(k, "_intake_") {
			delete(doc, k)
		}
	}
	return doc
}

// overTheWire points c at a FerretDB of its own reached over TCP, so the
// store takes the plain MongoDB code path (no embedded shortcuts).
func overTheWire(t testing.TB, c *app.Config) {
	t.Helper()
	fr, err := embedded.StartFerret(t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fr.Stop)
	c.MongoURI = fr.URI()
}
