package embedded

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// With no address asked for, FerretDB listens only on a Unix socket in the
// data directory, owner-only, and the driver reaches it by its URI.
func TestFerretWithoutAddressListensOnOwnerOnlySocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	f, err := StartFerret(dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, MongoSocketFile)
	if f.Socket() != socket {
		t.Fatalf("socket %q, want %q", f.Socket(), socket)
	}
	fi, err := os.Lstat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %s, want a socket with mode 0600", socket, fi.Mode())
	}
	assertMode(t, dir, 0o700)
	if !strings.HasPrefix(f.URI(), "mongodb://%2F") || !strings.HasSuffix(f.URI(), ".sock/") {
		t.Fatalf("URI %q: want the escaped socket path", f.URI())
	}
	insertAndFind(t, f.URI())
	f.Stop()
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket is left after Stop: %v", err)
	}
}

// A socket left by a killed FerretDB does not stop the next start; a
// socket still served does.
func TestFerretReplacesStaleSocketOnly(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, MongoSocketFile)
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // what kill -9 leaves
	f, err := StartFerret(dir, "", nil)
	if err != nil {
		t.Fatalf("start over a stale socket: %v", err)
	}
	defer f.Stop()
	if _, err := StartFerret(dir, "", nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second FerretDB on the same data directory: %v, want refused", err)
	}
	insertAndFind(t, f.URI())
}

// TCP only on loopback: FerretDB has no authentication here.
func TestFerretRefusesNonLoopbackTCP(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:27017", "example.com:27017"} {
		_, err := StartFerret(t.TempDir(), addr, nil)
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: %v, want ErrNotLoopback", addr, err)
		}
	}
	f, err := StartFerret(t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if f.Socket() != "" || !strings.HasPrefix(f.URI(), "mongodb://127.0.0.1:") {
		t.Fatalf("socket %q, URI %q: want TCP on loopback only", f.Socket(), f.URI())
	}
	insertAndFind(t, f.URI())
}

// A data directory whose path leaves no room for the socket fails with a
// clear error, before anything is created.
func TestFerretSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	_, err := StartFerret(dir, "", nil)
	if !errors.Is(err, ErrSocketPathTooLong) {
		t.Fatalf("%v, want ErrSocketPathTooLong", err)
	}
	if !strings.Contains(err.Error(), "shorter path") {
		t.Fatalf("%v: want it to say what to do", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data directory was created: %v", err)
	}
}

func insertAndFind(t *testing.T, uri string) {
	t.Helper()
	ctx := context.Background()
	client := connect(t, uri)
	defer client.Disconnect(ctx)
	coll := client.Database("t").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "a", "v": 1}); err != nil {
		t.Fatal(err)
	}
	var got bson.M
	if err := coll.FindOne(ctx, bson.M{"_id": "a"}).Decode(&got); err != nil {
		t.Fatal(err)
	}
}
