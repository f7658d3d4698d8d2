package app

import (
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The cluster configs in deploy/ must load (what `nats-server -t` checks)
// and use the safe durability setting.
func TestDeployNATSConfigs(t *testing.T) {
	files, err := filepath.Glob("../../deploy/nats/nats-*.conf")
	if err != nil || len(files) != 3 {
		t.Fatalf("want three NATS configs, got %v (%v)", files, err)
	}
	for _, f := range files {
		opts, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !opts.JetStream || opts.Cluster.Name != "intake" || len(opts.Routes) != 3 {
			t.Fatalf("%s: jetstream=%v cluster=%q routes=%d", f, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
		}
		if opts.SyncAlways != true {
			t.Fatalf("%s: sync_interval must be always", f)
		}
	}
}
