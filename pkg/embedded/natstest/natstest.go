// Package natstest starts an in-process nats-server with JetStream (or a
// loopback cluster of them) for tests, the nats-server project's way: a
// random loopback port, storage in the test's temporary directory, shut
// down when the test ends.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/embedded"
)

// Start runs nats-server with opts (nil for none) until the test ends, with
// JetStream on, a random loopback port, no signal handlers and no log, and
// unless opts say otherwise the embedded server's MaxPayload and the store
// in tb.TempDir().
func Start(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.JetStream, opts.NoSigs, opts.NoLog = true, true, true
	if opts.MaxPayload == 0 {
		opts.MaxPayload = embedded.MaxPayload
	}
	if opts.StoreDir == "" {
		opts.StoreDir = tb.TempDir()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready within 10s")
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Connect connects to s with opts and returns the connection and its
// JetStream context; the connection is closed when the test ends.
func Connect(tb testing.TB, s *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}
