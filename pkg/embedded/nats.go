// Package embedded runs the broker and the database inside the intake
// process: nats-server with JetStream and FerretDB on SQLite, both storing
// under one data directory. This is the default when no URLs are given.
package embedded

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is a running in-process nats-server.
type NATS struct {
	Server *server.Server
}

// StartNATS starts nats-server with JetStream storing under dataDir/nats.
// listen is host:port; port 0 picks a free one.
func StartNATS(dataDir, listen string) (*NATS, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "intake-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
		MaxPayload: 8 << 20,
		// fsync every write before JetStream acknowledges it, as the cluster
		// configs in deploy/ do (sync_interval: always), instead of every
		// 2 minutes: the embedded FerretDB's SQLite commits with
		// synchronous=FULL, so without it a power loss could leave the
		// database ahead of the broker (accepted rows lost, an import that
		// can never complete). Measured cost on the pipeline: within noise
		// (docs/architecture.md, "Durability").
		SyncAlways: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready within 30s (is %s in use?)", listen)
	}
	return &NATS{Server: s}, nil
}

// URL is the client URL of the server.
func (n *NATS) URL() string { return n.Server.ClientURL() }

// Stop shuts the server down and waits for it.
func (n *NATS) Stop() {
	n.Server.Shutdown()
	n.Server.WaitForShutdown()
}
