package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const schemasColl = "schemas"

// SchemaDoc is a schema a tenant registered, kept as the JSON it sent.
type SchemaDoc struct {
	TenantDoc `bson:",inline"`
	JSON      string `bson:"json"`
}

// TenantDoc is what every document a tenant names carries (a registered
// schema, a saved mapping): its key <tenant>/<name>, both parts, and when
// it was last saved.
type TenantDoc struct {
	ID        string    `bson:"_id"` // <tenant>/<name>
	Tenant    string    `bson:"tenant"`
	Name      string    `bson:"name"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func tenantDoc(tenant, name string) TenantDoc {
	return TenantDoc{ID: schemaID(tenant, name), Tenant: tenant, Name: name, UpdatedAt: time.Now().UTC()}
}

func schemaID(tenant, name string) string { return tenant + "/" + name }

// putTenantDoc stores (or replaces) a document a tenant names.
func (s *Store) putTenantDoc(ctx context.Context, coll, what string, id string, doc any) error {
	c, err := s.coll(ctx, s.Meta, coll)
	if err != nil {
		return err
	}
	if _, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("save %s %s: %w", what, id, err)
	}
	return nil
}

// getTenantDoc reads a document a tenant names into out.
func (s *Store) getTenantDoc(ctx context.Context, coll, tenant, name string, out any) (found bool, err error) {
	c, err := s.coll(ctx, s.Meta, coll)
	if err != nil {
		return false, err
	}
	return findByID(ctx, c, schemaID(tenant, name), out)
}

// GetSchema reads a tenant's schema by name.
func (s *Store) GetSchema(ctx context.Context, tenant, name string) (*SchemaDoc, bool, error) {
	var d SchemaDoc
	if found, err := s.getTenantDoc(ctx, schemasColl, tenant, name, &d); err != nil || !found {
		return nil, found, err
	}
	return &d, true, nil
}

// PutSchema stores (or replaces) a tenant's schema.
func (s *Store) PutSchema(ctx context.Context, tenant, name, json string) error {
	d := SchemaDoc{TenantDoc: tenantDoc(tenant, name), JSON: json}
	return s.putTenantDoc(ctx, schemasColl, "schema", d.ID, d)
}

// SchemaNames lists the names of a tenant's registered schemas.
func (s *Store) SchemaNames(ctx context.Context, tenant string) ([]string, error) {
	c, err := s.coll(ctx, s.Meta, schemasColl)
	if err != nil {
		return nil, err
	}
	cur, err := c.Find(ctx, bson.D{{Key: "tenant", Value: tenant}}, options.Find().SetProjection(bson.D{{Key: "name", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	var docs []SchemaDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	names := make([]string, len(docs))
	for i, d := range docs {
		names[i] = d.Name
	}
	return names, nil
}
