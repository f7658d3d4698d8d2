// Package apptest starts the whole of Intake in-process for tests of other
// packages: app.Run on the embedded default (in-process nats-server with
// JetStream, FerretDB on SQLite) with random loopback ports, and hands back
// what a test reaches it by: the HTTP base URL, a MongoDB client, a store,
// the schema catalog and, if asked, a NATS connection with JetStream. Start
// is for one test; Launch is for a whole test binary (from TestMain or a
// sync.Once).
package apptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/schemas"
	"github.com/intake/intake/services/intake/app"
)

// Bounds on how long the system may take to start and to stop: the first
// start of FerretDB on SQLite can be slow on a busy machine.
const (
	startLimit = 90 * time.Second
	stopLimit  = 60 * time.Second
)

// System is a running Intake.
type System struct {
	Info  app.Info
	Base  string        // "http://" + Info.HTTPAddr
	Mongo *mongo.Client // connected to Info.MongoURI
	Store *store.Store  // on Mongo, the database prefix in effect
	// Schemas are the built-in schemas and the tenants' own, as Intake's
	// services see them.
	Schemas *catalog.Catalog
	NC      *nats.Conn // with WithNATS only
	JS      jetstream.JetStream

	stop func() error
}

// Option changes how the system starts.
type Option func(*settings)

type settings struct {
	log    *zap.Logger
	tweaks []func(*app.Config)
	nats   []nats.Option
	withNC bool
}

// WithConfig changes the configuration before the start (after this
// package's own: a fresh data directory, random loopback ports for HTTP and
// FerretDB).
func WithConfig(tweak func(*app.Config)) Option {
	return func(s *settings) { s.tweaks = append(s.tweaks, tweak) }
}

// WithLogger gives app.Run this logger (Start's default: the test's log at
// warning level; Launch's: none).
func WithLogger(log *zap.Logger) Option {
	return func(s *settings) { s.log = log }
}

// WithNATS also opens a NATS connection with JetStream (System.NC, JS), the
// way Intake's services connect, with opts added.
func WithNATS(opts ...nats.Option) Option {
	return func(s *settings) { s.withNC, s.nats = true, opts }
}

// Start runs Intake for one test; it is stopped, and checked to stop
// cleanly, when the test ends (or at Stop).
func Start(tb testing.TB, opts ...Option) *System {
	tb.Helper()
	set := settings{log: zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))}
	s, err := launch(tb.TempDir(), set, opts)
	if err != nil {
		tb.Fatalf("start intake: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop intake: %v", err)
		}
	})
	return s
}

// Launch runs Intake until Stop, on a temporary data directory that Stop
// removes: for a system shared by a whole test binary.
func Launch(opts ...Option) (*System, error) {
	dir, err := os.MkdirTemp("", "intake-test-")
	if err != nil {
		return nil, err
	}
	s, err := launch(dir, settings{log: zap.NewNop()}, opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	stop := s.stop
	s.stop = sync.OnceValue(func() error { return errors.Join(stop(), os.RemoveAll(dir)) })
	return s, nil
}

// Request sends a request to the HTTP API with headers (and Content-Type,
// if ctype is set); the caller closes the answer. A request that cannot be
// sent fails the test.
func (s *System) Request(tb testing.TB, method, path string, headers map[string]string, body io.Reader, ctype string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(method, s.Base+path, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// Stop closes the connections and stops Intake; it reports whether app.Run
// returned nil in time. Later calls return the first call's answer.
func (s *System) Stop() error { return s.stop() }

func launch(dataDir string, set settings, opts []Option) (*System, error) {
	for _, o := range opts {
		o(&set)
	}
	cfg := app.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", EmbeddedMongoAddr: "127.0.0.1:0"}
	for _, tweak := range set.tweaks {
		tweak(&cfg)
	}
	readyc := make(chan app.Info, 1)
	cfg.Ready = func(i app.Info) { readyc <- i }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, set.log) }()
	halt := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(stopLimit):
			return fmt.Errorf("intake did not stop within %s", stopLimit)
		}
	}
	s := &System{}
	select {
	case s.Info = <-readyc:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("intake did not start: %w", err)
	case <-time.After(startLimit):
		return nil, errors.Join(fmt.Errorf("intake did not start within %s", startLimit), halt())
	}
	s.Base = "http://" + s.Info.HTTPAddr
	var closers []func()
	s.stop = sync.OnceValue(func() error {
		for _, c := range closers {
			c()
		}
		return halt()
	})
	fail := func(err error) (*System, error) { return nil, errors.Join(err, s.stop()) }

	mc, err := mongo.Connect(options.Client().ApplyURI(s.Info.MongoURI))
	if err != nil {
		return fail(fmt.Errorf("mongo connect: %w", err))
	}
	closers = append(closers, func() { _ = mc.Disconnect(context.Background()) })
	s.Mongo = mc
	s.Store = store.New(mc, cfg.Defaults().MongoDB, store.NoFastPath{})
	builtin, err := app.LoadSchemas(schemas.Entities)
	if err != nil {
		return fail(err)
	}
	s.Schemas = catalog.New(builtin, s.Store)
	if set.withNC {
		nc, err := s.Info.ConnectNATS(set.nats...)
		if err != nil {
			return fail(fmt.Errorf("nats connect: %w", err))
		}
		closers = append(closers, nc.Close)
		if s.JS, err = jetstream.New(nc); err != nil {
			return fail(fmt.Errorf("jetstream: %w", err))
		}
		s.NC = nc
	}
	return s, nil
}
