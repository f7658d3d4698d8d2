package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrorFunc renders an authentication or authorisation error. Each API
// renders errors its own way (the native JSON API, a compatibility endpoint
// with its own error body); status is 401, 403, 429 or 503, and any
// WWW-Authenticate or Retry-After header is already set on w. err's message
// is safe to show, except for 503, whose cause is meant for logs.
type ErrorFunc func(w http.ResponseWriter, r *http.Request, status int, err error)

// DefaultOnError writes {"error": "..."} with the status, Intake's native
// error body. For 503 it hides the cause, which may describe the database.
func DefaultOnError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	msg := err.Error()
	if status == http.StatusServiceUnavailable {
		msg = ErrUnavailable.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// StatusOf returns the HTTP status for an error of this package.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrInvalidCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	default:
		return http.StatusServiceUnavailable
	}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p (what Middleware does; for tests and
// for code that authenticates by other means).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal Middleware stored in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Middleware authenticates every request (a plain func(http.Handler)
// http.Handler, so it fits chi's Use and With) and passes the principal
// in the request context. A failure is rendered by onError (nil:
// DefaultOnError) as 401, or 503 when the key store cannot be read.
//
// Failed attempts with credentials (not requests without any, which are not
// guesses) are counted per client address; past the limit the address gets
// 429 with Retry-After, whatever it sends, until the block ends, so that a
// right guess cannot be told from a wrong one while blocked. Successes do not
// reset the count, so one valid key does not license unlimited guessing.
func (a *Authenticator) Middleware(onError ErrorFunc) func(http.Handler) http.Handler {
	if onError == nil {
		onError = DefaultOnError
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client := clientOf(r)
			if a.limiter != nil {
				if d := a.limiter.blocked(client, a.now()); d > 0 {
					tooMany(w, r, d, onError)
					return
				}
			}
			p, err := a.Authenticate(r)
			if err != nil {
				if a.limiter != nil && errors.Is(err, ErrInvalidCredentials) {
					if d := a.limiter.fail(client, a.now()); d > 0 {
						if a.onBlock != nil {
							a.onBlock(client, d)
						}
						tooMany(w, r, d, onError)
						return
					}
				}
				status := StatusOf(err)
				if status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="intake"`)
				}
				onError(w, r, status, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

func tooMany(w http.ResponseWriter, r *http.Request, d time.Duration, onError ErrorFunc) {
	secs := int64((d + time.Second - 1) / time.Second) // round up: never invite a retry that is still blocked
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	onError(w, r, http.StatusTooManyRequests, fmt.Errorf("%w: retry in %ds", ErrRateLimited, secs))
}

// Require lets a request through only if its principal (set by Middleware)
// has capability c; admin implies every capability. Without a principal, as
// when Middleware is missing from the chain, it fails closed with 401.
func Require(c string, onError ErrorFunc) func(http.Handler) http.Handler {
	if onError == nil {
		onError = DefaultOnError
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				onError(w, r, http.StatusUnauthorized, ErrNoCredentials)
				return
			}
			if !p.Has(c) {
				onError(w, r, http.StatusForbidden, fmt.Errorf("%w: missing capability %s", ErrForbidden, c))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
