package embedded

import "testing"

// The embedded broker is as durable as the embedded database and the
// cluster configs in deploy/: every write is fsynced before JetStream
// acknowledges it.
func TestEmbeddedNATSSyncsEveryWrite(t *testing.T) {
	n, err := StartNATS(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	cfg := n.Server.JetStreamConfig()
	if cfg == nil || !cfg.SyncAlways {
		t.Fatalf("JetStream config %+v: want sync_interval always", cfg)
	}
}
