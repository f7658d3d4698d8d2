package imports

import (
	"github.com/intake/intake/pkg/filereader"
	"github.com/intake/intake/pkg/schema"
)

// schemaJSONFields tells a JSON upload's reader about the schema's fields
// its keys name (by column, name or alias, as a header would): an object or
// array under a json field's key is kept whole, as that field's value,
// instead of becoming dotted columns; an array of scalars under a list
// field's key is joined with that field's separator. Answers are
// remembered for the keys of the file.
type schemaJSONFields struct {
	sch    *schema.Schema
	fields map[string]*schema.Field
	known  map[string]*schema.Field
}

// jsonFields is nil for a schema with neither json nor list fields:
// nothing to tell the reader.
func jsonFields(sch *schema.Schema) filereader.JSONFields {
	j := &schemaJSONFields{sch: sch, fields: map[string]*schema.Field{}, known: map[string]*schema.Field{}}
	interesting := false
	for i := range sch.Fields {
		f := &sch.Fields[i]
		j.fields[f.Name] = f
		interesting = interesting || f.Type == schema.TypeJSON || f.Type == schema.TypeList
	}
	if !interesting {
		return nil
	}
	return j
}

func (j *schemaJSONFields) field(key string) *schema.Field {
	if f, ok := j.known[key]; ok {
		return f
	}
	var f *schema.Field
	if hm, err := j.sch.MapHeader([]string{key}); err == nil {
		f = j.fields[j.sch.Columns(hm)[0]]
	}
	if len(j.known) < 10_000 {
		j.known[key] = f
	}
	return f
}

func (j *schemaJSONFields) KeepWhole(key string) bool {
	f := j.field(key)
	return f != nil && f.Type == schema.TypeJSON
}

func (j *schemaJSONFields) ListSeparator(key string) string {
	if f := j.field(key); f != nil {
		return f.ItemSeparator()
	}
	return ""
}
