package compat_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/schemas"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/ingest/compat"
	"github.com/intake/intake/services/intake/app"
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
	dir, err := os.MkdirTemp("", "compat-test-")
	if err != nil {
		return nil, err
	}
	ready := make(chan app.Info, 1)
	cfg := app.Config{
		DataDir:           dir,
		HTTPAddr:          "127.0.0.1:0",
		EmbeddedNATSAddr:  "127.0.0.1:0",
		EmbeddedMongoAddr: "127.0.0.1:0",
		Ready:             func(i app.Info) { ready <- i },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, zap.NewNop()) }()
	var info app.Info
	select {
	case info = <-ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("intake did not start: %v", err)
	case <-time.After(90 * time.Second):
		cancel()
		return nil, fmt.Errorf("intake did not start within 90s")
	}
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		cancel()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		cancel()
		return nil, err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(info.MongoURI))
	if err != nil {
		cancel()
		return nil, err
	}
	reg, err := app.LoadSchemas(schemas.Entities)
	if err != nil {
		cancel()
		return nil, err
	}
	st := store.New(client, "intake", store.NoFastPath{})
	api := ingest.New(ingest.Config{}, platform.Deps{NC: nc, JS: js, Store: st, Schemas: catalog.New(reg, st), Log: zap.NewNop()})
	s := &system{api: api, store: st, mongo: client}
	s.stop = func() {
		nc.Close()
		_ = client.Disconnect(context.Background())
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
		}
		_ = os.RemoveAll(dir)
	}
	return s, nil
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
