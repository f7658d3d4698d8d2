package store

import (
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
