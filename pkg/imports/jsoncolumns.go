package imports

import (
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/schema"
)

// flattenBySchema sets how a JSON upload's values reach the schema's
// fields, for keys that name a field (by column, name or alias, as a
// header would): a nested object or array under a json field's key is kept
// whole, as that field's value, instead of becoming dotted columns; an
// array of scalars under a list field's key is joined with that field's
// separator. Answers are remembered for the keys of the file.
func flattenBySchema(opts *filereader.Options, sch *schema.Schema) {
	fields := map[string]*schema.Field{}
	interesting := false
	for i := range sch.Fields {
		f := &sch.Fields[i]
		fields[f.Name] = f
		interesting = interesting || f.Type == schema.TypeJSON || f.Type == schema.TypeList
	}
	if !interesting {
		return
	}
	known := map[string]*schema.Field{}
	field := func(key string) *schema.Field {
		if f, ok := known[key]; ok {
			return f
		}
		var f *schema.Field
		if hm, err := sch.MapHeader([]string{key}); err == nil {
			f = fields[sch.Columns(hm)[0]]
		}
		if len(known) < 10_000 {
			known[key] = f
		}
		return f
	}
	if opts.KeepJSON == nil {
		opts.KeepJSON = func(key string) bool {
			f := field(key)
			return f != nil && f.Type == schema.TypeJSON
		}
	}
	if opts.ListSeparator == nil {
		opts.ListSeparator = func(key string) string {
			if f := field(key); f != nil {
				return f.ItemSeparator()
			}
			return ""
		}
	}
}
