// Package storetest opens a store on an in-process FerretDB for the tests of
// the packages that use one (the store's own tests start theirs in the
// package, which this one imports).
package storetest

import (
	"testing"

	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/store"
)

// Embedded is a store in database "intake" on an in-process FerretDB through
// its SQLite fast path, as the embedded default runs it; all is closed when
// the test ends.
func Embedded(tb testing.TB) *store.Store {
	tb.Helper()
	f, client := ferrettest.Start(tb, "")
	fast := f.FastPath()
	tb.Cleanup(fast.Close)
	return store.New(client, "intake", fast)
}

// Wire is a store in database "intake" on an in-process FerretDB reached
// over the wire only, as a MongoDB is.
func Wire(tb testing.TB) *store.Store {
	tb.Helper()
	_, client := ferrettest.Start(tb, "")
	return store.New(client, "intake", nil)
}
