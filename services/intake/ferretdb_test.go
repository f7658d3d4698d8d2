package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/testenv"
)

// `intake ferretdb` follows the embedded default's rules: by default an
// owner-only Unix socket in its data directory; --listen only on loopback,
// with a warning; anything else refused.
func TestFerretDBCommandListensOnSocketByDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	uri, out, stop := startFerretDBCommand(t, "--data-dir", dir)
	socket := ferrettest.OwnerOnlySocket(t, dir)
	if uri != embedded.MongoSocketURI(socket) {
		t.Fatalf("listening on %q; want the socket %s", uri, socket)
	}
	if strings.Contains(out.String(), "warning") {
		t.Fatalf("a warning on the socket: %s", out.String())
	}
	pingInsert(t, uri)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after a clean stop: %v", err)
	}
}

func TestFerretDBCommandListenOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		err := run([]string{"ferretdb", "--data-dir", t.TempDir(), "--listen", addr}, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, embedded.ErrNotLoopback) {
			t.Fatalf("--listen %s: %v; want refused as not loopback", addr, err)
		}
	}
	uri, out, stop := startFerretDBCommand(t, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(uri, "mongodb://127.0.0.1:") {
		t.Fatalf("listening on %q; want loopback TCP", uri)
	}
	if !strings.Contains(out.String(), "warning: "+embedded.TCPWarning) {
		t.Fatalf("no warning about TCP without authentication: %s", out.String())
	}
	pingInsert(t, uri)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// startFerretDBCommand runs `intake ferretdb ARGS` until stop, and returns
// the URI it says it listens on.
func startFerretDBCommand(t *testing.T, args ...string) (string, *testenv.SyncBuffer, func() error) {
	t.Helper()
	out := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runContext(ctx, append([]string{"ferretdb"}, args...), out, out) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	var uri string
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		select {
		case err := <-done:
			t.Fatalf("intake ferretdb %v stopped: %v; %s", args, err, out.String())
		default:
		}
		_, after, ok := strings.Cut(out.String(), "ferretdb listening: ")
		if !ok || !strings.HasSuffix(after, "\n") {
			return fmt.Errorf("intake ferretdb %v did not say where it listens: %s", args, out.String())
		}
		uri = strings.TrimSpace(after)
		return nil
	})
	return uri, out, stop
}

func pingInsert(t *testing.T, uri string) {
	t.Helper()
	ctx := context.Background()
	c := ferrettest.Connect(t, uri)
	defer c.Disconnect(ctx) // before the test stops FerretDB
	if _, err := c.Database("intake").Collection("t").InsertOne(ctx, bson.M{"_id": "x"}); err != nil {
		t.Fatalf("insert through %s: %v", uri, err)
	}
}
