package writer

import (
	"github.com/intake/intake/pkg/reconcile"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// beforeImages are what the records that updates change hold before they
// are written: for each field an update sets or removes, its old value, or
// that it was absent (to be removed again by an undo). found is what the
// writer read of the records to decide the updates, so saving the images
// reads nothing more. Values go through the schema as incoming ones do, so
// an undo writes them back with the types they were stored with.
func beforeImages(tenant, schemaName, importID string, sch *schema.Schema, updates []store.FieldUpdate, found map[string]*reconcile.Existing) []store.BeforeImage {
	imgs := make([]store.BeforeImage, 0, len(updates))
	for _, u := range updates {
		e := found[u.ID]
		if e == nil {
			continue // an update is only decided for a record read
		}
		old := map[string]any{}
		var absent []string
		note := func(f string) {
			if v, ok := e.Fields[f]; ok {
				old[f] = v
			} else {
				absent = append(absent, f)
			}
		}
		for f := range u.Set {
			note(f)
		}
		for _, f := range u.Unset {
			note(f)
		}
		imgs = append(imgs, store.BeforeImage{Tenant: tenant, Import: importID, Schema: schemaName, Record: u.ID, Row: u.Stamp.Row,
			Kind: store.ImageUpdated, Set: sch.StoredDates(sch.Restore(old)), Unset: absent})
	}
	return imgs
}
