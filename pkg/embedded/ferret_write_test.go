package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func startFerretDB(tb testing.TB) (*Ferret, *mongo.Database) {
	tb.Helper()
	f, err := StartFerret(tb.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Stop)
	client := connect(tb, f.URI())
	tb.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return f, client.Database("t")
}

// connect connects the MongoDB driver to uri; the caller disconnects it.
func connect(tb testing.TB, uri string) *mongo.Client {
	tb.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		tb.Fatal(err)
	}
	return client
}

// startFastPath starts FerretDB and a fast path on it, closed when the test
// ends, with colls made ready for the fast path.
func startFastPath(tb testing.TB, colls ...string) (*SQLiteFastPath, *mongo.Database) {
	tb.Helper()
	f, db := startFerretDB(tb)
	ix := f.FastPath()
	tb.Cleanup(ix.Close)
	for _, name := range colls {
		if err := ix.Ensure(context.Background(), db, name); err != nil {
			tb.Fatal(err)
		}
	}
	return ix, db
}

// SetFields must leave each document exactly as FerretDB's own $set would:
// twin documents are changed one by each, and read back through the driver.
func TestSetFieldsMatchesFerretDB(t *testing.T) {
	ix, db := startFastPath(t, "records")
	ctx := context.Background()
	c := db.Collection("records")
	at := time.Date(2026, 11, 25, 4, 30, 1, 234_000_000, time.UTC)
	base := bson.D{
		{Key: "name", Value: "Ann"}, {Key: "html", Value: "a"}, {Key: "uni", Value: "x"},
		{Key: "age", Value: int64(40)}, {Key: "small", Value: int32(7)}, {Key: "score", Value: 1.5},
		{Key: "vip", Value: false}, {Key: "seen", Value: at},
		{Key: "tags", Value: bson.A{"a", "b"}}, {Key: "addr", Value: bson.D{{Key: "city", Value: "Oslo"}}},
		{Key: "none", Value: nil}, {Key: "o'neil", Value: "quote in the name"},
	}
	for _, id := range []string{"ferret", "sql"} {
		if _, err := c.InsertOne(ctx, append(bson.D{{Key: "_id", Value: id}}, base...)); err != nil {
			t.Fatal(err)
		}
	}
	set := map[string]any{
		"name": "Ann \"Q\" Smith\\", "html": "<b>&</b>", "uni": "Zoë 日本 \U0001F600\u2028",
		"age": int64(1<<62 + 1), "small": int32(-3), "score": 0.1, "vip": true,
		"seen": at.Add(time.Hour), "o'neil": "still there",
	}
	if _, err := c.UpdateByID(ctx, "ferret", bson.D{{Key: "$set", Value: set}}); err != nil {
		t.Fatal(err)
	}
	applied, err := ix.SetFields(ctx, db, c.Name(), []string{"sql"}, []map[string]any{set})
	if err != nil {
		t.Fatal(err)
	}
	if !applied[0] {
		t.Fatal("a same-type $set of existing fields was not applied")
	}
	read := func(id string) bson.D {
		var d bson.D
		if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
			t.Fatal(err)
		}
		return d[1:]
	}
	if got := read("sql"); got[0].Value != set["name"] || got[3].Value != set["age"] {
		t.Fatalf("not written: %v", got)
	}
	if a, b := read("ferret"), read("sql"); !reflect.DeepEqual(a, b) {
		t.Fatalf("FerretDB's $set gave\n%v\nSetFields gave\n%v", a, b)
	}

	// What it does not handle is left alone, for FerretDB.
	refused := []map[string]any{
		{"brand_new": "x"},       // a new field changes the type annotation
		{"name": int64(5)},       // a type change too
		{"tags": bson.A{"c"}},    // arrays carry per-item types
		{"none": "now a string"}, // null to string
		{"name": "B"},            // (no such record)
		{"name": "ok", "age": "not a number"},
		{"name.first": "x"}, // a path, not a field
	}
	ids := []string{"sql", "sql", "sql", "sql", "missing", "sql", "sql"}
	applied, err = ix.SetFields(ctx, db, c.Name(), ids, refused)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range applied {
		if ok {
			t.Errorf("refused[%d] %v was applied", i, refused[i])
		}
	}
	if a, b := read("ferret"), read("sql"); !reflect.DeepEqual(a, b) {
		t.Fatalf("a refused set changed the document:\n%v\n%v", a, b)
	}
}

// BenchmarkUpdates compares FerretDB's bulk $set with SetFields on a
// 100,000-record collection, 1,000 changed records an operation.
func BenchmarkUpdates(b *testing.B) {
	ix, db := startFastPath(b, "records")
	ctx := context.Background()
	c := db.Collection("records")
	const n = 100_000
	docs := make([]any, 0, 1000)
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("email:p%d@example.com", i)}, {Key: "email", Value: fmt.Sprintf("p%d@example.com", i)},
			{Key: "name", Value: "Person"}, {Key: "city", Value: "Oslo"}, {Key: "_intake_import", Value: "imp"}, {Key: "_intake_row", Value: int32(1)}, {Key: "_intake_updated_at", Value: time.Now()}})
		if len(docs) == 1000 {
			if _, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	batch := func(op int) (ids []string, sets []map[string]any) {
		for i := range 1000 {
			k := (op*1000 + i) * 7 % n
			ids = append(ids, fmt.Sprintf("email:p%d@example.com", k))
			sets = append(sets, map[string]any{
				"name": fmt.Sprintf("Person %d", op), "_intake_import": fmt.Sprintf("imp%d", op), "_intake_row": int32(i), "_intake_updated_at": time.Now().UTC()})
		}
		return ids, sets
	}
	b.Run("ferretdb", func(b *testing.B) {
		for op := range b.N {
			var models []mongo.WriteModel
			ids, sets := batch(op)
			for i, id := range ids {
				models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(bson.D{{Key: "$set", Value: sets[i]}}))
			}
			for start := 0; start < len(models); start += 16 {
				if _, err := c.BulkWrite(ctx, models[start:min(start+16, len(models))], options.BulkWrite().SetOrdered(false)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("setfields", func(b *testing.B) {
		for op := range b.N {
			ids, sets := batch(op + 1000)
			applied, err := ix.SetFields(ctx, db, c.Name(), ids, sets)
			if err != nil {
				b.Fatal(err)
			}
			for _, ok := range applied {
				if !ok {
					b.Fatal("not applied")
				}
			}
		}
	})
}

// InsertDocs must store what FerretDB stores for the same document, byte
// for byte, and report existing _ids as FerretDB's duplicate key errors would.
func TestInsertDocsMatchesFerretDB(t *testing.T) {
	ix, db := startFastPath(t, "ferret", "sql")
	ctx := context.Background()
	at := time.Date(1960, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	docs := []map[string]any{
		{"name": "Ann \"Q\" Smith\\", "html": "<b>&</b>", "uni": "Zoë 日本 \U0001F600\u2028", "empty": ""},
		{"age": int64(1<<62 + 1), "small": int32(-3), "score": 0.1, "big": 1e300, "vip": true, "off": false, "none": nil},
		{"seen": at, "now": time.Now().UTC().Truncate(time.Millisecond)},
		{"emails": []any{"a@x.io", "b@x.io"}, "mixed": []any{"x", int64(2), true, nil}, "nothing": []any{}, "phones": []string{"+4712345678"}},
		{},
	}
	ids := []string{"email:ann@x.io", "k2", "k3", "k4", "k5 \"quoted\" é"}
	ferret, sql := db.Collection("ferret"), db.Collection("sql")
	for i, d := range docs {
		b := bson.D{{Key: "_id", Value: ids[i]}}
		for _, k := range sortedKeys(d) {
			v := d[k]
			switch l := v.(type) {
			case []any:
				v = bson.A(l)
			case []string:
				v = bson.A{l[0]}
			}
			b = append(b, bson.E{Key: k, Value: v})
		}
		if _, err := ferret.InsertOne(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	existed, ok, err := ix.InsertDocs(ctx, db, sql.Name(), ids, docs)
	if err != nil || !ok {
		t.Fatalf("InsertDocs: ok %v, %v", ok, err)
	}
	for i, e := range existed {
		if e {
			t.Errorf("document %d reported as existing", i)
		}
	}
	raw := func(coll string) []string {
		sdb, table, err := ix.reader(ctx, db.Name(), coll)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := sdb.QueryContext(ctx, fmt.Sprintf(`SELECT _ferretdb_sjson FROM %q ORDER BY rowid`, table))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	a, b := raw("ferret"), raw("sql")
	if len(a) != len(docs) || len(b) != len(docs) {
		t.Fatalf("stored %d and %d documents, want %d", len(a), len(b), len(docs))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("document %d:\nFerretDB stored %s\nInsertDocs stored %s", i, a[i], b[i])
		}
	}
	// And FerretDB reads them back as it reads its own.
	var got bson.D
	if err := sql.FindOne(ctx, bson.D{{Key: "_id", Value: "k4"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got[1].Key != "emails" || !reflect.DeepEqual(got[1].Value, bson.A{"a@x.io", "b@x.io"}) {
		t.Fatalf("read back %v", got)
	}

	// Existing _ids are reported, the others written.
	existed, ok, err = ix.InsertDocs(ctx, db, sql.Name(), []string{"k2", "k6"}, []map[string]any{{"x": "again"}, {"x": "new"}})
	if err != nil || !ok {
		t.Fatalf("InsertDocs: ok %v, %v", ok, err)
	}
	if !existed[0] || existed[1] {
		t.Fatalf("existed = %v, want [true false]", existed)
	}
	if n, _ := sql.CountDocuments(ctx, bson.D{}); n != int64(len(docs)+1) {
		t.Fatalf("%d documents, want %d", n, len(docs)+1)
	}

	// What it does not encode is not written at all.
	for _, bad := range []map[string]any{
		{"nested": map[string]any{"a": "b"}},
		{"matrix": []any{[]any{1.0}}},
		{"a.b": "dotted"},
		{"$x": "dollar"},
		{"n": 5}, // a Go int: the driver picks its width
		{"bad": "\xff"},
	} {
		_, ok, err := ix.InsertDocs(ctx, db, sql.Name(), []string{"fresh", "fresh2"}, []map[string]any{{"x": "y"}, bad})
		if err != nil || ok {
			t.Errorf("%v: ok %v, err %v; want not handled", bad, ok, err)
		}
	}
	if n, _ := sql.CountDocuments(ctx, bson.D{{Key: "_id", Value: "fresh"}}); n != 0 {
		t.Fatal("a refused batch wrote a document")
	}
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// BenchmarkInserts compares FerretDB's InsertMany with InsertDocs, 1,000
// records of the shape Intake writes an operation.
func BenchmarkInserts(b *testing.B) {
	ix, db := startFastPath(b, "ferretdb", "insertdocs")
	ctx := context.Background()
	batch := func(op int) (ids []string, docs []map[string]any) {
		now := time.Now().UTC()
		for i := range 1000 {
			id := fmt.Sprintf("email:p%d.%d@example.com", op, i)
			ids = append(ids, id)
			docs = append(docs, map[string]any{"email": id[6:], "first_name": "Person", "last_name": fmt.Sprint(i), "phone": "+4712345678",
				"company": "Acme", "city": "Oslo", "_intake_import": "imp", "_intake_row": int32(i), "_intake_created_import": "imp", "_intake_created_row": int32(i),
				"_intake_created_at": now, "_intake_updated_at": now})
		}
		return ids, docs
	}
	for _, name := range []string{"ferretdb", "insertdocs"} {
		c := db.Collection(name)
		next := 0
		b.Run(name, func(b *testing.B) {
			for range b.N {
				next++
				ids, docs := batch(next)
				if name == "insertdocs" {
					if _, ok, err := ix.InsertDocs(ctx, db, name, ids, docs); err != nil || !ok {
						b.Fatal(ok, err)
					}
					continue
				}
				bd := make([]any, len(docs))
				for i, d := range docs {
					m := bson.M{"_id": ids[i]}
					for k, v := range d {
						m[k] = v
					}
					bd[i] = m
				}
				if _, err := c.InsertMany(ctx, bd, options.InsertMany().SetOrdered(false)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFindByIDs reads 500 records of the shape Intake writes.
func BenchmarkFindByIDs(b *testing.B) {
	ix, db := startFastPath(b)
	ctx := context.Background()
	var ids []string
	var docs []map[string]any
	now := time.Now().UTC()
	for i := range 20_000 {
		id := fmt.Sprintf("email:user%d@example.com", i)
		ids = append(ids, id)
		docs = append(docs, map[string]any{"email": id[6:], "name": fmt.Sprintf("Person %d", i), "phone": "+12015550001",
			"company": "Company 7", "_intake_import": "imp", "_intake_row": int32(i), "_intake_created_import": "imp", "_intake_created_row": int32(i),
			"_intake_created_at": now, "_intake_updated_at": now})
	}
	if _, ok, err := ix.InsertDocs(ctx, db, "records", ids, docs); err != nil || !ok {
		b.Fatal(ok, err)
	}
	b.ResetTimer()
	for op := range b.N {
		start := op * 500 % len(ids)
		got, err := ix.FindByIDs(ctx, db, "records", ids[start:start+500])
		if err != nil || len(got) != 500 {
			b.Fatal(len(got), err)
		}
	}
}

// appendJSONString must quote every valid UTF-8 string as encoding/json
// does: FerretDB's own encoding of strings.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "Ann \"Q\" \\ <b>&</b>", "\x00\x01\b\f\n\r\t\x1f\x7f", "Zoë 日本 \U0001F600 \u2028\u2029", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			if _, ok := appendScalar(nil, s); ok {
				t.Fatalf("invalid UTF-8 %q accepted", s)
			}
			return
		}
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
	})
}

// Stop closes the SQLite connections of every fast path it handed out, so
// a fast path whose owner forgot to close it keeps no file open.
func TestStopClosesFastPaths(t *testing.T) {
	f, err := StartFerret(t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := connect(t, f.URI())
	defer func() { _ = client.Disconnect(context.Background()) }()
	db := client.Database("t")
	ctx := context.Background()
	fp := f.FastPath()
	if _, _, err := fp.InsertDocs(ctx, db, "records", []string{"a"}, []map[string]any{{"name": "Ann"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fp.FindByIDs(ctx, db, "records", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	var conns []*sql.DB
	for _, c := range fp.readers {
		conns = append(conns, c)
	}
	for _, c := range fp.writers {
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		t.Fatal("the fast path opened no SQLite connection")
	}
	f.Stop()
	for _, c := range conns {
		if err := c.PingContext(ctx); err == nil {
			t.Error("a SQLite connection still answers after Stop")
		}
	}
	fp.Close() // closing again is harmless
}
