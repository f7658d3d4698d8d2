package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // also FerretDB's driver; used here for IDIndexer

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Ferret is a running in-process FerretDB on SQLite.
type Ferret struct {
	db     *ferretdb.FerretDB
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartFerret starts FerretDB with its SQLite files under dataDir/ferretdb,
// listening on listen (host:port; port 0 picks a free one).
func StartFerret(dataDir, listen string, logger *slog.Logger) (*Ferret, error) {
	dir := filepath.Join(dataDir, "ferretdb")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fr := &Ferret{db: f, dir: dir, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fr.done)
		_ = f.Run(ctx)
	}()
	return fr, nil
}

// URI is the MongoDB connection string of the embedded server.
func (f *Ferret) URI() string { return f.db.MongoDBURI() }

// Stop shuts FerretDB down and closes its SQLite files.
func (f *Ferret) Stop() {
	f.cancel()
	<-f.done
}

// IDIndexer returns the function that makes _id look-ups fast on this FerretDB.
func (f *Ferret) IDIndexer() *IDIndexer { return &IDIndexer{dir: f.dir, done: map[string]bool{}} }

// IDIndexer adds the index FerretDB v1's SQLite backend is missing.
//
// FerretDB indexes _id as `_ferretdb_sjson->"_id"` but filters by
// `_ferretdb_sjson->'$._id'`, so SQLite never uses the index: every update,
// replace and delete by _id scans the whole table (about 240 ms per statement
// at 100,000 documents, measured). An expression index matching the filter
// makes the same statement take about 0.6 ms. The index is plain SQLite; FerretDB
// neither sees nor needs to know it, and it goes away with the table.
type IDIndexer struct {
	dir     string
	mu      sync.Mutex
	done    map[string]bool
	readers map[string]*sql.DB // read-only connections by database, for FindByIDs
	writers map[string]*sql.DB // read-write connections by database, for SetFields
	tables  map[string]string  // table names by database and collection
}

// Ensure creates collection coll in db if needed and indexes its _id for
// FerretDB's own filter expression. It is idempotent and safe to call from
// several goroutines and processes.
func (x *IDIndexer) Ensure(ctx context.Context, db *mongo.Database, coll string) error {
	k := db.Name() + "\x00" + coll
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done[k] {
		return nil
	}
	if err := db.CreateCollection(ctx, coll); err != nil {
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 48 { // 48: NamespaceExists
			return fmt.Errorf("create collection %s: %w", coll, err)
		}
	}
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(x.dir, db.Name()+".sqlite")+"?_pragma=busy_timeout(30000)")
	if err != nil {
		return fmt.Errorf("open sqlite for %s: %w", coll, err)
	}
	defer sdb.Close()
	var table string
	if err := sdb.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table); err != nil {
		return fmt.Errorf("find table of %s: %w", coll, err)
	}
	if _, err := sdb.ExecContext(ctx, idIndexSQL(table)); err != nil {
		return fmt.Errorf("index _id of %s: %w", coll, err)
	}
	x.done[k] = true
	return nil
}

// Forget drops the memory of a collection that was dropped, so that a
// collection of the same name created later is indexed again.
func (x *IDIndexer) Forget(db *mongo.Database, coll string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.done, db.Name()+"\x00"+coll)
	delete(x.tables, db.Name()+"\x00"+coll)
}
