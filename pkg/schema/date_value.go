package schema

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// StoredDates returns fields with the value of every date field as a
// time.Time at UTC midnight, the form records store (a BSON date), from any
// form a date takes on its way: the canonical "yyyy-mm-dd" string records
// travel with, a time.Time, a BSON date as the driver's extended JSON gives
// it ({"$date": ...}) or as the embedded reader gives it (Unix
// milliseconds). Both an incoming record and the stored one go through it
// before they are compared, so a date stored as a string by an earlier
// version equals the same day stored as a date. A value that is no date is
// kept as it is; the input map is not modified.
func (s *Schema) StoredDates(fields map[string]any) map[string]any {
	var out map[string]any
	for k, v := range fields {
		i, ok := s.byName[k]
		if !ok || s.Fields[i].Type != TypeDate || v == nil {
			continue
		}
		t, ok := DateValue(v)
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(fields))
			for k2, v2 := range fields {
				out[k2] = v2
			}
		}
		out[k] = t
	}
	if out == nil {
		return fields
	}
	return out
}

// DateValue reads a date in any of the forms StoredDates accepts, as the
// UTC midnight of its calendar day.
func DateValue(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return midnight(x.UTC()), true
	case string:
		t, err := time.Parse(isoLayout, x)
		return t, err == nil
	case json.Number:
		ms, err := x.Int64()
		return midnight(time.UnixMilli(ms).UTC()), err == nil
	case map[string]any:
		if len(x) != 1 {
			return time.Time{}, false
		}
		switch d := x["$date"].(type) {
		case string: // relaxed extended JSON
			t, err := time.Parse(time.RFC3339Nano, d)
			return midnight(t.UTC()), err == nil
		case map[string]any: // canonical: {"$numberLong": "..."}
			if n, ok := d["$numberLong"].(string); ok {
				ms, err := strconv.ParseInt(n, 10, 64)
				return midnight(time.UnixMilli(ms).UTC()), err == nil
			}
		case json.Number:
			return DateValue(d)
		}
		return time.Time{}, false
	}
	// A BSON date as the driver decodes it (bson.DateTime, Unix ms): this
	// package knows no driver, only an int64 kind with a Time method.
	if tm, ok := v.(interface{ Time() time.Time }); ok && reflect.ValueOf(v).Kind() == reflect.Int64 {
		return midnight(tm.Time().UTC()), true
	}
	return time.Time{}, false
}

func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
