// Package auth authenticates API requests and checks their capabilities.
//
// Two kinds of credentials are accepted:
//   - API keys, sent as "X-API-Key: ik_..." (or "Authorization: Bearer ik_...",
//     for clients that can only send bearer tokens). Only the SHA-256 of a key
//     is stored; keys are looked up through KeyStore, so this package knows
//     nothing of MongoDB.
//   - JWT bearer tokens ("Authorization: Bearer <jwt>"), HS256 with a shared
//     secret, or RS256/ES256 with the public keys of a JWKS file.
//
// Every request acts for exactly one tenant, taken from the key's document or
// the token's "tenant" claim. Secrets (keys, tokens, the HS256 secret) never
// appear in errors: error messages are written to be shown to the client.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Capabilities known to Intake. Capabilities are plain strings, so a
// deployment can grant others (for example "phonebook.ad_phonebook") that only
// its own endpoints check.
const (
	CapImportsWrite = "imports:write"
	CapImportsRead  = "imports:read"
	CapSchemasWrite = "schemas:write"
	// CapAdmin implies every other capability of its own tenant: it manages
	// that tenant's keys, schemas and imports, and no other tenant's.
	CapAdmin = "admin"
	// CapOperator manages every tenant (creates and lists keys of any
	// tenant) and implies admin. Only API keys carry it: the bootstrap key,
	// and keys an operator created with it; a JWT claiming it is refused.
	CapOperator = "operator"
)

// AllCapabilities lists the capabilities Intake itself checks, for the
// bootstrap key. It returns a new slice each time so no caller can change
// another's.
func AllCapabilities() []string {
	return []string{CapImportsWrite, CapImportsRead, CapSchemasWrite, CapAdmin, CapOperator}
}

// Methods of authentication, as found in Principal.Method.
const (
	MethodAPIKey = "api_key"
	MethodJWT    = "jwt"
)

// Principal is who a request acts as.
type Principal struct {
	Tenant string
	// Subject is the JWT "sub" claim, or "api_key:<key ID>" for an API key.
	Subject      string
	Capabilities []string
	Method       string // MethodAPIKey or MethodJWT
	// KeyID is the public ID of the API key (see KeyID), or the "kid" of the
	// JWT's signing key ("" for HS256 tokens without one).
	KeyID string
}

// Has reports whether p holds capability c. Operator implies every
// capability; admin implies every capability but operator.
func (p Principal) Has(c string) bool {
	switch {
	case slices.Contains(p.Capabilities, c), slices.Contains(p.Capabilities, CapOperator):
		return true
	case c == CapOperator:
		return false
	default:
		return slices.Contains(p.Capabilities, CapAdmin)
	}
}

// Key is the stored description of an API key. It holds neither the key nor
// its hash, so it is safe to log and to return from an API.
type Key struct {
	ID           string     `json:"id"`     // public ID: first 12 hex characters of the key's SHA-256
	Prefix       string     `json:"prefix"` // first 8 characters of the key, to recognise it
	Name         string     `json:"name"`
	Tenant       string     `json:"tenant"`
	Capabilities []string   `json:"capabilities"`
	CreatedAt    time.Time  `json:"created_at"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
}

// KeyStore finds API keys by the hex SHA-256 of the key (see HashKey).
// *store.Store implements it.
type KeyStore interface {
	LookupKey(ctx context.Context, hash string) (Key, bool, error)
}

// Errors of Authenticate and the middleware. Test with errors.Is; the
// wrapped message says what was wrong without repeating the credential.
var (
	// ErrNoCredentials: the request carries neither X-API-Key nor Authorization (401).
	ErrNoCredentials = errors.New("no credentials: send X-API-Key or Authorization: Bearer")
	// ErrInvalidCredentials: credentials were sent but are not acceptable (401):
	// malformed, unknown or revoked key, bad signature, expired, wrong algorithm...
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrForbidden: the principal lacks a capability (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: too many failed attempts from the client's address (429).
	ErrRateLimited = errors.New("too many failed authentication attempts")
	// ErrUnavailable: credentials could not be checked, e.g. the key store is
	// unreachable (503). The wrapped cause is for logs, not for clients.
	ErrUnavailable = errors.New("authentication unavailable")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCredentials, fmt.Sprintf(format, args...))
}

// Config configures an Authenticator. The zero value accepts API keys only
// (when a KeyStore is given), with the default rate limit.
type Config struct {
	// HS256Secret enables HS256 JWTs; at least 32 bytes (RFC 7518 §3.2).
	HS256Secret []byte
	// JWKSFile enables RS256/ES256 JWTs with the keys of this JSON Web Key Set,
	// read once by New (restart to rotate keys).
	JWKSFile string
	// Skew is the clock skew tolerated on exp, nbf and iat: 0 means 60s; at most 5m.
	Skew time.Duration
	// MaxLifetime is the longest a JWT may be valid: exp at most this long
	// after iat (after now when the token has no iat). 0 means 24h.
	MaxLifetime time.Duration
	// Issuer and Audience, when set, must be the JWT's iss claim and one of
	// its aud values; a token without them is refused.
	Issuer   string
	Audience string
	// FailuresPerMinute failed attempts from one client address are allowed
	// per minute; the next one blocks the address for BlockFor.
	// 0 means 20; a negative value turns the limit off.
	FailuresPerMinute int
	// BlockFor is how long an address stays blocked: 0 means one minute.
	BlockFor time.Duration
	// MaxTrackedClients bounds the memory of the limiter: 0 means 10,000
	// addresses; the least recently failing one is forgotten first.
	MaxTrackedClients int
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// OnBlock, if set, is told when a client address becomes blocked (once
	// per block, not for each refused request), to log it.
	OnBlock func(client string, d time.Duration)
}

// Defaults and bounds of Config.
const (
	DefaultSkew              = 60 * time.Second
	DefaultMaxLifetime       = 24 * time.Hour
	MaxSkew                  = 5 * time.Minute
	DefaultFailuresPerMinute = 20
	DefaultBlockFor          = time.Minute
	DefaultMaxTrackedClients = 10_000
	MinSecretBytes           = 32
)

// Authenticator checks the credentials of requests.
type Authenticator struct {
	keys    KeyStore
	jwt     *jwtVerifier // nil: no JWT method configured
	limiter *limiter     // nil: rate limit off
	now     func() time.Time
	onBlock func(client string, d time.Duration) // nil: no one to tell
}

// New builds an Authenticator. keys may be nil to refuse API keys. The JWKS
// file, if any, is read and checked here so that a bad file stops the start.
func New(cfg Config, keys KeyStore) (*Authenticator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Skew == 0:
		cfg.Skew = DefaultSkew
	case cfg.Skew < 0 || cfg.Skew > MaxSkew:
		return nil, fmt.Errorf("auth: clock skew %s out of range (0 to %s)", cfg.Skew, MaxSkew)
	}
	switch {
	case cfg.MaxLifetime == 0:
		cfg.MaxLifetime = DefaultMaxLifetime
	case cfg.MaxLifetime < 0:
		return nil, fmt.Errorf("auth: negative jwt max lifetime %s", cfg.MaxLifetime)
	}
	if cfg.FailuresPerMinute == 0 {
		cfg.FailuresPerMinute = DefaultFailuresPerMinute
	}
	if cfg.BlockFor == 0 {
		cfg.BlockFor = DefaultBlockFor
	}
	if cfg.BlockFor < 0 {
		return nil, fmt.Errorf("auth: negative block duration %s", cfg.BlockFor)
	}
	if cfg.MaxTrackedClients <= 0 {
		cfg.MaxTrackedClients = DefaultMaxTrackedClients
	}
	a := &Authenticator{keys: keys, now: cfg.Now, onBlock: cfg.OnBlock}
	if len(cfg.HS256Secret) > 0 || cfg.JWKSFile != "" {
		v, err := newJWTVerifier(cfg)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		a.jwt = v
	}
	if cfg.FailuresPerMinute > 0 {
		a.limiter = newLimiter(cfg.FailuresPerMinute, time.Minute, cfg.BlockFor, cfg.MaxTrackedClients)
	}
	return a, nil
}

// Enabled reports whether any method of authentication is configured: a JWT
// method, or API keys (a KeyStore was given). Whether any key exists is not
// known here, as keys come and go at run time; the integrator decides what an
// Authenticator with key auth on but no keys yet should mean (typically: run
// with INTAKE_BOOTSTRAP_API_KEY set).
func (a *Authenticator) Enabled() bool {
	return a.jwt != nil || a.keys != nil
}

// maxCredentialLen bounds what is parsed or hashed: far above any real key
// or token, far below what would cost noticeable CPU.
const maxCredentialLen = 8 << 10

// Authenticate returns the principal of r's credentials. Errors wrap
// ErrNoCredentials, ErrInvalidCredentials or ErrUnavailable. It does not
// apply the rate limit; Middleware does. When a request carries both
// X-API-Key and Authorization, X-API-Key is used: a proxy in front may have
// added its own Authorization header.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	apiKey := r.Header.Get("X-API-Key")
	authz := r.Header.Get("Authorization")
	switch {
	case apiKey != "":
		return a.authenticateKey(r.Context(), strings.TrimSpace(apiKey))
	case authz != "":
		scheme, cred, _ := strings.Cut(strings.TrimSpace(authz), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return Principal{}, invalid("unsupported Authorization scheme: want Bearer")
		}
		cred = strings.TrimSpace(cred)
		if cred == "" {
			return Principal{}, invalid("empty bearer token")
		}
		// API keys are recognisable by their prefix and never look like a
		// JWT (three dot-separated parts), so both can share the header.
		if strings.HasPrefix(cred, APIKeyPrefix) {
			return a.authenticateKey(r.Context(), cred)
		}
		return a.authenticateJWT(cred)
	default:
		return Principal{}, ErrNoCredentials
	}
}

func (a *Authenticator) authenticateKey(ctx context.Context, key string) (Principal, error) {
	if a.keys == nil {
		return Principal{}, invalid("api keys are not enabled")
	}
	if err := checkKeyFormat(key); err != nil {
		return Principal{}, invalid("malformed api key: %v", err)
	}
	k, found, err := a.keys.LookupKey(ctx, HashKey(key))
	if err != nil {
		return Principal{}, fmt.Errorf("%w: look up api key: %w", ErrUnavailable, err)
	}
	if !found {
		return Principal{}, invalid("unknown api key")
	}
	if k.RevokedAt != nil {
		return Principal{}, invalid("api key %s was revoked", k.ID)
	}
	return Principal{
		Tenant:       k.Tenant,
		Subject:      "api_key:" + k.ID,
		Capabilities: slices.Clone(k.Capabilities),
		Method:       MethodAPIKey,
		KeyID:        k.ID,
	}, nil
}

func (a *Authenticator) authenticateJWT(token string) (Principal, error) {
	if a.jwt == nil {
		return Principal{}, invalid("bearer tokens (JWT) are not enabled")
	}
	if len(token) > maxCredentialLen {
		return Principal{}, invalid("bearer token too long")
	}
	return a.jwt.verify(token)
}
