package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/services/deduplicator"
	"github.com/intake/intake/services/ingest"
	"github.com/intake/intake/services/ingest/compat"
	"github.com/intake/intake/services/reporter"
	"github.com/intake/intake/services/upstream"
	"github.com/intake/intake/services/validator"
	"github.com/intake/intake/services/writer"
)

// A module is one service `intake serve --target` can run: its name, and
// how to run one instance of it with its own connections (d). Every module
// needs the broker, the database and the streams, which Run sets up first.
type module struct {
	name string
	// perProcess: at most one instance per process whatever --instances
	// says (ingest's HTTP listener; scale it with more processes).
	perProcess bool
	run        func(ctx context.Context, s *stack, d platform.Deps, instance int) error
}

// modules are Intake's services, in pipeline order.
func modules() []module {
	return []module{
		{name: "ingest", perProcess: true, run: runIngest},
		{name: "upstream", run: runUpstream},
		{name: "validator", run: func(ctx context.Context, s *stack, d platform.Deps, instance int) error {
			return validator.Run(ctx, validator.Config{Runner: s.cfg.Runner, Partitions: s.partitionsOf(instance)}, d)
		}},
		{name: "deduplicator", run: func(ctx context.Context, s *stack, d platform.Deps, instance int) error {
			return deduplicator.Run(ctx, deduplicator.Config{Runner: s.cfg.Runner, Partitions: s.partitionsOf(instance)}, d)
		}},
		{name: "writer", run: func(ctx context.Context, s *stack, d platform.Deps, instance int) error {
			return writer.Run(ctx, writer.Config{Runner: s.cfg.Runner, Partitions: s.partitionsOf(instance)}, d)
		}},
		{name: "reporter", run: func(ctx context.Context, s *stack, d platform.Deps, instance int) error {
			return reporter.Run(ctx, reporter.Config{Runner: s.cfg.Runner, UnsealedTimeout: s.cfg.UnsealedTimeout, Batch: s.cfg.AccountingBatch, Partitions: s.partitionsOf(instance)}, d)
		}},
		{name: "undo", run: runUndo},
		{name: "jobs", run: runJobs},
	}
}

// Services are the names of the modules, in pipeline order: the targets.
func Services() []string {
	var names []string
	for _, m := range modules() {
		names = append(names, m.name)
	}
	return names
}

// stack is what the modules share: the configuration in effect, the
// backends, and what is built once on them.
type stack struct {
	cfg     Config
	b       *backends
	log     *zap.Logger
	authn   *auth.Authenticator // nil: open (loopback only)
	schemas *catalog.Catalog
	limits  *limits.Table
	proxies []netip.Prefix
	metrics *metrics.Metrics

	// upstreamServing is closed once the first upstream instance answers
	// requests: Ready waits for it, since a request before then gets "no
	// responders" although the HTTP listener is up.
	upstreamServing chan struct{}
	readyOnce       func(addr string)
}

func runIngest(ctx context.Context, s *stack, d platform.Deps, _ int) error {
	lims := s.limits
	return ingest.Run(ctx, ingest.Config{HTTPAddr: s.cfg.HTTPAddr, ChunkSize: s.cfg.ChunkSize, MaxUploadBytes: s.cfg.MaxUploadBytes,
		MaxRows: s.cfg.MaxRows, Listening: s.readyOnce, Auth: s.authn, Limits: lims, TrustedProxies: s.proxies,
		// The five compatibility endpoints, on the same server and pipeline.
		Mount: func(r chi.Router, a *ingest.API) {
			compat.Routes(r, a, compat.Config{Auth: s.authn, Open: s.authn == nil, ListImports: compat.StoreLister(s.b.store),
				PersonsRowLimit: func(tenant string) int { return lims.For(tenant).PersonsRowLimit },
				Log:             d.Log.With(zap.String("component", "compat"))})
		}}, d)
}

func runUpstream(ctx context.Context, s *stack, d platform.Deps, instance int) error {
	ucfg := upstream.Config{Replicas: s.cfg.StreamReplicas}
	if instance == 0 {
		ucfg.Serving = func() { close(s.upstreamServing) }
	}
	return upstream.Run(ctx, ucfg, d)
}

// partitionsOf places this process's instance among all instances of its
// stage: the process's first index plus instance, of --instance-count (or,
// unset, this process's --instances).
func (s *stack) partitionsOf(instance int) partitions.Config {
	pc := s.cfg.Partitions
	pc.Index += instance
	if pc.Instances == 0 {
		pc.Instances = s.cfg.Instances
	}
	return pc
}

// deps connects one service instance to the broker.
func (s *stack) deps(name string) (platform.Deps, error) {
	nc, err := s.b.connect("intake-" + name)
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
	return platform.Deps{NC: nc, JS: js, Store: s.b.store, Schemas: s.schemas, Log: s.log.With(zap.String("service", name)), Metrics: s.metrics}, nil
}

// serve runs the selected modules, each instance on connections of its own,
// in one errgroup: the first to fail stops them all. Other targets than
// ingest still answer health checks and /metrics on --http-addr.
func (s *stack) serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	s.upstreamServing = make(chan struct{})
	if !slices.Contains(s.cfg.Targets, "upstream") {
		close(s.upstreamServing)
	}
	s.readyOnce = func(addr string) {
		if s.cfg.Ready == nil {
			return
		}
		go func() {
			select {
			case <-s.upstreamServing:
				s.cfg.Ready(Info{HTTPAddr: addr, NATSURL: s.b.natsURL, MongoURI: s.b.mongoURI, MongoDB: s.cfg.MongoDB, natsOpts: s.b.natsOpts,
					DataDir: s.b.dataDir, NATSContext: s.b.natsContext, MongoSocket: s.b.mongoSocket,
					Auth: authMode(s.cfg, slices.Contains(s.cfg.Targets, "ingest"), s.authn == nil)})
			case <-gctx.Done():
			}
		}()
	}
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for _, m := range modules() {
		if !slices.Contains(s.cfg.Targets, m.name) {
			continue
		}
		instances := s.cfg.Instances
		if m.perProcess {
			instances = 1
		}
		for i := range instances {
			name := m.name
			if instances > 1 {
				name = fmt.Sprintf("%s-%d", m.name, i+1)
			}
			d, err := s.deps(name)
			if err != nil {
				return err
			}
			conns = append(conns, d.NC)
			g.Go(func() error { return wrap(name, m.run(gctx, s, d, i)) })
		}
	}
	if !slices.Contains(s.cfg.Targets, "ingest") {
		d, err := s.deps("health")
		if err != nil {
			return err
		}
		conns = append(conns, d.NC)
		r := chi.NewRouter()
		r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
		r.Get("/readyz", ingest.Ready(d))
		r.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
		g.Go(func() error {
			return wrap("health", ingest.Serve(gctx, s.cfg.HTTPAddr, r, 5*time.Second, s.readyOnce, d.Log))
		})
	}
	if s.cfg.DebugAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		g.Go(func() error { return wrap("debug", ingest.Serve(gctx, s.cfg.DebugAddr, mux, time.Second, nil, s.log)) })
	}

	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", zap.Duration("timeout", s.cfg.ShutdownTimeout))
	select {
	case err := <-done:
		s.log.Info("stopped")
		return err
	case <-time.After(s.cfg.ShutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %s", s.cfg.ShutdownTimeout)
	}
}
