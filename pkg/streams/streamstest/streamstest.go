// Package streamstest starts an in-process nats-server with the pipeline's
// streams, for tests that publish to them or read them without the stages.
package streamstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/streams"
)

// Start runs a nats-server (natstest.Start: the embedded server's limits,
// such as its 8 MiB max_payload), creates the streams with cfg and returns
// a connection to it; all is closed when the test ends.
func Start(tb testing.TB, cfg streams.Config) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, js := natstest.Connect(tb, natstest.Start(tb, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.Ensure(ctx, js, cfg); err != nil {
		tb.Fatal(err)
	}
	return nc, js
}
