package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/intake/intake/pkg/ids"
)

// Signing algorithms accepted, each only with its own kind of key: HS256 with
// the shared secret, RS256 with RSA keys, ES256 with P-256 keys. "none" and
// every other algorithm are refused before any key is looked at.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
)

type jwtVerifier struct {
	secret      []byte
	keys        *keySet // nil without a JWKS file
	methods     []string
	parser      *jwt.Parser
	maxLifetime time.Duration
	now         func() time.Time
	required    map[string]bool // iss, aud: configured, so required
}

// newJWTVerifier builds the verifier of cfg, whose defaults New has filled.
func newJWTVerifier(cfg Config) (*jwtVerifier, error) {
	secret, jwksFile := cfg.HS256Secret, cfg.JWKSFile
	v := &jwtVerifier{maxLifetime: cfg.MaxLifetime, now: cfg.Now,
		required: map[string]bool{"iss": cfg.Issuer != "", "aud": cfg.Audience != ""}}
	if len(secret) > 0 {
		if len(secret) < MinSecretBytes {
			return nil, fmt.Errorf("HS256 secret too short: %d bytes, want at least %d", len(secret), MinSecretBytes)
		}
		v.secret = slices.Clone(secret)
		v.methods = append(v.methods, algHS256)
	}
	if jwksFile != "" {
		ks, err := loadJWKSFile(jwksFile)
		if err != nil {
			return nil, err
		}
		v.keys = ks
		// Only the algorithms of keys actually present: an RSA-only set must
		// not even consider ES256 tokens.
		for _, alg := range []string{algRS256, algES256} {
			if ks.has(alg) {
				v.methods = append(v.methods, alg)
			}
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Skew),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// keyFor returns the verification key of t. The type of the key returned
// matches the algorithm (a []byte only for HS256, *rsa.PublicKey only for
// RS256, *ecdsa.PublicKey only for ES256), so an HS256 token can never be
// checked against a public key used as an HMAC secret.
func (v *jwtVerifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(v.methods, alg) { // also checked by the parser; kept for defence in depth
		return nil, errAlgNotAccepted
	}
	if alg == algHS256 {
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	return v.keys.find(alg, kid)
}

var errAlgNotAccepted = errors.New("signing algorithm not accepted")

// verify checks token and returns its principal.
func (v *jwtVerifier) verify(token string) (Principal, error) {
	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, claims, v.keyFor)
	if err != nil {
		return Principal{}, v.explain(t, claims, err)
	}
	if err := v.checkLifetime(claims); err != nil {
		return Principal{}, err
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Principal{}, invalid("jwt has no sub claim")
	}
	tenant, ok := claims["tenant"].(string)
	if !ok || tenant == "" {
		return Principal{}, invalid("jwt has no tenant claim")
	}
	if ids.ValidTenant(tenant) != nil {
		// Tenants become NATS subject tokens and collection names.
		return Principal{}, invalid("jwt tenant claim is not a valid tenant ID (1-64 characters of A-Z a-z 0-9 _ -)")
	}
	caps, err := stringList(claims["capabilities"])
	if err != nil {
		return Principal{}, invalid("jwt capabilities claim: %v", err)
	}
	if slices.Contains(caps, CapOperator) {
		// Whoever holds the signing key could otherwise make anyone an
		// operator of every tenant; operators are API keys only.
		return Principal{}, invalid("jwt may not grant the %s capability (operators authenticate with an API key)", CapOperator)
	}
	kid, _ := t.Header["kid"].(string)
	if len(kid) > 128 {
		kid = kid[:128]
	}
	return Principal{Tenant: tenant, Subject: sub, Capabilities: caps, Method: MethodJWT, KeyID: kid}, nil
}

// checkLifetime refuses a token valid for longer than the maximum lifetime:
// a leaked long-lived token cannot be revoked. The parser has already
// checked that exp is present and not past.
func (v *jwtVerifier) checkLifetime(claims jwt.MapClaims) error {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return invalid("jwt has no exp claim")
	}
	from, what := v.now(), "now"
	if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		from, what = iat.Time, "iat"
	}
	if exp.Sub(from) > v.maxLifetime {
		return invalid("jwt lifetime too long: exp is more than %s after %s", v.maxLifetime, what)
	}
	return nil
}

// explain turns the library's error into one that says what was wrong
// without echoing the token or anything attacker-chosen but the algorithm
// name of a known method.
func (v *jwtVerifier) explain(t *jwt.Token, claims jwt.MapClaims, err error) error {
	var ke *keyError
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("malformed jwt")
	case t != nil && t.Method != nil && !slices.Contains(v.methods, t.Method.Alg()):
		return invalid("jwt signed with %s, which is not accepted (accepted: %v)", t.Method.Alg(), v.methods)
	case errors.Is(err, jwt.ErrTokenUnverifiable) && t != nil && t.Method == nil:
		return invalid("jwt signing algorithm not supported (accepted: %v)", v.methods)
	case errors.As(err, &ke):
		return invalid("%s", ke.msg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("jwt signature invalid")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// Which claim is missing: the library says it only in its message.
		for _, c := range []string{"exp", "iss", "aud"} {
			if _, ok := claims[c]; !ok {
				if c == "exp" || v.required[c] {
					return invalid("jwt has no %s claim", c)
				}
			}
		}
		return invalid("jwt lacks a required claim")
	}
	for _, c := range []struct {
		err  error
		says string
	}{
		{jwt.ErrTokenExpired, "jwt expired"},
		{jwt.ErrTokenNotValidYet, "jwt not valid yet (nbf)"},
		{jwt.ErrTokenInvalidIssuer, "jwt iss claim missing or not the expected issuer"},
		{jwt.ErrTokenInvalidAudience, "jwt aud claim missing or does not name this service"},
		{jwt.ErrTokenUsedBeforeIssued, "jwt issued in the future (iat)"},
		{jwt.ErrInvalidType, "jwt has a time claim of the wrong type"},
	} {
		if errors.Is(err, c.err) {
			return invalid("%s", c.says)
		}
	}
	return invalid("jwt rejected")
}

func stringList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("want an array of strings")
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, errors.New("want an array of non-empty strings")
		}
		out = append(out, s)
	}
	return out, nil
}

// SignHS256 signs claims with secret (at least 32 bytes), for tests and the
// CLI. Nothing is added to claims: set exp (and tenant, sub, capabilities).
func SignHS256(secret []byte, claims map[string]any) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("sign jwt: HS256 secret too short: %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return s, nil
}
