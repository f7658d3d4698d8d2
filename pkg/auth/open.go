package auth

import (
	"fmt"
	"net/http"
)

// MethodOpen marks the principal of a server that runs open: no credential
// is configured at all, so every request acts for one principal (Intake
// allows this on a loopback address only).
const MethodOpen = "open"

// ErrOpenServer: a request sent a credential to a server that runs open
// (401). An open server knows no key and no token, so it cannot tell a real
// one from "bogus"; accepting either would make every key look valid. The
// message says how to turn authentication on.
var ErrOpenServer = fmt.Errorf("%w: this server has no credential configured and accepts none; "+
	"send no X-API-Key or Authorization, or set an admin key (INTAKE_BOOTSTRAP_API_KEY or --bootstrap-api-key) and restart it",
	ErrInvalidCredentials)

// Open is the middleware of a server without credentials: a request that
// carries none acts as p; one that carries any (X-API-Key or Authorization)
// is refused with ErrOpenServer, rendered by onError (nil: DefaultOnError).
func Open(p Principal, onError ErrorFunc) func(http.Handler) http.Handler {
	if onError == nil {
		onError = DefaultOnError
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-API-Key") != "" || r.Header.Get("Authorization") != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="intake"`)
				onError(w, r, http.StatusUnauthorized, ErrOpenServer)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}
