// Package ferrettest starts the embedded FerretDB for tests, much as the
// embedded default runs it, and connects the real MongoDB driver to it.
package ferrettest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake/intake/pkg/embedded"
)

// Start runs FerretDB on SQLite files under dir (tb.TempDir() if empty),
// quiet below errors, and returns it with a connected client; both are
// stopped when the test ends. It listens on loopback TCP rather than the
// default's Unix socket: a test's temporary directory can be too long for a
// socket path.
func Start(tb testing.TB, dir string) (*embedded.Ferret, *mongo.Client) {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	quiet := slog.New(embedded.NewQuietHandler(slog.LevelError, slog.NewJSONHandler(io.Discard, nil)))
	f, err := embedded.StartFerret(dir, "127.0.0.1:0", quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Stop)
	return f, Connect(tb, f.URI())
}

// Connect connects the MongoDB driver to uri; the client is disconnected
// when the test ends.
func Connect(tb testing.TB, uri string) *mongo.Client {
	tb.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	})
	return client
}

// OwnerOnlySocket checks that the FerretDB socket of data directory dir
// (embedded.MongoSocketFile) is a socket of mode 0600 in a directory of
// mode 0700, as the embedded default makes them, and returns its path.
func OwnerOnlySocket(tb testing.TB, dir string) string {
	tb.Helper()
	socket := filepath.Join(dir, embedded.MongoSocketFile)
	fi, err := os.Lstat(socket)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		tb.Fatalf("socket %s: %v %v; want a socket with mode 0600", socket, fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		tb.Fatalf("data directory %s: %v %v; want mode 0700", dir, fi.Mode(), err)
	}
	return socket
}
