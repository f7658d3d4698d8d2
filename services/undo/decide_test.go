package undo

import (
	"testing"

	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/store"
)

func TestDecide(t *testing.T) {
	const orig, undoID, other = "imp_orig", "imp_undo", "imp_other"
	stamps := func(last, created string) *reconcile.Existing {
		return &reconcile.Existing{Last: reconcile.Stamp{Import: last, Row: 2}, Created: reconcile.Stamp{Import: created, Row: 2}}
	}
	for _, tc := range []struct {
		name string
		kind string
		cur  *reconcile.Existing
		want decision
	}{
		{"created, still the import's: delete", store.ImageCreated, stamps(orig, orig), decision{act: remove, result: reversed}},
		{"created, gone (deleted by this undo before a crash)", store.ImageCreated, nil, decision{result: reversed}},
		{"created, written since by another import: kept", store.ImageCreated, stamps(other, orig), decision{result: kept, by: other}},
		{"updated, still the import's: restore", store.ImageUpdated, stamps(orig, other), decision{act: restore, result: reversed}},
		{"updated, restored by this undo already", store.ImageUpdated, stamps(undoID, other), decision{result: reversed}},
		{"updated, written since: kept", store.ImageUpdated, stamps(other, other), decision{result: kept, by: other}},
		{"updated, deleted since: kept", store.ImageUpdated, nil, decision{result: kept}},
		{"updated a record it created (a later row matched it): delete", store.ImageUpdated, stamps(orig, orig), decision{act: remove, result: reversed}},
		{"deleted by the replace, still absent: store again", store.ImageDeleted, nil, decision{act: reinsert, result: reversed}},
		{"deleted, stored again by this undo already", store.ImageDeleted, stamps(undoID, other), decision{result: reversed}},
		{"deleted, created again since by another import: kept", store.ImageDeleted, stamps(other, other), decision{result: kept, by: other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(store.BeforeImage{Kind: tc.kind, Record: "email:a@x.io", Row: 2}, tc.cur, orig, undoID)
			if got != tc.want {
				t.Fatalf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}
