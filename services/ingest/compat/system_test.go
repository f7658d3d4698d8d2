package compat_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/ingest/compat"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/intake/app/apptest"
)

// system is a whole Intake (embedded NATS JetStream and FerretDB, the five
// services) started once per test binary by app.Run, plus a real
// *ingest.API built on the same broker and database, which is what the
// integrator passes to compat.Routes through ingest.Config.Mount.
type system struct {
	api   *ingest.API
	store *store.Store
	mongo *mongo.Client
	stop  func()
}

var (
	sysOnce sync.Once
	sys     *system
	sysErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sys != nil {
		sys.stop()
	}
	os.Exit(code)
}

// realSystem starts the system on first use (tests that do not need it do
// not pay for it).
func realSystem(t *testing.T) *system {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole system; skipped with -short")
	}
	sysOnce.Do(func() { sys, sysErr = startSystem() })
	if sysErr != nil {
		t.Fatalf("start intake: %v", sysErr)
	}
	return sys
}

func startSystem() (*system, error) {
	sys, err := apptest.Launch(apptest.WithNATS(), apptest.WithConfig(func(c *app.Config) { c.EmbeddedNATSAddr = "127.0.0.1:0" }))
	if err != nil {
		return nil, err
	}
	api := ingest.New(ingest.Config{}, platform.Deps{NC: sys.NC, JS: sys.JS, Store: sys.Store, Schemas: sys.Schemas, Log: zap.NewNop()})
	return &system{api: api, store: sys.Store, mongo: sys.Mongo, stop: func() { _ = sys.Stop() }}, nil
}

// realServer is realSystem with the compat routes served on it (serveReal):
// the system and the routes' base URL.
func realServer(t *testing.T, tweak func(*compat.Config)) (*system, string) {
	t.Helper()
	s := realSystem(t)
	return s, s.serveReal(t, tweak)
}

// serveReal mounts the compat routes on the real importer, with real
// authentication: HS256 JWTs and API keys looked up in the real store.
func (s *system) serveReal(t *testing.T, tweak func(*compat.Config)) string {
	t.Helper()
	a, err := auth.New(auth.Config{HS256Secret: []byte(testSecret), FailuresPerMinute: -1}, s.store)
	if err != nil {
		t.Fatal(err)
	}
	cfg := compat.Config{Auth: a, ListImports: compat.StoreLister(s.store), SyncWait: 60 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	return serve(t, s.api, cfg)
}

// records returns a tenant's records of schema by _id.
func (s *system) records(t *testing.T, tenant, schemaName string) map[string]bson.M {
	t.Helper()
	c := s.mongo.Database("intake_records").Collection("records." + tenant + "." + schemaName)
	cur, err := c.Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatalf("find records: %v", err)
	}
	var docs []bson.M
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatalf("read records: %v", err)
	}
	out := map[string]bson.M{}
	for _, d := range docs {
		out[fmt.Sprint(d["_id"])] = d
	}
	return out
}

// imports counts a tenant's imports.
func (s *system) imports(t *testing.T, tenant string) int {
	t.Helper()
	sums, err := s.store.ListSummaries(context.Background(), tenant, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(sums)
}

// eventually polls f until it returns nil, for the asynchronous contracts.
func eventually(t *testing.T, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
