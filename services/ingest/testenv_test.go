package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/streams"
)

// backends are the embedded nats-server and FerretDB an ingest test runs on.
type backends struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	ferret *embedded.Ferret
	client *mongo.Client
}

// startBackends starts the embedded nats-server on loopback, with the
// pipeline's streams, and the embedded FerretDB, both storing under one
// temporary directory, and waits until FerretDB answers; all stops when the
// test ends. Nothing consumes the streams.
func startBackends(tb testing.TB) backends {
	tb.Helper()
	dir := tb.TempDir()
	ns, err := embedded.StartNATS(dir, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ns.Stop)
	nc, js, err := streams.Connect(ns.URL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.Ensure(ctx, js, streams.Config{}); err != nil {
		tb.Fatal(err)
	}
	fr, client := ferrettest.Start(tb, dir)
	for client.Ping(ctx, nil) != nil {
		if ctx.Err() != nil {
			tb.Fatal("FerretDB did not answer within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return backends{nc: nc, js: js, ferret: fr, client: client}
}
