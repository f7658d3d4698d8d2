// Package upstream serves the NATS protocol through which upstream systems
// publish imports without HTTP (docs/upstream.md): request-reply on
// intake.api.v1.<tenant>.open, .seal and .summary. Rows do not pass through
// this service: publishers send row chunks straight to
// intake.rows.<tenant>.<import>, where the validator consumes them as it
// consumes the chunks of an HTTP upload. This service only announces the
// import (the same opened accounting message and event as an upload),
// seals it with the publisher's row count, and reads summaries.
//
// It is a NATS micro service ("intake-upstream") whose endpoints share a
// queue group, so any number of instances split the requests.
package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/ids"
	"github.com/intake/intake/pkg/imports"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/partitions"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/subjects"
)

// IdempotencyBucket is the JetStream key-value bucket that maps idempotency
// keys to imports.
const IdempotencyBucket = "INTAKE_IDEMPOTENCY"

// QueueGroup is the default queue group of the endpoints.
const QueueGroup = "intake-upstream"

// Config tunes the service.
type Config struct {
	// IdempotencyTTL is how long an idempotency key names its import (default 24h).
	IdempotencyTTL time.Duration
	// Replicas of the idempotency bucket (default 1; 3 on a cluster, like --stream-replicas).
	Replicas int
	// QueueGroup shared by all instances (default "intake-upstream").
	QueueGroup string
	// MaxConcurrent bounds the requests one instance handles at once (default 32).
	MaxConcurrent int
	// RequestTimeout bounds the work on one request (default 30s).
	RequestTimeout time.Duration
	// DefaultSource is an import's source when the open request names none (default "nats").
	DefaultSource string
	// Serving, if set, is called once the endpoints answer requests.
	Serving func()
}

func (c Config) withDefaults() Config {
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.QueueGroup == "" {
		c.QueueGroup = QueueGroup
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 32
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.DefaultSource == "" {
		c.DefaultSource = "nats"
	}
	return c
}

// Run serves the protocol until ctx ends; requests being handled then are
// finished.
func Run(ctx context.Context, cfg Config, d platform.Deps) error {
	cfg = cfg.withDefaults()
	kv, err := ensureBucket(ctx, d.JS, cfg)
	if err != nil {
		return err
	}
	s := &service{cfg: cfg, d: d, imports: imports.FromDeps(d, imports.Config{}), kv: kv, log: d.Log.With(zap.String("component", "upstream")), sem: make(chan struct{}, cfg.MaxConcurrent)}
	svc, err := micro.AddService(d.NC, micro.Config{
		Name:        "intake-upstream",
		Version:     "1.0.0",
		Description: "Intake upstream protocol: open, seal and read imports whose rows are published to intake.rows.<tenant>.<import>",
		QueueGroup:  cfg.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	for _, ep := range []struct {
		op string
		h  func(context.Context, string, []byte) (any, error)
	}{{client.OpOpen, s.open}, {client.OpSeal, s.seal}, {client.OpSummary, s.summary}} {
		if err := svc.AddEndpoint(ep.op, s.handler(ctx, ep.h), micro.WithEndpointSubject(client.APISubject("*", ep.op))); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("upstream: endpoint %s: %w", ep.op, err)
		}
	}
	// The endpoints' subscriptions are sent in the background: a round trip
	// makes sure the server has them before anyone is told we serve (a
	// request right after that once got "no responders").
	if err := d.NC.FlushTimeout(10 * time.Second); err != nil {
		_ = svc.Stop()
		return fmt.Errorf("upstream: flush subscriptions: %w", err)
	}
	s.log.Info("serving", zap.String("subjects", client.APIPrefix+".<tenant>.{open,seal,summary}"), zap.String("queue_group", cfg.QueueGroup))
	if cfg.Serving != nil {
		cfg.Serving()
	}
	<-ctx.Done()
	err = svc.Stop() // drains: no new requests
	s.wg.Wait()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("upstream: stop: %w", err)
	}
	return nil
}

// ensureBucket creates or updates the idempotency bucket; two instances
// starting together may race, the loser tries again.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	kc := jetstream.KeyValueConfig{
		Bucket:      IdempotencyBucket,
		Description: "Intake upstream: idempotency key -> import (tenant.<base64url key>)",
		TTL:         cfg.IdempotencyTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		History:     1,
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var kv jetstream.KeyValue
		if kv, err = js.CreateOrUpdateKeyValue(ctx, kc); err == nil {
			return kv, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	return nil, fmt.Errorf("upstream: key-value bucket %s: %w", IdempotencyBucket, err)
}

type service struct {
	cfg     Config
	d       platform.Deps
	imports *imports.Service // reads summaries as the HTTP API does
	kv      jetstream.KeyValue
	log     *zap.Logger
	sem     chan struct{}
	wg      sync.WaitGroup
}

// reqError is a request that cannot be served, with its code.
type reqError struct {
	code int
	msg  string
}

func (e *reqError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &reqError{code: client.CodeBadRequest, msg: fmt.Sprintf(format, args...)}
}

// handler runs h on a goroutine of its own, at most MaxConcurrent at once
// (the subscription waits while all are busy), and answers with its reply
// or error. The answer is published to the request's reply subject directly
// rather than through micro.Request, which may not be used once the handler
// has returned (micro's statistics then count requests but not errors).
func (s *service) handler(ctx context.Context, h func(context.Context, string, []byte) (any, error)) micro.HandlerFunc {
	return func(req micro.Request) {
		subject, reply, data := req.Subject(), req.Reply(), req.Data()
		if tenant := tenantOf(subject); !replyAllowed(tenant, reply) {
			// Answering would publish Intake's words wherever the requester
			// pointed: another tenant's inbox, or a subject a stream stores
			// (the idempotency bucket's $KV...). Nobody safe to tell.
			s.log.Warn("request refused: its reply subject is not the tenant's inbox",
				zap.String("subject", subject), zap.String("tenant", tenant), zap.String("reply", reply))
			if s.d.Metrics != nil {
				s.d.Metrics.UpstreamRefusedReplies.Inc()
			}
			return
		}
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
			defer cancel()
			tenant := tenantOf(subject)
			var (
				rep any
				err = ids.ValidTenant(tenant)
			)
			if err != nil {
				err = badRequest("%v", err)
			} else {
				rep, err = s.call(hctx, h, tenant, data)
			}
			s.respond(subject, reply, tenant, rep, err)
		}()
	}
}

// call runs a request's handler on its own goroutine; a panic there would
// end the whole process (every service of it), so it is recovered, logged
// with the stack, counted and answered as a failure of this request.
func (s *service) call(ctx context.Context, h func(context.Context, string, []byte) (any, error), tenant string, data []byte) (rep any, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("request handler panicked", zap.Any("panic", v), zap.String("tenant", tenant), zap.ByteString("stack", debug.Stack()))
			if s.d.Metrics != nil {
				s.d.Metrics.Panics.WithLabelValues("upstream").Inc()
			}
			rep, err = nil, fmt.Errorf("the upstream service crashed on this request: panic: %v", v)
		}
	}()
	return h(ctx, tenant, data)
}

func (s *service) respond(subject, reply, tenant string, rep any, err error) {
	if reply == "" {
		return // a publish, not a request: nobody to tell
	}
	m := nats.NewMsg(reply)
	if err != nil {
		re := &reqError{}
		if !errors.As(err, &re) {
			re = &reqError{code: client.CodeUnavailable, msg: err.Error()}
			s.log.Error("request failed", zap.String("subject", subject), zap.String("tenant", tenant), zap.Error(err))
		}
		m.Data, _ = json.Marshal(client.ErrorReply{Error: re.msg, Code: re.code})
		m.Header.Set(client.HeaderErrorCode, strconv.Itoa(re.code))
		// Header values cannot hold line breaks.
		m.Header.Set(client.HeaderError, strings.NewReplacer("\r", " ", "\n", " ").Replace(re.msg))
	} else if m.Data, err = json.Marshal(rep); err != nil {
		s.log.Error("cannot encode the reply", zap.String("subject", subject), zap.Error(err))
		return
	}
	if err := s.d.NC.PublishMsg(m); err != nil {
		s.log.Warn("cannot reply", zap.String("subject", subject), zap.Error(err))
	}
}

// tenantOf returns the <tenant> token of intake.api.v1.<tenant>.<op>.
func tenantOf(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// decode reads a request strictly: unknown fields are errors, so that a
// misspelt option is not silently ignored.
func decode(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed request: %v", err)
	}
	if dec.More() {
		return badRequest("malformed request: data after the JSON object")
	}
	return nil
}

// decodeNaming decodes a request that names an import (seal, summary) and
// checks the import ID it decoded into id.
func decodeNaming(data []byte, v any, id *string) error {
	if err := decode(data, v); err != nil {
		return err
	}
	if err := ids.ValidImport(*id); err != nil {
		return badRequest("id: %v", err)
	}
	return nil
}

// --- open ---

// idemRecord is what the idempotency bucket holds for a key.
type idemRecord struct {
	ID      string               `json:"id"`
	Options client.ImportOptions `json:"options"`
	Source  string               `json:"source"`
	// Mapping is how the open's header maps (nil without a header).
	Mapping *mapping.Report `json:"mapping,omitempty"`
	// RowsSecret goes into the rows' message IDs (subjects.RowsPrefix); an
	// open with the same key answers the same one.
	RowsSecret string `json:"rows_secret"`
	// Opened is set once the opened message is stored; until then an open with
	// the same key publishes it again (same message IDs, so it is stored once).
	Opened bool `json:"opened"`
}

const (
	maxIdempotencyKey = 256
	maxSource         = 1024
)

func (s *service) open(ctx context.Context, tenant string, data []byte) (any, error) {
	var req client.OpenRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if req.Tenant != "" && req.Tenant != tenant {
		return nil, badRequest("tenant %q in the request does not match the subject's tenant %q", req.Tenant, tenant)
	}
	eopts := envelope.Options{Schema: req.Schema, Mode: req.Mode, Key: req.Key, DryRun: req.DryRun, Mapping: req.Mapping, DateFormat: req.DateFormat}
	report, err := s.imports.CheckOpen(ctx, tenant, &eopts, req.Header)
	if err != nil {
		return nil, fromLayer(err)
	}
	opts := client.ImportOptions{Schema: eopts.Schema, Mode: eopts.Mode, Key: eopts.Key, DryRun: eopts.DryRun, Mapping: eopts.Mapping, DateFormat: eopts.DateFormat}
	source := req.Source
	if source == "" {
		source = s.cfg.DefaultSource
	}
	if len(source) > maxSource {
		return nil, badRequest("source: longer than %d bytes", maxSource)
	}
	if req.IdempotencyKey == "" {
		id := partitions.NewImport(ctx, s.d.JS, tenant)
		if err := s.announce(ctx, tenant, id, opts, source, report); err != nil {
			return nil, err
		}
		s.started(tenant, id, opts, source, false)
		return openReply(tenant, id, ids.NewSecret(), opts, false), nil
	}
	if len(req.IdempotencyKey) > maxIdempotencyKey {
		return nil, badRequest("idempotency_key: longer than %d bytes", maxIdempotencyKey)
	}
	return s.openIdempotent(ctx, tenant, idemKey(tenant, req.IdempotencyKey), opts, source, report)
}

// idemKey is the bucket key of a tenant's idempotency key: base64url keeps
// any key within the characters NATS keys allow, and different keys apart.
func idemKey(tenant, key string) string {
	return tenant + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func (s *service) openIdempotent(ctx context.Context, tenant, key string, opts client.ImportOptions, source string, report *mapping.Report) (any, error) {
	rec := idemRecord{ID: partitions.NewImport(ctx, s.d.JS, tenant), Options: opts, Source: source, RowsSecret: ids.NewSecret(), Mapping: report}
	val, _ := json.Marshal(rec)
	rev, err := s.kv.Create(ctx, key, val)
	existing := false
	if errors.Is(err, jetstream.ErrKeyExists) {
		entry, gerr := s.kv.Get(ctx, key)
		if gerr != nil {
			return nil, fmt.Errorf("read idempotency key: %w", gerr)
		}
		if err := json.Unmarshal(entry.Value(), &rec); err != nil || rec.ID == "" {
			return nil, fmt.Errorf("idempotency key %s holds %q: %v", key, entry.Value(), err)
		}
		if !reflect.DeepEqual(rec.Options, opts) || rec.Source != source {
			return nil, &reqError{code: client.CodeConflict, msg: fmt.Sprintf(
				"idempotency key already used for import %s with other options (schema %s, mode %s, key %s, dry_run %v, source %q)",
				rec.ID, rec.Options.Schema, rec.Options.Mode, rec.Options.Key, rec.Options.DryRun, rec.Source)}
		}
		existing, rev = true, entry.Revision()
	} else if err != nil {
		return nil, fmt.Errorf("store idempotency key: %w", err)
	}
	if !rec.Opened {
		if err := s.announce(ctx, tenant, rec.ID, rec.Options, rec.Source, rec.Mapping); err != nil {
			return nil, err
		}
		rec.Opened = true
		val, _ = json.Marshal(rec)
		if _, err := s.kv.Update(ctx, key, val, rev); err != nil {
			// Another open with this key got there first, or the bucket is
			// unavailable: either way the import is announced.
			s.log.Debug("idempotency record not updated", zap.String("import_id", rec.ID), zap.Error(err))
		}
		if !existing {
			s.started(tenant, rec.ID, rec.Options, rec.Source, true)
		}
	}
	if rec.RowsSecret == "" {
		// A key stored before rows had secrets (they live IdempotencyTTL):
		// every open with it must still answer the same prefix.
		rec.RowsSecret = rec.ID
	}
	return openReply(tenant, rec.ID, rec.RowsSecret, rec.Options, existing), nil
}

func (s *service) started(tenant, id string, opts client.ImportOptions, source string, idempotent bool) {
	if s.d.Metrics != nil {
		s.d.Metrics.ImportsStarted.Inc()
	}
	s.log.Info("import opened", zap.String("import_id", id), zap.String("tenant", tenant), zap.String("schema", opts.Schema),
		zap.String("mode", opts.Mode), zap.String("source", source), zap.Bool("idempotency_key", idempotent))
}

func openReply(tenant, id, rowsSecret string, opts client.ImportOptions, existing bool) client.OpenReply {
	return client.OpenReply{
		ID: id, Tenant: tenant, Options: opts, Existing: existing,
		RowsSubject: subjects.For(subjects.Rows, tenant, id), EventsSubject: subjects.For(subjects.Events, tenant, id),
		RowsMsgIDPrefix: subjects.RowsPrefix(tenant, id, rowsSecret),
	}
}

// announce opens the import through the application layer, as an HTTP
// upload opens one: the same subjects and message IDs.
func (s *service) announce(ctx context.Context, tenant, id string, opts client.ImportOptions, source string, report *mapping.Report) error {
	return s.imports.Open(ctx, tenant, id, envelope.Options{Schema: opts.Schema, Mode: opts.Mode, Key: opts.Key, DryRun: opts.DryRun, Mapping: opts.Mapping, DateFormat: opts.DateFormat}, source, report)
}

// fromLayer maps the application layer's answers to the protocol's codes
// (HTTP-like, as the layer's statuses are); other errors stay unavailable.
func fromLayer(err error) error {
	var re *imports.RequestError
	if errors.As(err, &re) && re.Status < 500 {
		return &reqError{code: re.Status, msg: re.Message}
	}
	return err
}

// --- seal ---

func (s *service) seal(ctx context.Context, tenant string, data []byte) (any, error) {
	var req client.SealRequest
	if err := decodeNaming(data, &req, &req.ID); err != nil {
		return nil, err
	}
	if req.Total == nil || *req.Total < 0 {
		return nil, badRequest("total: the number of rows published (0 or more) is required")
	}
	total := *req.Total
	if err := s.imports.Seal(ctx, tenant, req.ID, total, req.Reason); err != nil {
		if errors.Is(err, imports.ErrNotFound) {
			return nil, notFound(req.ID)
		}
		return nil, fromLayer(err)
	}
	return client.SealReply{ID: req.ID, Total: total}, nil
}

func notFound(id string) error {
	return &reqError{code: client.CodeNotFound, msg: fmt.Sprintf("unknown import %s (not opened, or another tenant's)", id)}
}

// --- summary ---

// summary answers as GET /v1/imports/{id} does (the application layer's
// Summary), plus whether the import is sealed.
func (s *service) summary(ctx context.Context, tenant string, data []byte) (any, error) {
	var req client.SummaryRequest
	if err := decodeNaming(data, &req, &req.ID); err != nil {
		return nil, err
	}
	limit := req.ErrorLimit
	switch {
	case limit < 0:
		return nil, badRequest("error_limit: not negative")
	case req.NoErrors:
		limit = 0
	case limit == 0:
		limit = imports.DefaultErrorLimit
	case limit > imports.MaxErrorLimit:
		limit = imports.MaxErrorLimit
	}
	v, found, err := s.imports.Summary(ctx, tenant, req.ID, limit)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, notFound(req.ID)
	}
	return v, nil
}
