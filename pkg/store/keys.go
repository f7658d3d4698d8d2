package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/ids"
)

// API keys live in <db>.api_keys, one document per key with _id = the hex
// SHA-256 of the key: authentication looks keys up by _id only, the one
// query FerretDB answers from an index. The key itself is never stored.
// Listing and revoking by public ID scan the collection, which holds one
// document per key ever issued and is read only by administrators.
const keysColl = "api_keys"

// BootstrapTenant and BootstrapKeyName describe the key of INTAKE_BOOTSTRAP_API_KEY.
const (
	BootstrapTenant  = "default"
	BootstrapKeyName = "bootstrap"
)

// Errors of the key methods.
var (
	ErrKeyNotFound = errors.New("api key not found")
	ErrKeyRevoked  = errors.New("api key revoked")
)

// Store is what pkg/auth looks API keys up in.
var _ auth.KeyStore = (*Store)(nil)

type keyDoc struct {
	Hash         string     `bson:"_id"`
	Prefix       string     `bson:"prefix"`
	Name         string     `bson:"name"`
	Tenant       string     `bson:"tenant"`
	Capabilities []string   `bson:"capabilities"`
	CreatedAt    time.Time  `bson:"created_at"`
	RevokedAt    *time.Time `bson:"revoked_at,omitempty"`
}

func (d *keyDoc) key() auth.Key {
	return auth.Key{
		ID:           auth.KeyID(d.Hash),
		Prefix:       d.Prefix,
		Name:         d.Name,
		Tenant:       d.Tenant,
		Capabilities: d.Capabilities,
		CreatedAt:    d.CreatedAt,
		RevokedAt:    d.RevokedAt,
	}
}

// CreateKey issues a new API key for tenant with the given capabilities and
// returns it: the plaintext is shown to the caller once and never stored.
func (s *Store) CreateKey(ctx context.Context, tenant, name string, caps []string) (string, auth.Key, error) {
	if err := ids.ValidTenant(tenant); err != nil {
		return "", auth.Key{}, fmt.Errorf("create api key: %w", err)
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", auth.Key{}, errors.New("create api key: want a name of 1 to 200 characters")
	}
	caps, err := cleanCapabilities(caps)
	if err != nil {
		return "", auth.Key{}, fmt.Errorf("create api key: %w", err)
	}
	plain, err := auth.NewAPIKey()
	if err != nil {
		return "", auth.Key{}, err
	}
	d := keyDoc{Hash: auth.HashKey(plain), Prefix: auth.KeyPrefix(plain), Name: name, Tenant: tenant, Capabilities: caps, CreatedAt: bsonNow()}
	c, err := s.coll(ctx, s.Meta, keysColl)
	if err != nil {
		return "", auth.Key{}, err
	}
	if _, err := c.InsertOne(ctx, d); err != nil {
		return "", auth.Key{}, fmt.Errorf("create api key %s: %w", auth.KeyID(d.Hash), err)
	}
	return plain, d.key(), nil
}

// cleanCapabilities checks, de-duplicates and sorts capabilities. Names are
// free (deployments define their own) but must be printable without spaces.
func cleanCapabilities(caps []string) ([]string, error) {
	if len(caps) == 0 {
		return nil, errors.New("want at least one capability")
	}
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		if c == "" || len(c) > 100 || strings.ContainsFunc(c, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return nil, fmt.Errorf("invalid capability %q: want 1 to 100 printable ASCII characters without spaces", c)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ListKeys returns tenant's keys, revoked ones included, oldest first; ""
// lists every tenant's keys (for administrators).
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]auth.Key, error) {
	docs, err := s.scanKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]auth.Key, len(docs))
	for i := range docs {
		out[i] = docs[i].key()
	}
	return out, nil
}

func (s *Store) scanKeys(ctx context.Context, tenant string) ([]keyDoc, error) {
	filter := bson.D{}
	if tenant != "" {
		if err := ids.ValidTenant(tenant); err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		filter = bson.D{{Key: "tenant", Value: tenant}}
	}
	c, err := s.coll(ctx, s.Meta, keysColl)
	if err != nil {
		return nil, err
	}
	docs, err := findAll[keyDoc](ctx, c, "list api keys", filter)
	if err != nil {
		return nil, err
	}
	// Filter again: a tenant never sees another's keys, whatever the
	// database made of the filter.
	docs = slices.DeleteFunc(docs, func(d keyDoc) bool { return tenant != "" && d.Tenant != tenant })
	sort.Slice(docs, func(i, j int) bool {
		if !docs[i].CreatedAt.Equal(docs[j].CreatedAt) {
			return docs[i].CreatedAt.Before(docs[j].CreatedAt)
		}
		return docs[i].Hash < docs[j].Hash
	})
	return docs, nil
}

// RevokeKey revokes tenant's key id: its public ID (auth.KeyID, the first 12
// hex characters of its hash, as ListKeys shows it) or its full hash. tenant
// "" may revoke any tenant's key; a key of another tenant is ErrKeyNotFound,
// as if it did not exist. Revoking a revoked key changes nothing.
func (s *Store) RevokeKey(ctx context.Context, tenant, id string) error {
	var d keyDoc
	switch {
	case auth.IsKeyHash(id):
		c, err := s.coll(ctx, s.Meta, keysColl)
		if err != nil {
			return err
		}
		found, err := findKey(ctx, c, id, &d)
		if err != nil {
			return err
		}
		if !found || (tenant != "" && d.Tenant != tenant) {
			return fmt.Errorf("revoke api key %s: %w", auth.KeyID(id), ErrKeyNotFound)
		}
	case auth.IsKeyID(id):
		docs, err := s.scanKeys(ctx, tenant)
		if err != nil {
			return err
		}
		docs = slices.DeleteFunc(docs, func(d keyDoc) bool { return !strings.HasPrefix(d.Hash, id) })
		switch len(docs) {
		case 0:
			return fmt.Errorf("revoke api key %s: %w", id, ErrKeyNotFound)
		case 1:
			d = docs[0]
		default: // 48 bits make this all but impossible; never guess which
			return fmt.Errorf("revoke api key %s: several keys have this ID, give the full hash", id)
		}
	default:
		return fmt.Errorf("revoke api key: %w: want a key ID (12 hex characters) or hash (64)", ErrKeyNotFound)
	}
	if d.RevokedAt != nil {
		return nil
	}
	c, err := s.coll(ctx, s.Meta, keysColl)
	if err != nil {
		return err
	}
	if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.Hash}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: bsonNow()}}}}); err != nil {
		return fmt.Errorf("revoke api key %s: %w", auth.KeyID(d.Hash), err)
	}
	return nil
}

// LookupKey finds a key by the hex SHA-256 of its plaintext; it implements
// auth.KeyStore. Revoked keys are returned too, so the caller can say why a
// key is refused.
func (s *Store) LookupKey(ctx context.Context, hash string) (auth.Key, bool, error) {
	if !auth.IsKeyHash(hash) {
		return auth.Key{}, false, nil
	}
	c, err := s.coll(ctx, s.Meta, keysColl)
	if err != nil {
		return auth.Key{}, false, err
	}
	var d keyDoc
	found, err := findKey(ctx, c, hash, &d)
	if err != nil || !found {
		return auth.Key{}, false, err
	}
	return d.key(), true, nil
}

// findKey is findByID with errors that name the key only by its public ID.
func findKey(ctx context.Context, c *mongo.Collection, hash string, d *keyDoc) (bool, error) {
	err := c.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find api key %s: %w", auth.KeyID(hash), err)
	}
	return true, nil
}

// EnsureBootstrapKey makes plaintext (INTAKE_BOOTSTRAP_API_KEY) the operator
// key of tenant "default", with every capability (an existing bootstrap key
// lacking some, as from before operator existed, gets them). It is idempotent, also when
// several instances start at once. A bootstrap key that was revoked stays
// revoked (ErrKeyRevoked): restarting with the old variable must not bring
// back a key someone took away.
func (s *Store) EnsureBootstrapKey(ctx context.Context, plaintext string) (auth.Key, error) {
	if err := auth.ValidateAPIKey(plaintext); err != nil {
		return auth.Key{}, fmt.Errorf("bootstrap api key: %w", err)
	}
	d := keyDoc{
		Hash: auth.HashKey(plaintext), Prefix: auth.KeyPrefix(plaintext), Name: BootstrapKeyName,
		Tenant: BootstrapTenant, Capabilities: auth.AllCapabilities(), CreatedAt: bsonNow(),
	}
	slices.Sort(d.Capabilities)
	c, err := s.coll(ctx, s.Meta, keysColl)
	if err != nil {
		return auth.Key{}, err
	}
	_, err = c.InsertOne(ctx, d)
	if err == nil {
		return d.key(), nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return auth.Key{}, fmt.Errorf("bootstrap api key %s: %w", auth.KeyID(d.Hash), err)
	}
	var existing keyDoc
	found, err := findKey(ctx, c, d.Hash, &existing)
	if err != nil {
		return auth.Key{}, fmt.Errorf("bootstrap api key: %w", err)
	}
	if !found { // inserted a moment ago, so only a concurrent delete gets here
		return auth.Key{}, fmt.Errorf("bootstrap api key %s: vanished after insert", auth.KeyID(d.Hash))
	}
	if existing.RevokedAt != nil {
		return existing.key(), fmt.Errorf("bootstrap api key %s: %w; unset INTAKE_BOOTSTRAP_API_KEY or choose another key", auth.KeyID(d.Hash), ErrKeyRevoked)
	}
	if missing := slices.DeleteFunc(slices.Clone(d.Capabilities), func(c string) bool { return slices.Contains(existing.Capabilities, c) }); len(missing) > 0 {
		// Created by an older version (admin only, before operator
		// existed): the bootstrap key stays the operator after an upgrade.
		caps, err := cleanCapabilities(append(existing.Capabilities, missing...))
		if err != nil {
			return auth.Key{}, fmt.Errorf("bootstrap api key %s: %w", auth.KeyID(d.Hash), err)
		}
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.Hash}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "capabilities", Value: caps}}}}); err != nil {
			return auth.Key{}, fmt.Errorf("bootstrap api key %s: add capabilities %v: %w", auth.KeyID(d.Hash), missing, err)
		}
		existing.Capabilities = caps
	}
	return existing.key(), nil
}
