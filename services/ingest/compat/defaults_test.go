package compat

import (
	"testing"
	"time"
)

// Unset and negative settings take the defaults; positive ones are kept.
func TestConfigDefaults(t *testing.T) {
	for _, in := range []Config{{}, {SyncWait: -1, CustomersMaxRows: -1, CustomersMaxBytes: -1, SyncMaxBytes: -1, AsyncMaxBytes: -1}} {
		c := in.withDefaults()
		if c.SyncWait != DefaultSyncWait || c.CustomersMaxRows != DefaultCustomersMaxRows || c.CustomersMaxBytes != DefaultCustomersMaxBytes ||
			c.SyncMaxBytes != DefaultSyncMaxBytes || c.AsyncMaxBytes != DefaultAsyncMaxBytes || c.Log == nil ||
			c.PersonsRowLimit("any") != DefaultPersonsRowLimit {
			t.Fatalf("withDefaults(%+v) = %+v", in, c)
		}
	}
	set := Config{SyncWait: time.Second, CustomersMaxRows: 2, CustomersMaxBytes: 3, SyncMaxBytes: 4, AsyncMaxBytes: 5}
	if c := set.withDefaults(); c.SyncWait != time.Second || c.CustomersMaxRows != 2 || c.CustomersMaxBytes != 3 || c.SyncMaxBytes != 4 || c.AsyncMaxBytes != 5 {
		t.Fatalf("withDefaults(%+v) = %+v", set, c)
	}
}
