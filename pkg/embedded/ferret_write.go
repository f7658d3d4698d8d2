package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// SetFields applies, in one SQLite transaction, the $sets (sets[i] for the
// document with _id ids[i]) that only change
// the values of fields the stored document already has, each keeping its
// stored type. It reports which it applied; the caller sends the others to
// FerretDB as ordinary updates.
//
// Why: FerretDB v1 runs each update statement through its query planner
// and commits it on its own (about 400 us of CPU a record, measured: most of
// a re-import's time). A changed value of an existing field of the same type
// is, in FerretDB's SQLite format, the same JSON text with that one value
// replaced and the type annotation ("$s") untouched, so SQLite's json_set
// does it exactly; untouched fields keep their stored text. Every statement
// checks, in its WHERE clause, that each field still has the type the value
// is written as, so a record another import changed in between is left to
// FerretDB, not written in a shape FerretDB would misread. The value
// encodings are those of FerretDB v1.24's sjson package (strings, numbers and
// booleans as encoding/json writes them, dates as Unix milliseconds);
// TestSetFieldsMatchesFerretDB checks them against FerretDB's own updates.
func (x *SQLiteFastPath) SetFields(ctx context.Context, db *mongo.Database, coll string, ids []string, sets []map[string]any) ([]bool, error) {
	applied := make([]bool, len(sets))
	type stmt struct {
		i    int
		sql  string
		args []any
	}
	var stmts []stmt
	for i, set := range sets {
		if q, args, ok := setStatement(ids[i], set); ok {
			stmts = append(stmts, stmt{i: i, sql: q, args: args})
		}
	}
	if len(stmts) == 0 {
		return applied, nil
	}
	w, table, err := x.writeTarget(ctx, db, coll)
	if err != nil {
		return nil, err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", coll, err)
	}
	defer func() { _ = tx.Rollback() }()
	prepared := map[string]*sql.Stmt{}
	for _, s := range stmts {
		p, ok := prepared[s.sql]
		if !ok {
			if p, err = tx.PrepareContext(ctx, fmt.Sprintf(s.sql, table)); err != nil {
				return nil, fmt.Errorf("update %s: %w", coll, err)
			}
			prepared[s.sql] = p
		}
		res, err := p.ExecContext(ctx, s.args...)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", coll, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", coll, err)
		}
		applied[s.i] = n == 1
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update %s: %w", coll, err)
	}
	return applied, nil
}

// setStatement is the UPDATE setting fields of the document with _id id,
// with %[1]q standing for the table, or ok false if a value or a field name
// is outside what it handles. The JSON paths are bound parameters, so the
// statement text depends only on the number of fields.
func setStatement(id string, set map[string]any) (q string, args []any, ok bool) {
	if len(set) == 0 {
		return "", nil, false
	}
	names := make([]string, 0, len(set))
	for f := range set {
		if !plainKey(f) || f == "_id" {
			return "", nil, false
		}
		names = append(names, f)
	}
	sort.Strings(names)
	var setArgs, whereArgs []any
	for _, f := range names {
		v := set[f]
		t, ok := scalarType(v)
		if !ok {
			return "", nil, false
		}
		text, _ := appendScalar(nil, v)
		setArgs = append(setArgs, `$."`+f+`"`, string(text))
		whereArgs = append(whereArgs, `$."$s".p."`+f+`".t`, t)
	}
	idText, _ := json.Marshal(id)
	args = append(append(setArgs, string(idText)), whereArgs...)
	q = `UPDATE %[1]q SET _ferretdb_sjson = json_set(_ferretdb_sjson` + strings.Repeat(`, ?, json(?)`, len(names)) +
		`) WHERE _ferretdb_sjson->'$._id' = ?` + strings.Repeat(` AND _ferretdb_sjson->>? = ?`, len(names))
	return q, args, true
}

// scalarType is the type name FerretDB v1.24's sjson gives a value, for the
// types written here; ok is false for any other value, and for values it
// writes in ways not reproduced here.
func scalarType(v any) (typ string, ok bool) {
	switch x := v.(type) {
	case string:
		return "string", utf8.ValidString(x) // encoding/json would replace bytes, and so change the value
	case bool:
		return "bool", true
	case int32:
		return "int", true
	case int64:
		return "long", true
	case float64:
		return "double", !math.IsNaN(x) && !math.IsInf(x, 0) && !(x == 0 && math.Signbit(x))
	case time.Time:
		return "date", true
	}
	return "", false
}

// appendScalar appends a value as FerretDB v1.24's sjson writes it (its
// MarshalJSON methods use encoding/json; dates are Unix milliseconds); ok is
// false where scalarType's is.
func appendScalar(buf []byte, v any) (_ []byte, ok bool) {
	if _, ok := scalarType(v); !ok {
		return buf, false
	}
	switch x := v.(type) {
	case string:
		return appendJSONString(buf, x), true
	case bool:
		return strconv.AppendBool(buf, x), true
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), true
	case int64:
		return strconv.AppendInt(buf, x, 10), true
	case float64:
		b, _ := json.Marshal(x)
		return append(buf, b...), true
	case time.Time:
		return strconv.AppendInt(buf, x.UnixMilli(), 10), true
	}
	return buf, false
}

// appendJSONString appends a valid UTF-8 string quoted exactly as
// encoding/json.Marshal quotes it (HTML characters and U+2028/U+2029
// escaped); FuzzAppendJSONString holds it to that.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[c&0xF])
			start = i + size
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// writeTarget returns the read-write connection to a collection's database
// file and the collection's table, creating the collection if needed.
func (x *SQLiteFastPath) writeTarget(ctx context.Context, db *mongo.Database, coll string) (*sql.DB, string, error) {
	if err := x.Ensure(ctx, db, coll); err != nil {
		return nil, "", err
	}
	table, err := x.tableOf(ctx, db.Name(), coll)
	if err != nil {
		return nil, "", err
	}
	w, err := x.writer(db.Name())
	if err != nil {
		return nil, "", err
	}
	return w, table, nil
}

// writer returns the read-write connection to a database file, one
// connection, so that its transactions run one after another.
func (x *SQLiteFastPath) writer(dbName string) (*sql.DB, error) {
	return x.conn(&x.writers, dbName, "_pragma=busy_timeout(30000)&_txlock=immediate", 1)
}

// InsertDocs inserts documents (docs[i] with _id ids[i], a string) in one
// SQLite transaction and reports which were not written because their _id
// was already stored. ok is false, and nothing is written, when a document
// holds a key or a value it does not encode; the caller then sends the
// documents to FerretDB.
//
// Why: a FerretDB v1 insert converts every document from BSON to its own
// types, checks it and encodes it to its SQLite JSON format inside the
// database's write transaction, so inserts cannot overlap and the writer
// was a re-import's and an import's slowest stage (measured). Here the
// encoding happens before the transaction, in the writer's goroutine. The
// documents are exactly what FerretDB itself would store for the same BSON
// document (_id first, then the fields in name order):
// TestInsertDocsMatchesFerretDB compares the stored text byte for byte.
func (x *SQLiteFastPath) InsertDocs(ctx context.Context, db *mongo.Database, coll string, ids []string, docs []map[string]any) (existed []bool, ok bool, err error) {
	texts := make([]string, len(docs))
	var buf []byte
	for i, d := range docs {
		var ok bool
		if buf, ok = appendDoc(buf[:0], ids[i], d); !ok {
			return nil, false, nil
		}
		texts[i] = string(buf)
	}
	existed = make([]bool, len(docs))
	if len(docs) == 0 {
		return existed, true, nil
	}
	w, table, err := x.writeTarget(ctx, db, coll)
	if err != nil {
		return nil, false, err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("insert into %s: %w", coll, err)
	}
	defer func() { _ = tx.Rollback() }()
	// OR IGNORE skips the rows that break a unique index: only _id has one.
	p, err := tx.PrepareContext(ctx, fmt.Sprintf(`INSERT OR IGNORE INTO %q (_ferretdb_sjson) VALUES (?)`, table))
	if err != nil {
		return nil, false, fmt.Errorf("insert into %s: %w", coll, err)
	}
	for i, t := range texts {
		res, err := p.ExecContext(ctx, t)
		if err != nil {
			return nil, false, fmt.Errorf("insert into %s: %w", coll, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, false, fmt.Errorf("insert into %s: %w", coll, err)
		}
		existed[i] = n == 0
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("insert into %s: %w", coll, err)
	}
	return existed, true, nil
}

// appendDoc appends the document in FerretDB v1.24's SQLite format (its
// sjson.Marshal): {"$s":{"p":{<key>:<type>,...},"$k":[<keys>]},<key>:<value>,...}.
func appendDoc(buf []byte, id string, fields map[string]any) ([]byte, bool) {
	keys := make([]string, 0, len(fields)+1)
	keys = append(keys, "_id")
	for k := range fields {
		if !plainKey(k) || k == "_id" {
			return nil, false
		}
		keys = append(keys, k)
	}
	sort.Strings(keys[1:])
	value := func(k string) any {
		if k == "_id" {
			return id
		}
		return fields[k]
	}
	buf = append(buf, `{"$s":{"p":{`...)
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, k...)
		buf = append(buf, `":`...)
		var ok bool
		if buf, ok = appendType(buf, value(k)); !ok {
			return nil, false
		}
	}
	buf = append(buf, `},"$k":[`...)
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"') // plain keys need no escapes
		buf = append(buf, k...)
		buf = append(buf, '"')
	}
	buf = append(buf, "]}"...)
	for _, k := range keys {
		buf = append(buf, `,"`...)
		buf = append(buf, k...)
		buf = append(buf, `":`...)
		var ok bool
		if buf, ok = appendValue(buf, value(k)); !ok {
			return nil, false
		}
	}
	return append(buf, '}'), true
}

// plainKey reports whether a field name is one FerretDB accepts and that
// reads the same raw and JSON-escaped (FerretDB writes top-level keys raw).
func plainKey(k string) bool {
	if k == "" || !utf8.ValidString(k) || strings.HasPrefix(k, "$") {
		return false
	}
	for _, r := range k {
		if r < 0x20 || r == '"' || r == '\\' || r == '.' || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// appendType appends a value's type annotation.
func appendType(buf []byte, v any) ([]byte, bool) {
	if v == nil {
		return append(buf, `{"t":"null"}`...), true
	}
	if items, ok := listOf(v); ok {
		buf = append(buf, `{"t":"array","i":[`...)
		for i, it := range items {
			if i > 0 {
				buf = append(buf, ',')
			}
			if _, isList := listOf(it); isList {
				return nil, false // FerretDB v1 refuses nested arrays; let it say so
			}
			if buf, ok = appendType(buf, it); !ok {
				return nil, false
			}
		}
		return append(buf, `]}`...), true
	}
	t, ok := scalarType(v)
	if !ok {
		return nil, false
	}
	buf = append(buf, `{"t":"`...)
	buf = append(buf, t...)
	return append(buf, `"}`...), true
}

// appendValue appends a value as FerretDB writes it.
func appendValue(buf []byte, v any) ([]byte, bool) {
	if v == nil {
		return append(buf, "null"...), true
	}
	if items, ok := listOf(v); ok {
		buf = append(buf, '[')
		for i, it := range items {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, ok = appendValue(buf, it); !ok {
				return nil, false
			}
		}
		return append(buf, ']'), true
	}
	return appendScalar(buf, v)
}

// listOf returns the items of a list value.
func listOf(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}
