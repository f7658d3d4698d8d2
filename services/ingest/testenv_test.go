package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/streams"
)

// startBroker starts the embedded nats-server on loopback with its data
// under dir, connects to it and creates the pipeline's streams; the server
// and the connection close when the test ends. Nothing consumes the streams.
func startBroker(tb testing.TB, dir string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
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
	return nc, js
}
