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
	ID        string    `bson:"_id"` // <tenant>/<name>
	Tenant    string    `bson:"tenant"`
	Name      string    `bson:"name"`
	JSON      string    `bson:"json"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func schemaID(tenant, name string) string { return tenant + "/" + name }

// GetSchema reads a tenant's schema by name.
func (s *Store) GetSchema(ctx context.Context, tenant, name string) (*SchemaDoc, bool, error) {
	c, err := s.coll(ctx, s.Meta, schemasColl)
	if err != nil {
		return nil, false, err
	}
	var d SchemaDoc
	found, err := findByID(ctx, c, schemaID(tenant, name), &d)
	if err != nil || !found {
		return nil, found, err
	}
	return &d, true, nil
}

// PutSchema stores (or replaces) a tenant's schema.
func (s *Store) PutSchema(ctx context.Context, tenant, name, json string) error {
	c, err := s.coll(ctx, s.Meta, schemasColl)
	if err != nil {
		return err
	}
	d := SchemaDoc{ID: schemaID(tenant, name), Tenant: tenant, Name: name, JSON: json, UpdatedAt: time.Now().UTC()}
	if _, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("save schema %s: %w", d.ID, err)
	}
	return nil
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
