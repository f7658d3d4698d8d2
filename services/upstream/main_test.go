package upstream_test

// The tests run one Intake for the whole package: app.Run with the pipeline
// stages (validator, deduplicator, writer) on the embedded NATS and FerretDB,
// and next to it, on connections of their own, the upstream service and a
// reporter with a short unsealed-import timeout (app does not run upstream
// yet, and cannot give its reporter a timeout). The package is an external
// test package so that it may import app even once app imports upstream.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/services/intake/app"
	"github.com/intake/intake/services/intake/app/apptest"
	"github.com/intake/intake/services/reporter"
	"github.com/intake/intake/services/upstream"
)

// unsealedTimeout is the reporter's timeout in these tests.
const unsealedTimeout = 5 * time.Second

// env is the running Intake.
var env struct {
	info  app.Info
	nc    *nats.Conn // a publisher's connection
	js    jetstream.JetStream
	mongo *mongo.Client
	store *store.Store
	// metrics of the upstream service
	metrics *metrics.Metrics
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream tests:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	log, err := zc.Build()
	if err != nil {
		return 1, err
	}

	sys, err := apptest.Launch(apptest.WithLogger(log), apptest.WithNATS(nats.Name("publisher")), apptest.WithConfig(func(c *app.Config) {
		// ingest only so that its store indexes the imports collection
		// (see warmIndexes); uploads are not used.
		c.Targets = []string{"ingest", "validator", "deduplicator", "writer"}
		c.EmbeddedNATSAddr = "127.0.0.1:0"
	}))
	if err != nil {
		return 1, err
	}
	stopApp := sys.Stop
	env.info, env.nc, env.js, env.mongo, env.store = sys.Info, sys.NC, sys.JS, sys.Mongo, sys.Store

	// Our own services: the reporter (short timeout) and upstream.
	env.metrics = metrics.New()
	deps := func(name string) (platform.Deps, error) {
		nc, err := nats.Connect(env.info.NATSURL, nats.Name(name))
		if err != nil {
			return platform.Deps{}, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return platform.Deps{}, err
		}
		return platform.Deps{NC: nc, JS: js, Store: env.store, Schemas: sys.Schemas, Log: log.With(zap.String("service", name))}, nil
	}
	svcCtx, stopSvcs := context.WithCancel(context.Background())
	svcDone := make(chan error, 2)
	var conns []*nats.Conn
	for _, s := range []struct {
		name string
		run  func(context.Context, platform.Deps) error
	}{
		{"reporter", func(ctx context.Context, d platform.Deps) error {
			return reporter.Run(ctx, reporter.Config{UnsealedTimeout: unsealedTimeout, SweepEvery: 250 * time.Millisecond}, d)
		}},
		{"upstream", func(ctx context.Context, d platform.Deps) error {
			d.Metrics = env.metrics
			return upstream.Run(ctx, upstream.Config{}, d)
		}},
	} {
		d, err := deps(s.name)
		if err != nil {
			stopSvcs()
			_ = stopApp()
			return 1, err
		}
		conns = append(conns, d.NC)
		go func() { svcDone <- s.run(svcCtx, d) }()
	}
	stopAll := func() error {
		stopSvcs()
		var errs []error
		for range 2 {
			select {
			case err := <-svcDone:
				errs = append(errs, err)
			case <-time.After(30 * time.Second):
				errs = append(errs, errors.New("a service did not stop within 30s"))
			}
		}
		for _, nc := range conns {
			nc.Close()
		}
		return errors.Join(append(errs, stopApp())...)
	}

	err = waitServing()
	if err == nil {
		err = warmIndexes()
	}
	if err != nil {
		return 1, errors.Join(err, stopAll())
	}
	code := m.Run()
	return code, stopAll()
}

// waitServing waits until the upstream service answers.
func waitServing() error {
	c, err := client.New(env.nc, client.WithRequestTimeout(time.Second))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Summary(context.Background(), "probe", "imp_probe")
		var ae *client.APIError
		if errors.As(err, &ae) {
			return nil // answered (404)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("upstream not serving: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// warmIndexes has app's store prepare the imports collection. On the
// embedded FerretDB, app's store adds the SQLite index that makes look-ups
// by _id fast (embedded.SQLiteFastPath); the store of these tests cannot (it has
// no handle on the embedded FerretDB), but profits from the index once it
// exists. Without it every summary read and write of the reporter scans
// every summary.
func warmIndexes() error {
	resp, err := http.Get("http://" + env.info.HTTPAddr + "/v1/imports/imp_warm")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("GET /v1/imports/imp_warm: %s, want 404", resp.Status)
	}
	return nil
}
