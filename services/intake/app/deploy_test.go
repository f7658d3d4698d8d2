package app_test

import (
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The cluster configs in deploy/ must load (what `nats-server -t` checks),
// form one three-node cluster and use the safe durability setting
// (docs/architecture.md, "Durability").
func TestDeployNATSConfigs(t *testing.T) {
	files, err := filepath.Glob("../../../deploy/nats/nats-*.conf")
	if err != nil || len(files) != 3 {
		t.Fatalf("want three NATS configs, got %v (%v)", files, err)
	}
	names := map[string]bool{}
	for _, f := range files {
		opts, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !opts.JetStream || opts.Cluster.Name != "intake" || len(opts.Routes) != 3 {
			t.Fatalf("%s: jetstream=%v cluster=%q routes=%d", f, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
		}
		if names[opts.ServerName] || opts.ServerName == "" {
			t.Fatalf("%s: server_name %q is empty or not unique", f, opts.ServerName)
		}
		names[opts.ServerName] = true
		if opts.SyncAlways != true {
			t.Fatalf("%s: sync_interval must be always", f)
		}
		// Intake's chunks may exceed the 1 MB default (chunks are cut at
		// 1 MiB of cell data; the streams take messages up to 8 MiB).
		if opts.MaxPayload < 8<<20 {
			t.Fatalf("%s: max_payload %d, want 8MB", f, opts.MaxPayload)
		}
	}
}
