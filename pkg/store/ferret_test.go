package store

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/embedded/ferrettest"
)

// startFerret runs FerretDB for one test and returns a client connected to
// it and its SQLite fast path, which is closed when the test ends.
func startFerret(tb testing.TB) (*mongo.Client, *embedded.SQLiteFastPath) {
	tb.Helper()
	f, client := ferrettest.Start(tb, "")
	ix := f.FastPath()
	tb.Cleanup(ix.Close)
	return client, ix
}

// startStore runs FerretDB for one test and returns a store in database
// "intake" on its fast path, and the test's context.
func startStore(tb testing.TB) (*Store, context.Context) {
	tb.Helper()
	client, ix := startFerret(tb)
	return New(client, "intake", ix), tb.Context()
}

// eachPath runs FerretDB for one test and runs test on both of its paths
// (see onBothPaths), with the subtest's context.
func eachPath(t *testing.T, prefix string, test func(t *testing.T, ctx context.Context, s *Store)) {
	t.Helper()
	client, ix := startFerret(t)
	onBothPaths(t, client, ix, prefix, func(t *testing.T, s *Store) { test(t, t.Context(), s) })
}

// onBothPaths runs test on a store of the embedded FerretDB's fast path
// (fast) and on one of the plain MongoDB path (none: FerretDB over the
// wire, as MongoDB is reached), each in a database of its own.
func onBothPaths(t *testing.T, client *mongo.Client, fast FastPath, prefix string, test func(t *testing.T, s *Store)) {
	t.Helper()
	for _, path := range []struct {
		name string
		fast FastPath
	}{{"embedded", fast}, {"wire", nil}} {
		t.Run(path.name, func(t *testing.T) { test(t, New(client, prefix+"_"+path.name, path.fast)) })
	}
}
