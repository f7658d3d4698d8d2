package writer

import (
	"context"
	"fmt"
	"testing"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/schema/schematest"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/store/storetest"
)

// A chunk that passed the deduplicator without the handle index
// (handles_deferred) is written as any other; if the index was started
// meanwhile (an import by phone arrived: its backfill's scan may have run
// before these records were stored), the writer records their handles as
// the backfill would: a value that is a record's _id not at all, one
// another record has shared. Before that, it records none.
func TestDeferredHandlesRecordedOnceTheIndexIsKept(t *testing.T) {
	ctx := context.Background()
	st := storetest.Embedded(t)
	_, reg := schematest.TwoKeyContacts(t)
	w := &writer{store: st, schemas: catalog.New(reg, nil)}
	write := func(importID string, rows ...map[string]any) {
		t.Helper()
		ch := &envelope.RecordChunk{Tenant: "t", Import: importID, Chunk: 1, HandlesDeferred: true,
			Options: envelope.Options{Schema: "contacts", Key: "email", Mode: envelope.ModeUpsert}}
		for i, f := range rows {
			ch.Records = append(ch.Records, envelope.Record{Row: i + 2, Key: schema.Key("email", f), Fields: f}) // no handles: the deduplicator drops them
		}
		outcomes, err := w.write(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outcomes {
			if o.Result != envelope.Created {
				t.Fatalf("%s: %+v", importID, o)
			}
		}
	}
	owners := func() string {
		t.Helper()
		o, err := st.HandleOwnership(ctx, "t", "contacts", []string{"phone:+12015550001", "phone:+12015550002", "phone:+12015550003", "email:bob@x.io"})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(o)
	}
	index := func() int {
		t.Helper()
		hs, err := st.HandleOwners(ctx, "t", "contacts", []string{"phone:+12015550001", "phone:+12015550002", "phone:+12015550003", "email:ann@x.io", "email:bob@x.io", "email:cid@x.io"})
		if err != nil {
			t.Fatal(err)
		}
		return len(hs)
	}

	write("imp1", map[string]any{"email": "ann@x.io", "phone": "+12015550001"})
	if n := index(); n != 0 {
		t.Fatalf("no index kept: the writer recorded %d handles", n)
	}
	// The deduplicator starts the index before its backfill's scan.
	if err := st.AddKeyUse(ctx, "t", "contacts", store.KeyUse{Used: []string{"email", "phone"}, Indexed: []string{"email", "phone"}}); err != nil {
		t.Fatal(err)
	}
	write("imp2", map[string]any{"email": "bob@x.io", "phone": "+12015550002"}, map[string]any{"email": "cid@x.io", "phone": "+12015550003"})
	write("imp3", map[string]any{"email": "dee@x.io", "phone": "+12015550003"}) // cid's phone too
	want := "map[email:bob@x.io:{email:bob@x.io false} phone:+12015550002:{email:bob@x.io false} phone:+12015550003:{email:cid@x.io true}]"
	if got := owners(); got != want {
		t.Fatalf("handles after the index was started: %s, want %s", got, want)
	}
	if n := index(); n != 2 {
		t.Fatalf("the index holds %d handles, want 2 (the phones; emails are the records' _ids)", n)
	}
}
