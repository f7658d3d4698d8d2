// Package app starts Intake: the broker and database (embedded unless URLs
// are given), the streams, and the selected services in one errgroup, so a
// failure of any service stops all of them.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/clientip"
	"github.com/intake/intake/pkg/embedded"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/schemas"
	"github.com/intake/intake/services/compat"
	"github.com/intake/intake/services/deduplicator"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/reporter"
	"github.com/intake/intake/services/upstream"
	"github.com/intake/intake/services/validator"
	"github.com/intake/intake/services/writer"
)

// Services, in pipeline order.
var Services = []string{"ingest", "upstream", "validator", "deduplicator", "writer", "reporter"}

// Config is everything `intake serve` can be told.
type Config struct {
	Targets           []string      // services to run; "all" or empty means all
	Instances         int           // instances of each selected service in this process
	HTTPAddr          string        // ingest's listen address (health and metrics for other targets)
	DataDir           string        // embedded broker and database files
	NATSURL           string        // empty: embedded nats-server
	MongoURI          string        // empty: embedded FerretDB
	MongoDB           string        // database name prefix
	EmbeddedNATSAddr  string        // where the embedded nats-server listens (with generated credentials); empty: nowhere, reached in process
	EmbeddedMongoAddr string        // loopback TCP address of the embedded FerretDB; empty: a Unix socket in DataDir
	StreamReplicas    int           // JetStream replicas (3 on a cluster)
	RowsRetention     time.Duration // raw rows kept for replay
	ChunkSize         int           // rows per message
	MaxUploadBytes    int64
	MaxRows           int
	MaxConcurrent     int    // imports processing at once per tenant (429 beyond); 0: no limit
	TenantLimitsFile  string // per-tenant overrides of the limits (JSON)
	MaxEventStreams   int    // event streams a tenant may hold open per ingest process (429 beyond); 0: limits' default
	ShutdownTimeout   time.Duration
	DebugAddr         string        // pprof listener; empty: none
	UnsealedTimeout   time.Duration // an import without progress this long is failed (0: 1h; negative: never)
	BootstrapAPIKey   string        // creates (idempotently) an admin key for tenant "default"
	JWTHS256Secret    string        // verifies HS256 bearer tokens
	JWTJWKSFile       string        // public keys verifying RS256/ES256 bearer tokens
	TrustedProxies    string        // comma-separated CIDRs whose X-Forwarded-For names the client
	JWTMaxLifetime    time.Duration // longest exp after iat a JWT may have (0: auth's default)
	JWTIssuer         string        // if set, a JWT's iss must be this
	JWTAudience       string        // if set, a JWT's aud must include this
	// Ready, if set, is called once everything is serving.
	Ready func(Info)
	// Runner is applied to every pipeline service's runner (tests use it to
	// inject faults).
	Runner runner.Config
}

// Info tells where a started Intake can be reached.
type Info struct {
	HTTPAddr string
	NATSURL  string // with credentials; empty when the embedded nats-server is reached in process only
	MongoURI string
	natsOpts []nats.Option
}

// ConnectNATS connects to Intake's NATS the way its services do: in process
// to the embedded nats-server, else to NATSURL.
func (i Info) ConnectNATS(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(i.NATSURL, append(slices.Clone(i.natsOpts), opts...)...)
}

// Defaults fills unset fields.
func (c Config) Defaults() Config {
	if len(c.Targets) == 0 || slices.Contains(c.Targets, "all") {
		c.Targets = Services
	}
	if c.Instances == 0 {
		c.Instances = 1
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.MongoDB == "" {
		c.MongoDB = "intake"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	for _, t := range c.Targets {
		if !slices.Contains(Services, t) {
			return fmt.Errorf("unknown target %q (want all or a comma-separated list of: %s)", t, strings.Join(Services, ", "))
		}
	}
	if c.Instances < 1 {
		return fmt.Errorf("instances must be at least 1")
	}
	if c.MaxRows > MaxRowsLimit {
		return fmt.Errorf("max-rows %d is above %d (the deduplicator keeps row numbers in 32 bits)", c.MaxRows, MaxRowsLimit)
	}
	if _, err := clientip.ParseCIDRs(c.TrustedProxies); err != nil {
		return err
	}
	return nil
}

// MaxRowsLimit bounds --max-rows.
const MaxRowsLimit = 1_000_000_000

// Redacted is the configuration as it may be logged: no passwords.
func (c Config) Redacted() Config {
	c.NATSURL = redactURLs(c.NATSURL)
	c.MongoURI = redactURLs(c.MongoURI)
	c.Ready = nil
	c.Runner = runner.Config{}
	c.BootstrapAPIKey = mask(c.BootstrapAPIKey)
	c.JWTHS256Secret = mask(c.JWTHS256Secret)
	return c
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "xxxxx"
}

func redactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// Run starts Intake and runs until ctx ends, then shuts down gracefully:
// services stop taking work, in-flight chunks finish or are handed back for
// redelivery, and only then are the database and broker closed.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	r := cfg.Redacted()
	log.Info("starting", zap.Strings("targets", r.Targets), zap.Int("instances", r.Instances), zap.String("http_addr", r.HTTPAddr),
		zap.String("data_dir", r.DataDir), zap.String("nats_url", r.NATSURL), zap.String("mongo_uri", r.MongoURI), zap.String("mongo_db", r.MongoDB),
		zap.Int("stream_replicas", r.StreamReplicas), zap.Duration("rows_retention", r.RowsRetention), zap.Int("chunk_size", r.ChunkSize),
		zap.Int64("max_upload_bytes", r.MaxUploadBytes), zap.Int("max_rows", r.MaxRows), zap.Duration("ack_wait", r.Runner.AckWait),
		zap.Duration("unsealed_timeout", r.UnsealedTimeout), zap.String("bootstrap_api_key", r.BootstrapAPIKey),
		zap.String("jwt_hs256_secret", r.JWTHS256Secret), zap.String("jwt_jwks_file", r.JWTJWKSFile))

	natsURL := cfg.NATSURL
	var natsOpts []nats.Option // how to reach the embedded nats-server in process
	if natsURL == "" {
		ns, err := embedded.StartNATS(cfg.DataDir, cfg.EmbeddedNATSAddr)
		if err != nil {
			return err
		}
		defer ns.Stop()
		natsURL, natsOpts = ns.URL(), ns.ClientOptions()
		if natsURL == "" {
			log.Info("embedded nats-server started, reachable in this process only", zap.String("store", cfg.DataDir))
		} else {
			log.Info("embedded nats-server started", zap.String("url", redactURLs(natsURL)), zap.String("store", cfg.DataDir),
				zap.String("credentials", filepath.Join(cfg.DataDir, embedded.NATSContextFile)))
		}
	}

	mongoURI := cfg.MongoURI
	var fast store.FastPath = store.NoFastPath{}
	if mongoURI == "" {
		fr, err := embedded.StartFerret(cfg.DataDir, cfg.EmbeddedMongoAddr, slog.New(embedded.NewQuietHandler(slog.LevelError, slog.NewJSONHandler(os.Stderr, nil))))
		if err != nil {
			return err
		}
		defer fr.Stop()
		mongoURI = fr.URI()
		sqlite := fr.FastPath()
		defer sqlite.Close() // its SQLite connections; runs before fr.Stop
		fast = sqlite
		log.Info("embedded FerretDB started", zap.String("uri", mongoURI), zap.String("store", cfg.DataDir))
		if fr.Socket() == "" {
			log.Warn(embedded.TCPWarning, zap.String("addr", cfg.EmbeddedMongoAddr))
		}
	}

	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI).SetAppName("intake"))
	if err != nil {
		return fmt.Errorf("mongodb: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
	}()
	if err := pingUntil(ctx, client, 30*time.Second); err != nil {
		return err
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
	st := store.New(client, cfg.MongoDB, fast)

	authn, err := setupAuth(ctx, cfg, st, slices.Contains(cfg.Targets, "ingest"), log)
	if err != nil {
		return err
	}

	builtin, err := LoadSchemas(schemas.Entities)
	if err != nil {
		return err
	}
	reg := catalog.New(builtin, st)
	proxies, err := clientip.ParseCIDRs(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	lims, err := limits.Load(cfg.TenantLimitsFile, limits.Limits{MaxUploadBytes: cfg.MaxUploadBytes, MaxRows: cfg.MaxRows,
		MaxConcurrentImports: cfg.MaxConcurrent, PersonsRowLimit: 10_000, MaxEventStreams: cfg.MaxEventStreams})
	if err != nil {
		return err
	}

	setup, err := connectNATS(natsURL, natsOpts, "intake-setup")
	if err != nil {
		return err
	}
	defer setup.Close()
	setupJS, err := jetstream.New(setup)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if slices.Equal(cfg.Targets, []string{"upstream"}) {
		// The upstream service only publishes into streams the others
		// create; its NATS user need not be allowed to create them
		// (deploy/nats/accounts.conf).
		err = streams.Await(sctx, setupJS, subjects.StreamOutcomes, subjects.StreamEvents)
	} else {
		err = streams.Ensure(sctx, setupJS, streams.Config{Replicas: cfg.StreamReplicas, RowsRetention: cfg.RowsRetention})
	}
	cancel()
	if err != nil {
		return err
	}

	mx := metrics.New()
	mx.WatchConsumers(setupJS, []metrics.Consumer{
		{Stream: subjects.StreamRows, Durable: validator.Durable},
		{Stream: subjects.StreamValid, Durable: deduplicator.Durable},
		{Stream: subjects.StreamUnique, Durable: writer.Durable},
		{Stream: subjects.StreamOutcomes, Durable: reporter.Durable},
	})
	cfg.Runner.Metrics = mx

	g, gctx := errgroup.WithContext(ctx)
	depsFor := func(name string) (platform.Deps, error) {
		nc, err := connectNATS(natsURL, natsOpts, "intake-"+name)
		if err != nil {
			return platform.Deps{}, err
		}
		// An acknowledgement that never comes (the stream's leader died with
		// the message) would hold its slot of the 1024 for good; after the
		// timeout the slot is freed (runner.PublishAll has sent the message
		// again by then).
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024), jetstream.WithPublishAsyncTimeout(30*time.Second))
		if err != nil {
			nc.Close()
			return platform.Deps{}, fmt.Errorf("jetstream: %w", err)
		}
		return platform.Deps{NC: nc, JS: js, Store: st, Schemas: reg, Log: log.With(zap.String("service", name)), Metrics: mx}, nil
	}
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()

	// Ready waits for the upstream API too: its requests get "no responders"
	// until it has subscribed, which is after the HTTP listener is up.
	upstreamServing := make(chan struct{})
	if !slices.Contains(cfg.Targets, "upstream") {
		close(upstreamServing)
	}
	ready := func(addr string) {
		if cfg.Ready == nil {
			return
		}
		go func() {
			select {
			case <-upstreamServing:
				cfg.Ready(Info{HTTPAddr: addr, NATSURL: natsURL, MongoURI: mongoURI, natsOpts: natsOpts})
			case <-gctx.Done():
			}
		}()
	}
	for _, target := range cfg.Targets {
		for i := 0; i < cfg.Instances; i++ {
			name := target
			if cfg.Instances > 1 {
				name = fmt.Sprintf("%s-%d", target, i+1)
			}
			d, err := depsFor(name)
			if err != nil {
				return err
			}
			conns = append(conns, d.NC)
			switch target {
			case "ingest":
				if i > 0 {
					continue // one HTTP listener per process; scale ingest with more processes
				}
				icfg := ingest.Config{HTTPAddr: cfg.HTTPAddr, ChunkSize: cfg.ChunkSize, MaxUploadBytes: cfg.MaxUploadBytes, MaxRows: cfg.MaxRows, Listening: ready, Auth: authn, Limits: lims,
					TrustedProxies: proxies,
					// The five compatibility endpoints, on the same server and pipeline.
					Mount: func(r chi.Router, a *ingest.API) {
						compat.Routes(r, a, compat.Config{Auth: authn, Open: authn == nil, ListImports: compat.StoreLister(st),
							PersonsRowLimit: func(tenant string) int { return lims.For(tenant).PersonsRowLimit },
							Log:             d.Log.With(zap.String("component", "compat"))})
					}}
				g.Go(func() error { return wrap(name, ingest.Run(gctx, icfg, d)) })
			case "validator":
				g.Go(func() error { return wrap(name, validator.Run(gctx, validator.Config{Runner: cfg.Runner}, d)) })
			case "deduplicator":
				g.Go(func() error { return wrap(name, deduplicator.Run(gctx, deduplicator.Config{Runner: cfg.Runner}, d)) })
			case "writer":
				g.Go(func() error { return wrap(name, writer.Run(gctx, writer.Config{Runner: cfg.Runner}, d)) })
			case "reporter":
				g.Go(func() error {
					return wrap(name, reporter.Run(gctx, reporter.Config{Runner: cfg.Runner, UnsealedTimeout: cfg.UnsealedTimeout}, d))
				})
			case "upstream":
				ucfg := upstream.Config{Replicas: cfg.StreamReplicas}
				if i == 0 {
					ucfg.Serving = func() { close(upstreamServing) }
				}
				g.Go(func() error { return wrap(name, upstream.Run(gctx, ucfg, d)) })
			}
		}
	}
	if !slices.Contains(cfg.Targets, "ingest") {
		// Other targets still answer health checks.
		d, err := depsFor("health")
		if err != nil {
			return err
		}
		conns = append(conns, d.NC)
		r := chi.NewRouter()
		r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
		r.Get("/readyz", ingest.Ready(d))
		r.Handle("/metrics", promhttp.HandlerFor(mx.Registry, promhttp.HandlerOpts{}))
		g.Go(func() error { return wrap("health", ingest.Serve(gctx, cfg.HTTPAddr, r, 5*time.Second, ready, d.Log)) })
	}

	if cfg.DebugAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		g.Go(func() error { return wrap("debug", ingest.Serve(gctx, cfg.DebugAddr, mux, time.Second, nil, log)) })
	}

	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	select {
	case err := <-done:
		log.Info("stopped")
		return err
	case <-time.After(cfg.ShutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %s", cfg.ShutdownTimeout)
	}
}

func wrap(name string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

func connectNATS(url string, opts []nats.Option, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append(slices.Clone(opts), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", redactURLs(url), err)
	}
	return nc, nil
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

// LoadSchemas reads every entities/*.json schema of fsys.
func LoadSchemas(fsys fs.FS) (*schema.Registry, error) {
	reg := schema.NewRegistry()
	files, err := fs.Glob(fsys, "entities/*.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		s, err := schema.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		reg.Put(s)
	}
	return reg, nil
}

// setupAuth builds the authenticator. With no credential configured at all
// (no bootstrap key, no JWT key, no API key in the database) Intake runs
// open, and only on a loopback address.
func setupAuth(ctx context.Context, cfg Config, st *store.Store, servesAPI bool, log *zap.Logger) (*auth.Authenticator, error) {
	if cfg.BootstrapAPIKey != "" {
		if _, err := st.EnsureBootstrapKey(ctx, cfg.BootstrapAPIKey); err != nil {
			return nil, fmt.Errorf("bootstrap API key: %w", err)
		}
	}
	keys, err := st.ListKeys(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	if cfg.JWTHS256Secret == "" && cfg.JWTJWKSFile == "" && len(keys) == 0 {
		if !servesAPI {
			return nil, nil // health and metrics only
		}
		if !isLoopback(cfg.HTTPAddr) {
			return nil, fmt.Errorf("no credential is configured and --http-addr %s is not a loopback address: "+
				"set INTAKE_BOOTSTRAP_API_KEY (an admin key for tenant default), INTAKE_JWT_HS256_SECRET or INTAKE_JWT_JWKS_FILE, "+
				"or listen on 127.0.0.1", cfg.HTTPAddr)
		}
		log.Warn("no credential configured: the API is open to anyone on this machine (tenant default); " +
			"set INTAKE_BOOTSTRAP_API_KEY to require API keys")
		return nil, nil
	}
	a, err := auth.New(auth.Config{HS256Secret: []byte(cfg.JWTHS256Secret), JWKSFile: cfg.JWTJWKSFile,
		MaxLifetime: cfg.JWTMaxLifetime, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		OnBlock: func(client string, d time.Duration) {
			// client is the forwarded address behind a trusted proxy (--trusted-proxies).
			log.Warn("authentication: client blocked after repeated failures", zap.String("client", client), zap.Duration("for", d))
		}}, st)
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	return a, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
