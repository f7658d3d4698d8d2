// Package ingest is the HTTP edge of Intake: it streams uploaded files into
// chunks of raw rows on intake.rows, and serves the read API (import
// summaries, row errors) and health endpoints.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/clientip"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/subjects"
)

// Config tunes the edge.
type Config struct {
	HTTPAddr string // listen address, e.g. 127.0.0.1:8080
	// Limits are the per-tenant limits; nil: MaxUploadBytes and MaxRows for
	// everyone and no limit on concurrent imports.
	Limits *limits.Table
	// Auth authenticates requests; nil runs open: every request acts for
	// tenant "default" with every capability (only allowed on loopback).
	Auth           *auth.Authenticator
	ChunkSize      int           // rows per message on intake.rows
	MaxUploadBytes int64         // larger uploads are refused with 413
	MaxRows        int           // rows per file; more ends the import failed with 422
	MaxWait        time.Duration // longest ?wait= a client may ask for
	ShutdownGrace  time.Duration // how long in-flight requests may finish on shutdown
	TempDir        string        // where XLSX uploads are spooled while read ("" = the system's)
	// Listening, if set, is told the bound address (useful with port 0).
	Listening func(addr string)
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (for the failed-login limiter and logs); from others it is ignored.
	TrustedProxies []netip.Prefix
	// Mount, if set, adds routes beside the native API (the compatibility
	// endpoints), on the same server and middleware.
	Mount func(r chi.Router, a *API)
}

// Defaults of Config (and of `intake serve`'s flags).
const (
	DefaultHTTPAddr       = "127.0.0.1:8080"
	DefaultChunkSize      = 500
	DefaultMaxUploadBytes = 1 << 30
	DefaultMaxRows        = 10_000_000
)

// Defaults fills unset fields.
func (c Config) Defaults() Config {
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.MaxRows == 0 {
		c.MaxRows = DefaultMaxRows
	}
	if c.MaxWait == 0 {
		c.MaxWait = 60 * time.Second
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	return c
}

// Run serves HTTP until ctx ends, then lets in-flight requests finish.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	cfg = cfg.Defaults()
	h := New(cfg, d)
	return Serve(ctx, cfg.HTTPAddr, h.routes(), cfg.ShutdownGrace, cfg.Listening, h.log)
}

// New builds the import API.
func New(cfg Config, d platform.Deps) *API {
	cfg = cfg.Defaults()
	a := &API{cfg: cfg, d: d, log: d.Log.With(zap.String("component", "ingest"))}
	a.imports = imports.New(imports.Deps{Store: d.Store, JS: d.JS, NC: d.NC, Schemas: d.Schemas, Metrics: d.Metrics, Log: a.log},
		imports.Config{ChunkSize: cfg.ChunkSize, TempDir: cfg.TempDir, Limits: a.limitsFor})
	a.streams = newStreamHub(d.NC, a.imports.Progress, func(ctx context.Context, tenant, id string) (ImportView, bool, error) {
		return a.Summary(ctx, tenant, id, imports.DefaultErrorLimit)
	}, d.Metrics, a.log)
	return a
}

// Serve runs an HTTP server with sane timeouts until ctx ends.
func Serve(ctx context.Context, addr string, handler http.Handler, grace time.Duration, listening func(string), log *zap.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{
		// A body that stops arriving for 30s is cut (408) instead of holding
		// a connection forever; whole-request timeouts would cut long uploads.
		Handler:           IdleBody(handler, 30*time.Second),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No read/write timeout: uploads of large files and ?wait= are long by design.
	}
	log.Info("http listening", zap.String("addr", ln.Addr().String()))
	if listening != nil {
		listening(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running after the grace period (a long ?wait=, a
		// profile being taken) are cut; that is the point of the grace.
		log.Warn("http requests still running at shutdown were cut", zap.String("addr", ln.Addr().String()), zap.Duration("grace", grace), zap.Error(err))
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// API is the import API: HTTP handlers, and Submit, Wait and Problems for
// protocol adapters mounted beside it. What imports do (submit, read,
// wait, replay, cancel) is the application layer's (pkg/imports); the
// handlers map requests and answers onto HTTP.
type API struct {
	cfg     Config
	d       platform.Deps
	imports *imports.Service
	log     *zap.Logger
	streams *streamHub // event streams' shared readers and per-tenant counts
}

// Router is the API's router (for tests that walk the routes).
func (a *API) Router() chi.Router { return a.routes() }

func (a *API) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(clientip.Middleware(a.cfg.TrustedProxies))
	if a.d.Metrics != nil {
		r.Use(HTTPMetrics(a.d.Metrics))
		r.Handle("/metrics", promhttp.HandlerFor(a.d.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", Ready(a.d))
	r.Route("/v1", func(r chi.Router) {
		r.Use(a.authenticate())
		write, read := a.require(auth.CapImportsWrite), a.require(auth.CapImportsRead)
		r.With(write).Post("/imports", a.createImport)
		r.With(write).Post("/imports/preview", a.previewImport)
		r.With(write).Post("/imports/{id}/replay", a.replayImport)
		r.With(write).Post("/imports/{id}/cancel", a.cancelImport)
		r.With(write).Post("/imports/{id}/undo", a.undoImport)
		r.With(write).Post("/replay", a.replayWindow)
		r.With(read).Get("/imports", a.listImports)
		r.With(read).Get("/imports/{id}", a.getImport)
		r.With(read).Get("/imports/{id}/errors", a.getErrors)
		r.With(read).Get("/imports/{id}/failed.{format}", a.getFailedRows)
		r.With(read).Get("/imports/{id}/events", a.getEvents)
		r.With(read).Get("/schemas", a.listSchemas)
		r.With(read).Get("/schemas/{name}", a.getSchema)
		r.With(read).Get("/schemas/{name}/template.{format}", a.getTemplate)
		r.With(a.require(auth.CapSchemasWrite)).Put("/schemas/{name}", a.putSchema)
		r.With(read).Get("/mappings/{name}", a.getMapping)
		r.With(a.require(auth.CapSchemasWrite)).Put("/mappings/{name}", a.putMapping)
		r.With(a.require(auth.CapSchemasWrite)).Delete("/mappings/{name}", a.deleteMapping)
		admin := a.require(auth.CapAdmin)
		r.With(admin).Post("/keys", a.createKey)
		r.With(admin).Get("/keys", a.listKeys)
		r.With(admin).Delete("/keys/{id}", a.revokeKey)
	})
	a.mountWeb(r)
	if a.cfg.Mount != nil {
		a.cfg.Mount(r, a)
	}
	return r
}

// Ready reports whether the broker and the database are reachable and the
// streams exist.
func Ready(d platform.Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		problems := map[string]string{}
		if !d.NC.IsConnected() {
			problems["nats"] = "not connected"
		} else if _, err := d.JS.Stream(ctx, subjects.StreamRows); err != nil {
			problems["streams"] = err.Error()
		}
		if err := d.Store.Ping(ctx); err != nil {
			problems["mongodb"] = err.Error()
		}
		if len(problems) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "problems": problems})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error  string `json:"error"`
	Import string `json:"import_id,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// HTTPMetrics times requests by route pattern (not raw path, so IDs do not
// explode the label set), method and status code.
func HTTPMetrics(m *metrics.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			m.HTTPRequests.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Observe(time.Since(start).Seconds())
		})
	}
}

// OpenPrincipal acts for every request without credentials when no
// credential is configured (allowed on a loopback address only: the `make
// run` experience). It may do everything but create keys (see createKey).
var openPrincipal = auth.Principal{Tenant: "default", Subject: "anonymous", Capabilities: []string{auth.CapOperator}, Method: auth.MethodOpen}

// authenticate puts the request's principal in its context.
func (a *API) authenticate() func(http.Handler) http.Handler {
	if a.cfg.Auth == nil {
		return auth.Open(openPrincipal, jsonAuthError)
	}
	return a.cfg.Auth.Middleware(jsonAuthError)
}

// Authenticate is the native API's authentication, for adapters that use the same.
func (a *API) Authenticate() func(http.Handler) http.Handler { return a.authenticate() }

func (a *API) require(c string) func(http.Handler) http.Handler {
	return auth.Require(c, jsonAuthError)
}

func jsonAuthError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	msg := err.Error()
	if status >= 500 {
		msg = "authentication is unavailable; try again"
	}
	writeError(w, status, msg)
}

// tenantOf is the tenant of an authenticated request.
func tenantOf(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.Tenant
}

// limitsFor returns a tenant's limits, filled with the server-wide ones.
func (a *API) limitsFor(tenant string) limits.Limits {
	l := a.cfg.Limits.For(tenant)
	if l.MaxUploadBytes <= 0 {
		l.MaxUploadBytes = a.cfg.MaxUploadBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = a.cfg.MaxRows
	}
	if l.MaxEventStreams <= 0 {
		l.MaxEventStreams = limits.DefaultMaxEventStreams
	}
	return l
}
