// Package catalog resolves entity schemas per tenant: a schema the tenant
// registered (PUT /v1/schemas/{name}) overrides the built-in one of the same
// name for that tenant only.
//
// Every lookup reads the tenant's schema document by _id (cheap, once per
// chunk), and parses it only when its JSON changed, so a registration takes
// effect at once in every process without a cache protocol.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/intake/intake/pkg/envelope"
	"github.com/intake/intake/pkg/mapping"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
)

// Catalog is the schemas every tenant sees.
type Catalog struct {
	builtin *schema.Registry
	store   *store.Store

	mu     sync.Mutex
	parsed map[string]parsedDoc // by tenant/name
}

type parsedDoc struct {
	json   string
	schema *schema.Schema
}

// New serves builtin schemas and the tenants' own from st (nil: built-ins only).
func New(builtin *schema.Registry, st *store.Store) *Catalog {
	return &Catalog{builtin: builtin, store: st, parsed: map[string]parsedDoc{}}
}

// Get returns the schema a tenant uses under name.
func (c *Catalog) Get(ctx context.Context, tenant, name string) (*schema.Schema, bool, error) {
	if c.store != nil {
		d, found, err := c.store.GetSchema(ctx, tenant, name)
		if err != nil {
			return nil, false, err
		}
		if found {
			s, err := c.parse(d)
			return s, err == nil, err
		}
	}
	s, ok := c.builtin.Get(name)
	return s, ok, nil
}

func (c *Catalog) parse(d *store.SchemaDoc) (*schema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.parsed[d.ID]; ok && p.json == d.JSON {
		return p.schema, nil
	}
	s, err := schema.Parse([]byte(d.JSON))
	if err != nil {
		// Registered under older, looser rules (e.g. before the bounds on
		// patterns and list items): the tenant must register it again. Said
		// as an invalid option, so an import is refused with the reason
		// (400) rather than "unavailable" (503).
		return nil, invalid("schema %q registered for this tenant no longer passes the checks (%v); register it again with PUT /v1/schemas/%s", d.Name, err, d.Name)
	}
	c.parsed[d.ID] = parsedDoc{json: d.JSON, schema: s}
	return s, nil
}

// Put checks and registers a tenant's schema.
func (c *Catalog) Put(ctx context.Context, tenant string, raw []byte) (*schema.Schema, error) {
	s, err := schema.Parse(raw)
	if err != nil {
		return nil, err
	}
	if c.store == nil {
		return nil, fmt.Errorf("schemas cannot be registered without a store")
	}
	if err := c.store.PutSchema(ctx, tenant, s.Name, string(raw)); err != nil {
		return nil, err
	}
	if err := c.store.EnsureRecordIndexes(ctx, tenant, s.Name, s.Keys); err != nil {
		return nil, err
	}
	return s, nil
}

// Names lists the schemas a tenant can use.
func (c *Catalog) Names(ctx context.Context, tenant string) ([]string, error) {
	set := map[string]bool{}
	for _, n := range c.builtin.Names() {
		set[n] = true
	}
	if c.store != nil {
		own, err := c.store.SchemaNames(ctx, tenant)
		if err != nil {
			return nil, err
		}
		for _, n := range own {
			set[n] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Permanent reports whether err from Get or CheckOptions stays the same
// however often it is asked again (the options or the stored schema are
// wrong), rather than the schemas being unreadable for now.
func Permanent(err error) bool {
	var inv *InvalidOptionsError
	return errors.As(err, &inv)
}

// InvalidOptionsError is an import's options that the tenant's schemas
// refuse; its message is for the person who sent them.
type InvalidOptionsError struct{ msg string }

func (e *InvalidOptionsError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &InvalidOptionsError{msg: fmt.Sprintf(format, args...)}
}

// CheckOptions fills an import's default schema and mode, checks them and
// the reconciliation key against the tenant's schemas, and returns the
// schema. Every way in (upload, replay, upstream publishers) uses it. An
// *InvalidOptionsError means the options are wrong; any other error that
// the schemas could not be read.
func (c *Catalog) CheckOptions(ctx context.Context, tenant string, opts *envelope.Options) (*schema.Schema, error) {
	if opts.Schema == "" {
		opts.Schema = "contacts"
	}
	if opts.Mode == "" {
		opts.Mode = envelope.ModeUpsert
	}
	s, ok, err := c.Get(ctx, tenant, opts.Schema)
	if err != nil {
		return nil, err
	}
	if !ok {
		names, _ := c.Names(ctx, tenant)
		return nil, invalid("unknown schema %q (known: %s)", opts.Schema, strings.Join(names, ", "))
	}
	switch opts.Mode {
	case envelope.ModeInsert, envelope.ModeUpsert, envelope.ModeUpdate, envelope.ModeReplace:
	default:
		return nil, invalid("unknown mode %q (one of: insert, upsert, update, replace)", opts.Mode)
	}
	key, err := s.ResolveKey(opts.Key)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if s.MatchAny && opts.Mode == envelope.ModeReplace {
		// replace removes the records an import did not touch; with matching
		// on any handle that set is not yet tracked.
		return nil, invalid("mode replace is not available for schema %s (records matched on any handle); use upsert", s.Name)
	}
	if err := mapping.CheckFields(s, opts.Mapping); err != nil {
		return nil, invalid("%v", err)
	}
	if opts.DateFormat != "" {
		if err := schema.CheckDateFormat(opts.DateFormat); err != nil {
			return nil, invalid("%v", err)
		}
	}
	if _, err := s.WithDateFormats(opts.DateFormats); err != nil {
		return nil, invalid("%v", err)
	}
	opts.Key = key
	return s, nil
}
