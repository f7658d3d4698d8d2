package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// FindByIDs reads the documents with the given string _ids from one
// collection in a single indexed SQL query, straight from FerretDB's SQLite
// file (read-only; SQLite's WAL lets readers run beside FerretDB's writes).
//
// Why: FerretDB answers find {_id: {$in: [...]}} by scanning the whole
// collection, so reading a chunk's existing records costs one findOne round
// trip per row (about 0.4 ms each, measured); this reads 1,000 in one query.
// Documents come back as plain JSON-decoded maps (FerretDB's "$s" type
// annotations removed; numbers as json.Number, so a date is its Unix
// milliseconds: schema.StoredDates reads it as a date). Missing ids are absent.
// SQLite drops the top-level annotation, about half of each stored text,
// before Go decodes it (7.4 against 5.3 ms for 500 records, measured).
func (x *SQLiteFastPath) FindByIDs(ctx context.Context, db *mongo.Database, coll string, ids []string) (map[string]map[string]any, error) {
	out := make(map[string]map[string]any, len(ids))
	err := x.selectByIDs(ctx, db, coll, ids, `json_remove(t._ferretdb_sjson, '$."$s"')`, func(raw string) error {
		dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
		dec.UseNumber()
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("decode a document of %s: %w", coll, err)
		}
		stripTypes(doc)
		if id, ok := doc["_id"].(string); ok {
			out[id] = doc
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExistingIDs reports which of the given string _ids a collection holds.
// It reads only the _id index (FindByIDs reads and decodes the documents).
func (x *SQLiteFastPath) ExistingIDs(ctx context.Context, db *mongo.Database, coll string, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if err := x.Ensure(ctx, db, coll); err != nil {
		return nil, err
	}
	sdb, table, err := x.reader(ctx, db.Name(), coll)
	if err != nil {
		return nil, err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT j.value FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM %q WHERE _ferretdb_sjson->'$._id' = json_quote(j.value))`, table)
	err = eachRow(ctx, sdb, q, []any{string(list)}, func(id string) error {
		out[id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", coll, err)
	}
	return out, nil
}

// selectByIDs hands each a text column (what) of the documents of coll
// with the given string _ids, in batches of one indexed query.
func (x *SQLiteFastPath) selectByIDs(ctx context.Context, db *mongo.Database, coll string, ids []string, what string, each func(string) error) error {
	if len(ids) == 0 {
		return nil
	}
	if err := x.Ensure(ctx, db, coll); err != nil {
		return err
	}
	sdb, table, err := x.reader(ctx, db.Name(), coll)
	if err != nil {
		return err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	// One parameter, the _ids as a JSON array: a statement of hundreds of
	// parameters cost more to compile than to run (measured).
	q := fmt.Sprintf(`SELECT %s FROM json_each(?) j JOIN %q t ON t._ferretdb_sjson->'$._id' = json_quote(j.value)`, what, table)
	if err := eachRow(ctx, sdb, q, []any{string(list)}, each); err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	return nil
}

// eachRow hands each the one text column of every row of a query.
func eachRow(ctx context.Context, sdb *sql.DB, q string, args []any, each func(string) error) error {
	rows, err := sdb.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if err := each(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// stripTypes removes FerretDB's "$s" schema annotations.
func stripTypes(v any) {
	switch t := v.(type) {
	case map[string]any:
		delete(t, "$s")
		for _, e := range t {
			stripTypes(e)
		}
	case []any:
		for _, e := range t {
			stripTypes(e)
		}
	}
}

// reader returns a read-only connection to a database file and the table of a collection.
func (x *SQLiteFastPath) reader(ctx context.Context, dbName, coll string) (*sql.DB, string, error) {
	sdb, err := x.readConn(dbName)
	if err != nil {
		return nil, "", err
	}
	table, err := x.tableOf(ctx, dbName, coll)
	if err != nil {
		return nil, "", err
	}
	return sdb, table, nil
}

// readConn returns the read-only connections to a database file.
func (x *SQLiteFastPath) readConn(dbName string) (*sql.DB, error) {
	return x.conn(&x.readers, dbName, "mode=ro&_pragma=busy_timeout(30000)", 0)
}

// conn returns pool's connections to a database file, opened with the DSN
// query and at most maxOpen connections (0: no limit) on first use.
func (x *SQLiteFastPath) conn(pool *map[string]*sql.DB, dbName, query string, maxOpen int) (*sql.DB, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if *pool == nil {
		*pool = map[string]*sql.DB{}
	}
	if sdb, ok := (*pool)[dbName]; ok {
		return sdb, nil
	}
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(x.dir, dbName+".sqlite")+"?"+query)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dbName, err)
	}
	if maxOpen > 0 {
		sdb.SetMaxOpenConns(maxOpen)
	}
	(*pool)[dbName] = sdb
	return sdb, nil
}

// tableOf names the SQLite table of a collection (FerretDB's mapping).
func (x *SQLiteFastPath) tableOf(ctx context.Context, dbName, coll string) (string, error) {
	k := dbName + "\x00" + coll
	x.mu.Lock()
	table, ok := x.tables[k]
	x.mu.Unlock()
	if ok {
		return table, nil
	}
	sdb, err := x.readConn(dbName)
	if err != nil {
		return "", err
	}
	if err := sdb.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table); err != nil {
		return "", fmt.Errorf("find table of %s: %w", coll, err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tables == nil {
		x.tables = map[string]string{}
	}
	x.tables[k] = table
	return table, nil
}

// Close closes the read and write connections.
func (x *SQLiteFastPath) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, sdb := range x.readers {
		_ = sdb.Close()
	}
	for _, sdb := range x.writers {
		_ = sdb.Close()
	}
	x.readers, x.writers = nil, nil
	x.tables = nil
}
