package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// IndexPeriod is how often a FerretDB that other processes reach indexes
// the collections they created (KeepIndexing).
const IndexPeriod = 200 * time.Millisecond

// KeepIndexing runs IndexCollections now and then every period until ctx
// ends. It is for a FerretDB that other processes reach (`intake ferretdb`,
// or the embedded default of an instance whose database other instances
// share): they cannot reach its SQLite files to call SQLiteFastPath.Ensure,
// and without it every find, update and delete by _id of a collection they
// created scans the whole table. A collection created between two passes
// is scanned until the next. Errors go to report, and the next pass tries
// again.
func (f *Ferret) KeepIndexing(ctx context.Context, period time.Duration, report func(error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := f.IndexCollections(ctx); err != nil && ctx.Err() == nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// IndexCollections gives every collection of this FerretDB that lacks it
// the _id index SQLiteFastPath.Ensure gives the embedded default's.
func (f *Ferret) IndexCollections(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(f.dir, "*.sqlite"))
	if err != nil {
		return err
	}
	for _, file := range files {
		if err := indexFile(ctx, file); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(file), err)
		}
	}
	return nil
}

func indexFile(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(30000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tables, err := missingTables(ctx, db)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil // FerretDB is still creating the database
		}
		return err
	}
	for _, table := range tables {
		if _, err := db.ExecContext(ctx, idIndexSQL(table)); err != nil && !strings.Contains(err.Error(), "no such table") {
			return fmt.Errorf("index _id of %s: %w", table, err)
		}
	}
	return nil
}

// idIndexSQL creates the index of a collection's table that FerretDB's own
// filter by _id can use (see SQLiteFastPath).
func idIndexSQL(table string) string {
	return fmt.Sprintf(`CREATE UNIQUE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+"_intake_id", table)
}

// missingIndexes lists the collection tables without Intake's _id index.
const missingIndexes = `SELECT c.table_name FROM _ferretdb_collections c
WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = c.table_name || '_intake_id')`

func missingTables(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, missingIndexes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}
