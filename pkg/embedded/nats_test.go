package embedded

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The embedded broker is as durable as the embedded database and the
// cluster configs in deploy/: every write is fsynced before JetStream
// acknowledges it.
func TestEmbeddedNATSSyncsEveryWrite(t *testing.T) {
	n, err := StartNATS(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	cfg := n.Server.JetStreamConfig()
	if cfg == nil || !cfg.SyncAlways {
		t.Fatalf("JetStream config %+v: want sync_interval always", cfg)
	}
}

// With no address asked for, the server has no listener at all, and a
// client in the process still gets JetStream.
func TestEmbeddedNATSWithoutAddressDoesNotListen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	n, err := StartNATS(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if addr := n.Server.Addr(); addr != nil {
		t.Fatalf("the server listens on %s; want no listener", addr)
	}
	if n.URL() != "" {
		t.Fatalf("URL %q; want none without a listener", n.URL())
	}
	if _, err := os.Stat(filepath.Join(dir, NATSContextFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a credentials file was written without a listener: %v", err)
	}
	assertMode(t, dir, 0o700)
	publishInProcess(t, n)
}

// With an address, the server requires the credentials it generated into
// the data directory: an anonymous client and a wrong password are
// refused, the generated credentials work, and they survive a restart.
func TestEmbeddedNATSListenerRequiresGeneratedCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	n, err := StartNATS(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n.Stop() }()
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, NATSContextFile), 0o600)
	c, err := ReadNATSContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != n.Server.ClientURL() || c.User == "" || len(c.Password) < 32 {
		t.Fatalf("context %+v: want the server's URL %s, a user and a long password", c, n.Server.ClientURL())
	}
	refused := func(what string, opts ...nats.Option) {
		t.Helper()
		nc, err := nats.Connect(c.URL, append(opts, nats.NoReconnect(), nats.Timeout(2*time.Second))...)
		if err == nil {
			nc.Close()
			t.Fatalf("%s connected", what)
		}
		if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("%s: %v, want an authorization error", what, err)
		}
	}
	refused("an anonymous client")
	refused("a wrong password", nats.UserInfo(c.User, c.Password+"x"))
	refused("the right password for another user", nats.UserInfo("admin", c.Password))

	url, err := c.URLWithCredentials()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("the generated credentials: %v", err)
	}
	publishToStream(t, nc)
	nc.Close()

	n.Stop()
	if n, err = StartNATS(dir, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	again, err := ReadNATSContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Password != c.Password || again.URL != n.Server.ClientURL() {
		t.Fatalf("after a restart: %+v; want the same password and the new URL %s", again, n.Server.ClientURL())
	}
	publishInProcess(t, n) // with the credentials
}

// A data directory left world-readable by an older version is tightened.
func TestDataDirIsMadeOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := StartNATS(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	assertMode(t, dir, 0o700)
}

// publishInProcess publishes to a stream through an in-process client of n.
func publishInProcess(t *testing.T, n *NATS) {
	t.Helper()
	nc, err := n.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	publishToStream(t, nc)
}

func publishToStream(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %#o, want %#o", path, got, want)
	}
}
