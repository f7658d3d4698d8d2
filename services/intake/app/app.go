// Package app starts Intake: the broker and database (embedded unless URLs
// are given), the streams, and the selected services in one errgroup, so a
// failure of any service stops all of them.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/clientip"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/runner"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
	"github.com/intake/intake/pkg/streams"
	"github.com/intake/intake/pkg/subjects"
	"github.com/intake/intake/schemas"
	"github.com/intake/intake/services/deduplicator"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/reporter"
	"github.com/intake/intake/services/validator"
	"github.com/intake/intake/services/writer"
)

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
	AccountingBatch   int           // accounting messages of a partition applied per summary write (0: reporter.DefaultBatch)
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
	// Partitions of the validator's, deduplicator's, writer's and reporter's streams and
	// this process's place among their instances: Index is the first of
	// its instances (--instance-index), Instances their number over all
	// processes (--instance-count; 0: this process's --instances).
	Partitions partitions.Config
	// Retention is how long finished imports' row notes and summaries
	// are kept (--notes-retention, --summary-retention).
	Retention reporter.Retention
}

// Info tells where a started Intake can be reached.
type Info struct {
	HTTPAddr string
	NATSURL  string // with credentials; empty when the embedded nats-server is reached in process only
	MongoURI string
	MongoDB  string // the database name prefix
	// What Banner shows besides the addresses.
	DataDir     string // absolute; empty when nothing is embedded
	NATSContext string // the nats CLI context with the embedded listener's credentials; empty without one
	MongoSocket string // the embedded FerretDB's Unix socket; empty on TCP or an external database
	Auth        string // AuthOpen, AuthAPIKeys, AuthKeysJWT or AuthNone
	natsOpts    []nats.Option
}

// ConnectNATS connects to Intake's NATS the way its services do: in process
// to the embedded nats-server, else to NATSURL.
func (i Info) ConnectNATS(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(i.NATSURL, append(slices.Clone(i.natsOpts), opts...)...)
}

// Default is the configuration of `intake serve` without flags. Each value
// is the owning package's constant where one exists, so every default is
// written once; the flags show these.
func Default() Config {
	return Config{
		Targets:         Services(),
		Instances:       1,
		HTTPAddr:        ingest.DefaultHTTPAddr,
		DataDir:         "./data",
		MongoDB:         "intake",
		StreamReplicas:  1,
		RowsRetention:   streams.DefaultRowsRetention,
		ChunkSize:       ingest.DefaultChunkSize,
		MaxUploadBytes:  ingest.DefaultMaxUploadBytes,
		MaxRows:         ingest.DefaultMaxRows,
		MaxConcurrent:   10,
		MaxEventStreams: limits.DefaultMaxEventStreams,
		ShutdownTimeout: 30 * time.Second,
		UnsealedTimeout: reporter.DefaultUnsealedTimeout,
		AccountingBatch: reporter.DefaultBatch,
		Retention:       reporter.Retention{Notes: reporter.DefaultNotesRetention, Summaries: reporter.DefaultSummaryRetention},
		JWTMaxLifetime:  auth.DefaultMaxLifetime,
		Runner:          runner.Config{AckWait: runner.DefaultAckWait},
		Partitions:      partitions.Config{Partitions: streams.DefaultPartitions, PinnedTTL: partitions.DefaultPinnedTTL},
	}
}

// Defaults fills the fields whose zero value means "unset" from Default, so
// that the configuration Run logs and uses is the one in effect. Every field
// with a default is filled, nested ones too, so a new default needs no line
// here; fields whose zero means something (MaxConcurrent 0: no limit) are
// left as they are, and so are those without a default (the optional
// addresses and secrets).
func (c Config) Defaults() Config {
	d := Default()
	if len(c.Targets) == 0 || slices.Contains(c.Targets, "all") {
		c.Targets = d.Targets
	}
	d.MaxConcurrent = 0 // no limit, not unset
	fillZero(reflect.ValueOf(&c).Elem(), reflect.ValueOf(d))
	return c
}

// fillZero sets every zero field of v, through nested structs, to def's.
func fillZero(v, def reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case !f.CanSet():
		case f.Kind() == reflect.Struct:
			fillZero(f, def.Field(i))
		case f.IsZero():
			f.Set(def.Field(i))
		}
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	for _, t := range c.Targets {
		if !slices.Contains(Services(), t) {
			return fmt.Errorf("unknown target %q (want all or a comma-separated list of: %s)", t, strings.Join(Services(), ", "))
		}
	}
	if c.Instances < 1 {
		return fmt.Errorf("instances must be at least 1")
	}
	if p := c.Partitions; p.Partitions < 1 || p.Partitions > MaxPartitions || p.Index < 0 || p.Instances < 0 || p.PinnedTTL < 0 {
		return fmt.Errorf("partitions must be 1 to %d, instance-index and instance-count at least 0, pinned-ttl positive", MaxPartitions)
	}
	if c.MaxRows > MaxRowsLimit {
		return fmt.Errorf("max-rows %d is above %d (the deduplicator keeps row numbers in 32 bits)", c.MaxRows, MaxRowsLimit)
	}
	if _, err := clientip.ParseCIDRs(c.TrustedProxies); err != nil {
		return err
	}
	// A summary removed while its import's opened event is still kept
	// would make the import read as processing from its events.
	if r := c.Retention.Summaries; r > 0 && r < c.RowsRetention {
		return fmt.Errorf("--summary-retention %s is shorter than --rows-retention %s: a removed import would read as processing from its events; keep summaries at least as long", r, c.RowsRetention)
	}
	return nil
}

// MaxPartitions bounds --partitions: every instance pulls every partition
// of three stages.
const MaxPartitions = 256

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
	logConfig(log, cfg)
	b, err := startBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	s, err := newSystem(ctx, cfg, b, log)
	if err != nil {
		return err
	}
	return s.serve(ctx)
}

// newSystem builds what the modules share on the backends: authentication,
// schemas, limits, the streams and the metrics.
func newSystem(ctx context.Context, cfg Config, b *backends, log *zap.Logger) (*stack, error) {
	s := &stack{cfg: cfg, b: b, log: log}
	var err error
	if s.authn, err = setupAuth(ctx, cfg, b.store, slices.Contains(cfg.Targets, "ingest"), log); err != nil {
		return nil, err
	}
	builtin, err := LoadSchemas(schemas.Entities)
	if err != nil {
		return nil, err
	}
	s.schemas = catalog.New(builtin, b.store)
	if s.proxies, err = clientip.ParseCIDRs(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	if s.limits, err = limits.Load(cfg.TenantLimitsFile, limits.Limits{MaxUploadBytes: cfg.MaxUploadBytes, MaxRows: cfg.MaxRows,
		MaxConcurrentImports: cfg.MaxConcurrent, PersonsRowLimit: 10_000, MaxEventStreams: cfg.MaxEventStreams}); err != nil {
		return nil, err
	}

	// The setup connection lives as long as the process: the metrics read
	// the consumers through it at every scrape.
	setup, err := b.connect("intake-setup")
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, setup.Close)
	setupJS, err := jetstream.New(setup)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if slices.Equal(cfg.Targets, []string{"upstream"}) {
		// The upstream service only publishes into streams the others
		// create; its NATS user need not be allowed to create them
		// (deploy/nats/accounts.conf).
		err = streams.Await(sctx, setupJS, subjects.StreamOutcomes, subjects.StreamEvents)
	} else {
		err = streams.Ensure(sctx, setupJS, streams.Config{Replicas: cfg.StreamReplicas, RowsRetention: cfg.RowsRetention, Partitions: cfg.Partitions.Partitions})
	}
	cancel()
	if err != nil {
		return nil, err
	}

	s.metrics = metrics.New()
	s.metrics.WatchConsumers(setupJS, partitionConsumers(cfg.Partitions.Partitions))
	s.cfg.Runner.Metrics = s.metrics
	return s, nil
}

// partitionConsumers are the partition consumers of the partitioned stages.
func partitionConsumers(n int) []metrics.Consumer {
	var out []metrics.Consumer
	for _, st := range []struct{ stream, durable string }{
		{subjects.StreamRows, validator.Durable}, {subjects.StreamValid, deduplicator.Durable},
		{subjects.StreamUnique, writer.Durable}, {subjects.StreamOutcomes, reporter.Durable},
	} {
		for _, name := range partitions.Consumers(st.durable, n) {
			out = append(out, metrics.Consumer{Stream: st.stream, Durable: name})
		}
	}
	return out
}

// logConfig logs the configuration in effect, secrets masked.
func logConfig(log *zap.Logger, cfg Config) {
	r := cfg.Redacted()
	log.Info("starting", zap.Strings("targets", r.Targets), zap.Int("instances", r.Instances), zap.String("http_addr", r.HTTPAddr),
		zap.String("data_dir", r.DataDir), zap.String("nats_url", r.NATSURL), zap.String("mongo_uri", r.MongoURI), zap.String("mongo_db", r.MongoDB),
		zap.Int("stream_replicas", r.StreamReplicas), zap.Duration("rows_retention", r.RowsRetention), zap.Int("chunk_size", r.ChunkSize),
		zap.Int64("max_upload_bytes", r.MaxUploadBytes), zap.Int("max_rows", r.MaxRows), zap.Duration("ack_wait", cfg.Runner.AckWait),
		zap.Duration("unsealed_timeout", r.UnsealedTimeout), zap.String("bootstrap_api_key", r.BootstrapAPIKey),
		zap.String("jwt_hs256_secret", r.JWTHS256Secret), zap.String("jwt_jwks_file", r.JWTJWKSFile))
}

func wrap(name string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
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
	if cfg.BootstrapAPIKey == "" && len(keys) > 0 && !hasOperatorKey(keys) {
		// Keys made by an open server of an older version: they work, but
		// nobody can create or revoke keys of other tenants.
		log.Warn("no operator key exists: set INTAKE_BOOTSTRAP_API_KEY (created as tenant default's operator key) and restart to manage keys")
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

// hasOperatorKey reports whether one of keys, not revoked, is an operator's.
func hasOperatorKey(keys []auth.Key) bool {
	for _, k := range keys {
		if k.RevokedAt == nil && slices.Contains(k.Capabilities, auth.CapOperator) {
			return true
		}
	}
	return false
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
