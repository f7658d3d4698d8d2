package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // also FerretDB's driver; used here for SQLiteFastPath

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Ferret is a running in-process FerretDB on SQLite.
type Ferret struct {
	db     *ferretdb.FerretDB
	dir    string
	socket string // the Unix socket's absolute path; empty when on TCP
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	paths []*SQLiteFastPath // handed out by FastPath, closed by Stop
}

// MongoSocketFile is the embedded FerretDB's Unix socket in the data directory.
const MongoSocketFile = "mongodb.sock"

// maxSocketPath is the longest Unix socket path that works everywhere:
// sun_path holds 104 bytes on macOS and the BSDs (108 on Linux), with the
// terminating NUL.
const maxSocketPath = 103

var (
	// ErrNotLoopback: FerretDB has no authentication here, so it listens on
	// TCP only on a loopback address.
	ErrNotLoopback = errors.New("not a loopback address")
	// ErrSocketPathTooLong: the data directory's path leaves no room for
	// the socket's name within the limit of a Unix socket path.
	ErrSocketPathTooLong = errors.New("unix socket path too long")
)

// TCPWarning is what a FerretDB listening on TCP gives away, for the log.
const TCPWarning = "the embedded FerretDB listens on TCP without authentication: any process on this machine " +
	"can read and change every tenant's data (API keys included); leave the address empty to use the owner-only " +
	"Unix socket in the data directory"

// StartFerret starts FerretDB with its SQLite files under dataDir/ferretdb.
//
// With listen empty it listens on the Unix socket dataDir/mongodb.sock,
// reachable by the data directory's owner only (the directory is 0700, the
// socket 0600). Otherwise listen is a loopback host:port (port 0 picks a
// free one); any other address is refused (ErrNotLoopback), since this
// FerretDB has no authentication.
func StartFerret(dataDir, listen string, logger *slog.Logger) (*Ferret, error) {
	listener := ferretdb.ListenerConfig{TCP: listen}
	var socket string
	if listen == "" {
		var err error
		if socket, err = MongoSocketPath(dataDir); err != nil {
			return nil, err
		}
		listener = ferretdb.ListenerConfig{Unix: socket}
	} else if err := checkLoopback(listen); err != nil {
		return nil, err
	}
	if err := OwnerOnlyDir(dataDir); err != nil {
		return nil, err
	}
	if socket != "" {
		if err := removeStaleSocket(socket); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(dataDir, "ferretdb")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  listener,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fr := &Ferret{db: f, dir: dir, socket: socket, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fr.done)
		_ = f.Run(ctx)
	}()
	if socket != "" {
		// The socket is created with the umask's permissions; the 0700
		// directory already keeps others out, this says so on the socket too.
		if err := os.Chmod(socket, 0o600); err != nil {
			fr.Stop()
			return nil, fmt.Errorf("embedded ferretdb socket: %w", err)
		}
	}
	return fr, nil
}

// MongoSocketPath is the absolute path of the embedded FerretDB's Unix
// socket in dataDir, or ErrSocketPathTooLong.
func MongoSocketPath(dataDir string) (string, error) {
	socket, err := filepath.Abs(filepath.Join(dataDir, MongoSocketFile))
	if err != nil {
		return "", fmt.Errorf("embedded ferretdb socket: %w", err)
	}
	if len(socket) > maxSocketPath {
		return "", fmt.Errorf("embedded ferretdb: %w: %s is %d bytes, a Unix socket path may have at most %d: "+
			"use a data directory with a shorter path, or a loopback TCP address (no authentication)",
			ErrSocketPathTooLong, socket, len(socket), maxSocketPath)
	}
	return socket, nil
}

// MongoSocketURI is the connection string of a Unix socket: the driver
// takes the URL-escaped path as the host.
func MongoSocketURI(socket string) string {
	return "mongodb://" + url.PathEscape(socket) + "/"
}

// removeStaleSocket removes the socket a killed FerretDB left behind, and
// refuses to take over one that still answers.
func removeStaleSocket(socket string) error {
	fi, err := os.Lstat(socket)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded ferretdb socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("embedded ferretdb: %s exists and is not a socket", socket)
	}
	if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("embedded ferretdb: %s is in use (is another intake running on this data directory?)", socket)
	}
	if err := os.Remove(socket); err != nil {
		return fmt.Errorf("embedded ferretdb: remove stale socket: %w", err)
	}
	return nil
}

func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("embedded ferretdb listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("embedded ferretdb listen address %q: %w: it has no authentication, so it listens on TCP "+
			"only on 127.0.0.1, ::1 or localhost; leave the address empty for a Unix socket in the data directory",
			listen, ErrNotLoopback)
	}
	return nil
}

// URI is the MongoDB connection string of the embedded server.
func (f *Ferret) URI() string {
	if f.socket != "" {
		return MongoSocketURI(f.socket)
	}
	return f.db.MongoDBURI()
}

// Socket is the Unix socket's path, or "" when FerretDB listens on TCP.
func (f *Ferret) Socket() string { return f.socket }

// Stop closes the fast paths handed out (their owners should have, but a
// forgotten one would keep SQLite files open), then shuts FerretDB down and
// closes its SQLite files.
func (f *Ferret) Stop() {
	f.mu.Lock()
	paths := f.paths
	f.paths = nil
	f.mu.Unlock()
	for _, p := range paths {
		p.Close()
	}
	f.cancel()
	<-f.done
}

// FastPath returns a new store.FastPath that works on this FerretDB's SQLite
// files directly. Close it when done with it (Stop closes it too).
func (f *Ferret) FastPath() *SQLiteFastPath {
	p := &SQLiteFastPath{dir: f.dir, done: map[string]bool{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, p)
	return p
}

// SQLiteFastPath is the store.FastPath of the embedded FerretDB: it goes
// around FerretDB v1's slow paths straight to its SQLite tables. It indexes
// _id for FerretDB's own filter (Ensure, below), reads records by _id in one
// query (FindByIDs), inserts whole chunks in one transaction (InsertDocs)
// and applies same-typed $sets in one transaction (SetFields). It holds
// SQLite connections: Close it when done.
//
// The _id index: FerretDB v1's SQLite backend is missing it in a usable form.
//
// FerretDB indexes _id as `_ferretdb_sjson->"_id"` but filters by
// `_ferretdb_sjson->'$._id'`, so SQLite never uses the index: every update,
// replace and delete by _id scans the whole table (about 240 ms per statement
// at 100,000 documents, measured). An expression index matching the filter
// makes the same statement take about 0.6 ms. The index is plain SQLite; FerretDB
// neither sees nor needs to know it, and it goes away with the table.
type SQLiteFastPath struct {
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
func (x *SQLiteFastPath) Ensure(ctx context.Context, db *mongo.Database, coll string) error {
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
func (x *SQLiteFastPath) Forget(db *mongo.Database, coll string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.done, db.Name()+"\x00"+coll)
	delete(x.tables, db.Name()+"\x00"+coll)
}
