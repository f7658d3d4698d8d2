package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Restore converts the fields of a record that went through JSON (or BSON)
// back to the canonical Go types of their schema fields:
//
//	int -> int64 (from float64, json.Number, int32, ... or a decimal string)
//	bool -> bool (also from "true"/"yes"/...)
//	list -> []string (from []any or any slice)
//	json -> map[string]any with JSON-decoded values inside (float64 numbers,
//	        []any, map[string]any; ordered BSON documents become maps)
//	string, email, phone, enum, date, decimal -> string (numbers are written
//	        out without exponent; a time.Time date becomes yyyy-mm-dd)
//
// A value that cannot be converted is kept as it is, as are fields the
// schema does not know. The input map is not modified.
func (s *Schema) Restore(fields map[string]any) map[string]any {
	if fields == nil {
		return nil
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		i, ok := s.byName[k]
		if !ok || v == nil {
			out[k] = v
			continue
		}
		out[k] = restoreValue(&s.Fields[i], v)
	}
	return out
}

func restoreValue(f *Field, v any) any {
	switch f.Type {
	case TypeInt:
		switch x := v.(type) {
		case int64:
			return x
		case string:
			if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return i
			}
			return v
		}
		if n, ok := toNumber(v); ok {
			if n.isInt {
				return n.i
			}
			if n.f == math.Trunc(n.f) && math.Abs(n.f) < 1<<63 {
				return int64(n.f)
			}
		}
		return v
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x
		case string:
			if b, ok := parseBool(strings.TrimSpace(x)); ok {
				return b
			}
			return v
		}
		if n, ok := toNumber(v); ok && n.isInt && (n.i == 0 || n.i == 1) {
			return n.i == 1
		}
		if n, ok := toNumber(v); ok && !n.isInt && (n.f == 0 || n.f == 1) {
			return n.f == 1
		}
		return v
	case TypeList:
		switch x := v.(type) {
		case []string:
			return x
		case []any:
			out := make([]string, len(x))
			for i, it := range x {
				out[i] = scalarText(it)
			}
			return out
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			out := make([]string, rv.Len())
			for i := range out {
				out[i] = scalarText(rv.Index(i).Interface())
			}
			return out
		}
		return v
	case TypeJSON:
		if m, ok := toJSONValue(v).(map[string]any); ok {
			return m
		}
		return v
	default:
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return string(x) // as written: "12.50" keeps its scale
		case time.Time:
			if f.Type == TypeDate {
				return x.Format(isoLayout)
			}
			return x.Format(time.RFC3339Nano)
		}
		if n, ok := toNumber(v); ok {
			return n.text()
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.String {
			return rv.String()
		}
		return v
	}
}

// scalarText writes a list item as a string.
func scalarText(v any) string {
	if s, ok := plainText(v); ok {
		return s
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.String {
		return rv.String()
	}
	return fmt.Sprint(v)
}

// Equal reports whether two field values are the same for "did this
// change" purposes, whatever their Go, JSON or BSON representation:
// []string equals []any with the same strings, int64(5) equals int32(5) and
// float64(5), map[string]any equals an ordered document (a slice of
// {Key, Value} structs such as bson.D) with the same keys and values, in
// any order. Values are compared through a canonical JSON-like encoding
// with sorted object keys; numbers compare by value, strings and numbers
// never equal each other, and list order matters.
func Equal(a, b any) bool {
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return sa == sb
		}
	}
	return bytes.Equal(appendCanon(nil, a, 0), appendCanon(nil, b, 0))
}

// Canonical returns the canonical encoding Equal compares (JSON with
// sorted object keys and numbers written by value). Useful as a map key or
// a hash input.
func Canonical(v any) []byte { return appendCanon(nil, v, 0) }

// number is a numeric value, exact for integers.
type number struct {
	isInt bool
	i     int64
	f     float64
}

func (n number) text() string {
	if n.isInt {
		return strconv.FormatInt(n.i, 10)
	}
	if n.f == math.Trunc(n.f) && math.Abs(n.f) < 1e21 {
		if math.Abs(n.f) < 1<<63 {
			return strconv.FormatInt(int64(n.f), 10)
		}
		return strconv.FormatFloat(n.f, 'f', -1, 64)
	}
	return strconv.FormatFloat(n.f, 'f', -1, 64)
}

// toNumber reads any Go numeric type (or json.Number).
func toNumber(v any) (number, bool) {
	switch x := v.(type) {
	case int64:
		return number{isInt: true, i: x}, true
	case int:
		return number{isInt: true, i: int64(x)}, true
	case int32:
		return number{isInt: true, i: int64(x)}, true
	case float64:
		return floatNumber(x), true
	case float32:
		return floatNumber(float64(x)), true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return number{isInt: true, i: i}, true
		}
		if f, err := x.Float64(); err == nil {
			return floatNumber(f), true
		}
		return number{}, false
	case string, bool, nil:
		return number{}, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return number{isInt: true, i: rv.Int()}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			return number{isInt: true, i: int64(u)}, true
		}
		return number{f: float64(u)}, true
	case reflect.Float32, reflect.Float64:
		return floatNumber(rv.Float()), true
	}
	return number{}, false
}

// floatNumber makes integral floats exact integers so that 5.0 == 5.
func floatNumber(f float64) number {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return number{isInt: true, i: int64(f)}
	}
	return number{f: f}
}

const maxCanonDepth = 100

// appendCanon appends the canonical encoding of v.
func appendCanon(b []byte, v any, depth int) []byte {
	if depth > maxCanonDepth {
		return append(b, `"<too deep>"`...)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return strconv.AppendQuote(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case []string:
		b = append(b, '[')
		for i, it := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, it)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, it := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanon(b, it, depth+1)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			b = appendCanon(b, x[k], depth+1)
		}
		return append(b, '}')
	case time.Time:
		return strconv.AppendQuote(b, x.UTC().Format(time.RFC3339Nano))
	case json.RawMessage:
		var d any
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		if err := dec.Decode(&d); err != nil {
			return strconv.AppendQuote(b, string(x))
		}
		return appendCanon(b, d, depth+1)
	}
	if n, ok := toNumber(v); ok {
		if n.isInt {
			return strconv.AppendInt(b, n.i, 10)
		}
		if math.IsNaN(n.f) || math.IsInf(n.f, 0) {
			return strconv.AppendQuote(b, strconv.FormatFloat(n.f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, n.f, 'g', -1, 64)
	}
	return appendCanon(b, reflectJSON(reflect.ValueOf(v), depth), depth+1)
}

// reflectJSON turns other representations into the JSON value types:
// pointers are followed, named strings/bools become string/bool, slices
// become []any (or a map for ordered {Key, Value} documents), maps with
// string keys become map[string]any, and anything else goes through
// encoding/json.
func reflectJSON(rv reflect.Value, depth int) any {
	if depth > maxCanonDepth {
		return "<too deep>"
	}
	switch rv.Kind() {
	case reflect.Invalid:
		return nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return toJSONish(rv.Elem().Interface(), depth+1)
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return string(bytesOf(rv))
		}
		if isKeyValue(rv.Type().Elem()) {
			m := make(map[string]any, rv.Len())
			for i := 0; i < rv.Len(); i++ {
				e := rv.Index(i)
				m[e.Field(0).String()] = toJSONish(e.Field(1).Interface(), depth+1)
			}
			return m
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = toJSONish(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return nil
		}
		m := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			m[it.Key().String()] = toJSONish(it.Value().Interface(), depth+1)
		}
		return m
	}
	data, err := json.Marshal(rv.Interface())
	if err != nil {
		return fmt.Sprint(rv.Interface())
	}
	var d any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return string(data)
	}
	return d
}

// toJSONish keeps the types appendCanon knows and converts the others.
func toJSONish(v any, depth int) any {
	switch v.(type) {
	case nil, string, bool, []string, []any, map[string]any, time.Time, json.Number, json.RawMessage:
		return v
	}
	if _, ok := toNumber(v); ok {
		return v
	}
	return reflectJSON(reflect.ValueOf(v), depth)
}

func bytesOf(rv reflect.Value) []byte {
	if rv.Kind() == reflect.Slice {
		return rv.Bytes()
	}
	b := make([]byte, rv.Len())
	for i := range b {
		b[i] = byte(rv.Index(i).Uint())
	}
	return b
}

// isKeyValue reports whether t is a {Key string; Value any} struct, the
// element of ordered documents such as bson.D.
func isKeyValue(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.NumField() == 2 &&
		t.Field(0).Name == "Key" && t.Field(0).Type.Kind() == reflect.String &&
		t.Field(1).Name == "Value"
}

// toJSONValue converts v to what encoding/json would decode from its JSON
// form: nil, bool, float64, string, []any, map[string]any.
func toJSONValue(v any) any {
	return jsonTree(v, 0)
}

func jsonTree(v any, depth int) any {
	if depth > maxCanonDepth {
		return nil
	}
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonTree(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonTree(e, depth+1)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case json.RawMessage:
		var d any
		if json.Unmarshal(x, &d) == nil {
			return d
		}
		return string(x)
	}
	if n, ok := toNumber(v); ok {
		if n.isInt {
			return float64(n.i)
		}
		return n.f
	}
	return jsonTree(reflectJSON(reflect.ValueOf(v), depth), depth+1)
}
