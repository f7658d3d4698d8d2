// Package imports is the application layer for imports: submitting a
// file, opening and sealing an import whose rows the caller publishes,
// reading an import's summary (also while the reporter has not yet
// seen it), waiting for it to finish, listing a tenant's imports and an
// import's problem rows, replaying and cancelling one. Every way in calls it: the HTTP API
// (services/ingest), the contract adapters through it (services/ingest/compat),
// and the NATS protocol (services/upstream), so that they answer alike.
//
// It lives in pkg, not inside one of those services, because three
// services share it and services/ holds services only; and it answers in
// pkg/client's Summary, the one read model of an import, which pkg/client
// (a library module) must define without importing the services.
package imports

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/catalog"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ledger"
	"github.com/intake/intake/pkg/limits"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// Limits of the row errors listed inside a summary; all of them are at
// GET /v1/imports/{id}/errors.
const (
	DefaultErrorLimit = 100
	MaxErrorLimit     = 1000
)

// Store is what the layer reads of the summaries the reporter keeps.
// *store.Store implements it.
type Store interface {
	FindSummary(ctx context.Context, tenant, id string) (*ledger.Summary, bool, error)
	GetSummary(ctx context.Context, tenant, id string) (*ledger.Summary, bool, error)
	ListSummaries(ctx context.Context, tenant string, limit int) ([]ledger.Summary, error)
	RowNotes(ctx context.Context, sum *ledger.Summary, result string) ([]envelope.Outcome, error)
	ChunkRowNotes(ctx context.Context, sum *ledger.Summary, chunk int, result string) ([]envelope.Outcome, error)
	RowNotesFrom(ctx context.Context, sum *ledger.Summary, result string, from store.NotePos, limit int) ([]store.NotedRow, bool, error)
	CountProcessing(ctx context.Context, tenant string) (int, error)
	GetSchema(ctx context.Context, tenant, name string) (*store.SchemaDoc, bool, error)
	MappingStore
}

var _ Store = (*store.Store)(nil)

// Schemas checks an import's options against a tenant's schemas.
// *catalog.Catalog implements it.
type Schemas interface {
	CheckOptions(ctx context.Context, tenant string, opts *envelope.Options) (*schema.Schema, error)
}

var _ Schemas = (*catalog.Catalog)(nil)

// Deps are what the layer uses. Reading needs Store (and JS, NC for
// imports not yet summarised and for Wait); submitting and replaying need
// them all (Metrics and Log may be nil).
type Deps struct {
	Store   Store
	JS      jetstream.JetStream
	NC      *nats.Conn
	Schemas Schemas
	Metrics *metrics.Metrics
	Log     *zap.Logger
}

// Config tunes submissions; the HTTP edge, which owns these settings,
// passes them with its defaults filled in.
type Config struct {
	ChunkSize int    // rows per message on intake.rows
	TempDir   string // where XLSX uploads are spooled while read ("" = the system's)
	// Limits returns a tenant's limits, filled with the server-wide ones
	// (MaxRows, MaxConcurrentImports). Submit and CheckConcurrency need it;
	// a service that only reads imports leaves Config empty.
	Limits func(tenant string) limits.Limits
}

// Service reads, submits and steers imports.
type Service struct {
	store   Store
	js      jetstream.JetStream
	nc      *nats.Conn
	schemas Schemas
	metrics *metrics.Metrics
	log     *zap.Logger
	cfg     Config
}

// New builds the layer.
func New(d Deps, cfg Config) *Service {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{store: d.Store, js: d.JS, nc: d.NC, schemas: d.Schemas, metrics: d.Metrics, log: log, cfg: cfg}
}

// FromDeps builds the layer over a service's dependencies.
func FromDeps(d platform.Deps, cfg Config) *Service {
	return New(Deps{Store: d.Store, JS: d.JS, NC: d.NC, Schemas: d.Schemas, Metrics: d.Metrics, Log: d.Log}, cfg)
}
