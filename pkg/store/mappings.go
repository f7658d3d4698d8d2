package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/intake/intake/pkg/mapping"
)

const mappingsColl = "mappings"

// mappingDoc is a tenant's saved column mapping (PUT /v1/mappings/{name}).
// Its columns are a list, not a document keyed by header: headers may hold
// dots and dollars, which field names may not.
type mappingDoc struct {
	TenantDoc `bson:",inline"`
	Columns   []givenColumnDoc `bson:"columns"`
}

// givenColumnDoc is one column of a given mapping; Field nil ignores it.
type givenColumnDoc struct {
	Column string  `bson:"column"`
	Field  *string `bson:"field"`
}

func givenDocs(g mapping.Given) []givenColumnDoc {
	out := make([]givenColumnDoc, 0, len(g))
	for c, f := range g {
		out = append(out, givenColumnDoc{Column: c, Field: f})
	}
	return out
}

func givenOf(cols []givenColumnDoc) mapping.Given {
	if len(cols) == 0 {
		return nil
	}
	g := make(mapping.Given, len(cols))
	for _, c := range cols {
		g[c.Column] = c.Field
	}
	return g
}

// PutMapping stores (or replaces) a tenant's saved mapping.
func (s *Store) PutMapping(ctx context.Context, tenant, name string, given mapping.Given) error {
	d := mappingDoc{TenantDoc: tenantDoc(tenant, name), Columns: givenDocs(given)}
	return s.putTenantDoc(ctx, mappingsColl, "mapping", d.ID, d)
}

// GetMapping reads a tenant's saved mapping by name.
func (s *Store) GetMapping(ctx context.Context, tenant, name string) (mapping.Given, bool, error) {
	var d mappingDoc
	if found, err := s.getTenantDoc(ctx, mappingsColl, tenant, name, &d); err != nil || !found {
		return nil, found, err
	}
	g := givenOf(d.Columns)
	if g == nil {
		g = mapping.Given{}
	}
	return g, true, nil
}

// DeleteMapping removes a tenant's saved mapping; found is false if there was none.
func (s *Store) DeleteMapping(ctx context.Context, tenant, name string) (bool, error) {
	c, err := s.coll(ctx, s.Meta, mappingsColl)
	if err != nil {
		return false, err
	}
	res, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: schemaID(tenant, name)}})
	if err != nil {
		return false, fmt.Errorf("delete mapping %s/%s: %w", tenant, name, err)
	}
	return res.DeletedCount > 0, nil
}
