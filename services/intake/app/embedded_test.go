package app_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/intake/app"
)

// The embedded default opens no door but its HTTP API: the nats-server has
// no listener (Intake reaches it in process), FerretDB listens on an
// owner-only Unix socket in the owner-only data directory, and an import
// completes. (Reproduced before: an anonymous local client inserted an
// admin key into FerretDB on 127.0.0.1:27017, and read and purged
// INTAKE_ROWS on 127.0.0.1:4222.)
func TestEmbeddedDefaultListensOnlyForHTTP(t *testing.T) {
	dir := t.TempDir()
	before := tcpListeners(t)
	s := startSystem(t, dir, func(c *app.Config) { c.EmbeddedNATSAddr, c.EmbeddedMongoAddr = "", "" })

	_, httpPort, _ := strings.Cut(s.info.HTTPAddr, ":")
	var opened []string
	for port := range tcpListeners(t) {
		if !before[port] {
			opened = append(opened, port)
		}
	}
	if len(opened) != 1 || opened[0] != httpPort {
		t.Fatalf("intake opened TCP listeners on ports %v; want only the HTTP API's %s", opened, httpPort)
	}
	if s.info.NATSURL != "" {
		t.Fatalf("NATS URL %q; want none (in process only)", s.info.NATSURL)
	}
	if _, err := os.Stat(filepath.Join(dir, embedded.NATSContextFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("NATS credentials were written though nothing listens: %v", err)
	}
	if socket := ferrettest.OwnerOnlySocket(t, dir); s.info.MongoURI != embedded.MongoSocketURI(socket) {
		t.Fatalf("MongoDB URI %q; want the socket %s", s.info.MongoURI, socket)
	}

	v := s.importCSV("name,email\nAnn,ann@x.io\nBob,bob@\n", nil)
	if v.Status != "completed" || v.Created != 1 || v.Failed != 1 {
		t.Fatalf("import over the in-process broker and the socket: %+v", v)
	}
	if got := s.records("default", "contacts"); len(got) != 1 {
		t.Fatalf("records through the socket: %v", got)
	}
	// Tests and tools in the process still reach the broker.
	nc, err := s.info.ConnectNATS()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), subjects.StreamRows)
	if err != nil || st.CachedInfo().State.Msgs == 0 {
		t.Fatalf("INTAKE_ROWS in process: %v", err)
	}
}

// Asked to listen, the embedded nats-server requires the credentials Intake
// generated into the data directory; anonymous and wrong-password clients
// are refused before they can read or purge anything.
func TestEmbeddedNATSAddrRequiresGeneratedCredentials(t *testing.T) {
	dir := t.TempDir()
	var logs testenv.SyncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &logs, zapcore.DebugLevel))
	s := startSystemLogged(t, log, func(c *app.Config) { c.DataDir = dir; c.EmbeddedNATSAddr = "127.0.0.1:0" })
	file := filepath.Join(dir, embedded.NATSContextFile)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file %s: %v; want mode 0600", file, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory %s: want mode 0700 (%v)", dir, err)
	}
	c, err := embedded.ReadNATSContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	for what, opts := range map[string][]nats.Option{
		"an anonymous client": nil,
		"a wrong password":    {nats.UserInfo(c.User, "guess")},
	} {
		nc, err := nats.Connect(c.URL, append(opts, nats.NoReconnect())...)
		if err == nil {
			nc.Close()
			t.Fatalf("%s connected to %s", what, c.URL)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("%s: %v; want an authorization error", what, err)
		}
	}
	withCreds, err := c.URLWithCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if withCreds != s.info.NATSURL {
		t.Fatalf("Info.NATSURL is not the credentials file's URL")
	}
	v := s.importCSV("name,email\nAnn,ann@x.io\n", nil)
	nc, err := nats.Connect(withCreds) // as another process would
	if err != nil {
		t.Fatalf("the generated credentials: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), subjects.StreamRows)
	if err != nil || st.CachedInfo().State.Msgs == 0 || v.Status != "completed" {
		t.Fatalf("INTAKE_ROWS with the credentials: %v, import %+v", err, v)
	}
	s.stop()
	if !strings.Contains(logs.String(), embedded.NATSContextFile) {
		t.Fatalf("the log does not say where the credentials are: %s", logs.String())
	}
	if strings.Contains(logs.String(), c.Password) {
		t.Fatal("the generated NATS password is in the log")
	}
}

// The embedded FerretDB has no authentication: it is refused on any TCP
// address but loopback, with an error saying so, and on loopback it works
// with a warning in the log.
func TestEmbeddedMongoAddrOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":27017"} {
		err := app.Run(context.Background(), app.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", EmbeddedMongoAddr: addr}, zap.NewNop())
		if !errors.Is(err, embedded.ErrNotLoopback) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("--embedded-mongo-addr %s: %v; want refused as not loopback", addr, err)
		}
	}
	var logs testenv.SyncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &logs, zapcore.WarnLevel))
	s := startSystemLogged(t, log, func(c *app.Config) { c.DataDir = t.TempDir(); c.EmbeddedMongoAddr = "127.0.0.1:0" })
	if !strings.HasPrefix(s.info.MongoURI, "mongodb://127.0.0.1:") {
		t.Fatalf("MongoDB URI %q; want loopback TCP", s.info.MongoURI)
	}
	if v := s.importCSV("name,email\nAnn,ann@x.io\n", nil); v.Status != "completed" {
		t.Fatalf("import: %+v", v)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "without authentication") {
		t.Fatalf("no warning about TCP without authentication in the log: %s", logs.String())
	}
}

// A data directory too long for the socket's path fails the start with an
// error that says what to do.
func TestEmbeddedDataDirTooLongForSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("long-", 20))
	err := app.Run(context.Background(), app.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0"}, zap.NewNop())
	if !errors.Is(err, embedded.ErrSocketPathTooLong) {
		t.Fatalf("%v; want ErrSocketPathTooLong", err)
	}
}

// tcpListeners are the ports this process listens on over TCP (Linux).
func tcpListeners(t *testing.T) map[string]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	ports := map[string]bool{}
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Scan() // header
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				t.Fatalf("%s: %q: %v", table, f[1], err)
			}
			ports[fmt.Sprint(p)] = true
		}
	}
	return ports
}

// Services run as separate processes on one host, the way the README says:
// FerretDB on its own (`intake ferretdb`) on its socket, the workers'
// process with the embedded nats-server listening, and ingest connecting
// with the generated credentials and the socket URI.
func TestSplitOnOneHostOverSocketAndGeneratedCredentials(t *testing.T) {
	fr, err := embedded.StartFerret(t.TempDir(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Stop()
	workersDir := t.TempDir()
	startSystem(t, workersDir, func(c *app.Config) {
		c.Targets = []string{"upstream", "validator", "deduplicator", "writer", "reporter"}
		c.EmbeddedNATSAddr, c.MongoURI = "127.0.0.1:0", fr.URI()
	})
	nctx, err := embedded.ReadNATSContext(workersDir)
	if err != nil {
		t.Fatal(err)
	}
	natsURL, err := nctx.URLWithCredentials()
	if err != nil {
		t.Fatal(err)
	}
	ingest := startSystem(t, t.TempDir(), func(c *app.Config) {
		c.Targets = []string{"ingest"}
		c.NATSURL, c.MongoURI = natsURL, fr.URI()
	})
	v := ingest.importCSV("name,email\nAnn,ann@x.io\nBob,bob@x.io\n", nil)
	if v.Status != "completed" || v.Created != 2 {
		t.Fatalf("import across the processes: %+v", v)
	}
	if got := ingest.records("default", "contacts"); len(got) != 2 {
		t.Fatalf("records through the socket: %v", got)
	}
}
