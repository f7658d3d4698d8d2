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
	"github.com/nats-io/nats.go"
)

// MaxPayload is the largest message the embedded nats-server takes (its
// max_payload): the streams' message size bound, over a stock server's 1 MB.
const MaxPayload = 8 << 20

// NATS is a running in-process nats-server.
type NATS struct {
	Server *server.Server
	creds  *NATSContext // nil when the server does not listen
}

// StartNATS starts nats-server with JetStream storing under dataDir/nats.
//
// With listen empty the server opens no port at all: Intake's services
// reach it in process (ClientOptions), so no other process can read or
// purge the streams. With listen (host:port; port 0 picks a free one) it
// listens there and requires the user and password it keeps in
// dataDir/nats-context.json (generated once, owner-only).
func StartNATS(dataDir, listen string) (*NATS, error) {
	if err := OwnerOnlyDir(dataDir); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: "intake-embedded",
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
		MaxPayload: MaxPayload,
		// fsync every write before JetStream acknowledges it, as the cluster
		// configs in deploy/ do (sync_interval: always), instead of every
		// 2 minutes: the embedded FerretDB's SQLite commits with
		// synchronous=FULL, so without it a power loss could leave the
		// database ahead of the broker (accepted rows lost, an import that
		// can never complete). Measured cost on the pipeline: within noise
		// (docs/architecture.md, "Durability").
		SyncAlways: true,
	}
	var creds *NATSContext
	if listen == "" {
		opts.DontListen = true
	} else {
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
		c, err := natsCredentials(dataDir)
		if err != nil {
			return nil, err
		}
		creds = &c
		opts.Host, opts.Port = host, port
		opts.Users = []*server.User{{Username: c.User, Password: c.Password}}
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
	n := &NATS{Server: s, creds: creds}
	if creds != nil {
		creds.URL = s.ClientURL()
		if err := writeNATSContext(dataDir, *creds); err != nil {
			n.Stop()
			return nil, err
		}
	}
	return n, nil
}

// URL is the client URL of the server with its credentials (keep it out of
// logs), or "" when the server does not listen.
func (n *NATS) URL() string {
	if n.creds == nil {
		return ""
	}
	u, err := n.creds.URLWithCredentials()
	if err != nil {
		return "" // not reached: the server made the URL
	}
	return u
}

// ClientOptions connect a nats.go client to this server in process, with
// the credentials when it has any.
func (n *NATS) ClientOptions() []nats.Option {
	opts := []nats.Option{nats.InProcessServer(n.Server)}
	if n.creds != nil {
		opts = append(opts, nats.UserInfo(n.creds.User, n.creds.Password))
	}
	return opts
}

// Connect connects a client to this server in process.
func (n *NATS) Connect(opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect("", append(n.ClientOptions(), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	return nc, nil
}

// Stop shuts the server down and waits for it.
func (n *NATS) Stop() {
	n.Server.Shutdown()
	n.Server.WaitForShutdown()
}
