package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/store"
)

// backends are the broker and the database Intake runs on: embedded unless
// URLs are given, and the store on the database.
type backends struct {
	natsURL  string        // empty when the embedded nats-server is reached in process only
	natsOpts []nats.Option // how to reach the embedded nats-server in process
	mongoURI string
	// Where the embedded parts are, for the banner ("" when not embedded).
	dataDir     string
	natsContext string
	mongoSocket string
	store       *store.Store
	closers     []func() // in the order things were started; Close runs them backwards
}

// startBackends starts the embedded broker and database where no URL is
// given, connects to the database and makes the store. On an error,
// everything started so far is closed again.
func startBackends(ctx context.Context, cfg Config, log *zap.Logger) (_ *backends, err error) {
	b := &backends{natsURL: cfg.NATSURL, mongoURI: cfg.MongoURI}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.natsURL == "" {
		ns, err := embedded.StartNATS(cfg.DataDir, cfg.EmbeddedNATSAddr)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, ns.Stop)
		b.natsURL, b.natsOpts = ns.URL(), ns.ClientOptions()
		b.dataDir = absPath(cfg.DataDir)
		if b.natsURL != "" {
			b.natsContext = filepath.Join(b.dataDir, embedded.NATSContextFile)
		}
		if b.natsURL == "" {
			log.Info("embedded nats-server started, reachable in this process only", zap.String("store", cfg.DataDir))
		} else {
			log.Info("embedded nats-server started", zap.String("url", redactURLs(b.natsURL)), zap.String("store", cfg.DataDir),
				zap.String("credentials", filepath.Join(cfg.DataDir, embedded.NATSContextFile)))
		}
	}

	var fast store.FastPath = store.NoFastPath{}
	if b.mongoURI == "" {
		fr, err := embedded.StartFerret(cfg.DataDir, cfg.EmbeddedMongoAddr, slog.New(embedded.NewQuietHandler(slog.LevelError, slog.NewJSONHandler(os.Stderr, nil))))
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, fr.Stop)
		// Other instances may share this database over its socket, and
		// their collections need the _id index as this one's do.
		b.closers = append(b.closers, keepIndexing(fr, log))
		b.mongoURI = fr.URI()
		b.dataDir, b.mongoSocket = absPath(cfg.DataDir), fr.Socket()
		sqlite := fr.FastPath()
		b.closers = append(b.closers, sqlite.Close)
		fast = sqlite
		log.Info("embedded FerretDB started", zap.String("uri", b.mongoURI), zap.String("store", cfg.DataDir))
		if fr.Socket() == "" {
			log.Warn(embedded.TCPWarning, zap.String("addr", cfg.EmbeddedMongoAddr))
		}
	}

	client, err := mongo.Connect(options.Client().ApplyURI(b.mongoURI).SetAppName("intake"))
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	b.closers = append(b.closers, func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
	})
	if err := pingUntil(ctx, client, 30*time.Second); err != nil {
		return nil, err
	}
	if cfg.MongoURI != "" {
		ferret, err := store.IsFerretDB(ctx, client)
		if err != nil {
			log.Warn("could not tell whether the database is FerretDB; reading as from MongoDB", zap.Error(err))
		}
		if ferret {
			fast = store.IDLookups{}
			log.Info("the database is FerretDB: records are read by _id one at a time")
		}
	}
	b.store = store.New(client, cfg.MongoDB, fast)
	b.store.ReportRefusedIndexes(func(err error) { log.Warn("index skipped", zap.Error(err)) })
	if err := b.store.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// absPath is path made absolute, or path as it is if that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// connect opens a NATS connection named name to the broker.
func (b *backends) connect(name string) (*nats.Conn, error) {
	return connectNATS(b.natsURL, b.natsOpts, name)
}

// Close stops what startBackends started, last first.
func (b *backends) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

func connectNATS(url string, opts []nats.Option, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append(slices.Clone(opts), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", redactURLs(url), err)
	}
	return nc, nil
}

// keepIndexing runs fr.KeepIndexing until the returned func is called.
func keepIndexing(fr *embedded.Ferret, log *zap.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fr.KeepIndexing(ctx, embedded.IndexPeriod, func(err error) { log.Warn("embedded FerretDB: indexing _id", zap.Error(err)) })
	}()
	return func() {
		cancel()
		<-done
	}
}

func pingUntil(ctx context.Context, client *mongo.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := client.Ping(pctx, nil)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("mongodb not reachable: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
