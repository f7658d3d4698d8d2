package app

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/intake/intake/services/ingest"
)

// Modes of authentication, as found in Info.Auth.
const (
	AuthOpen    = "open"     // no credential configured: every request acts for tenant default, loopback only
	AuthAPIKeys = "api_keys" // API keys (the bootstrap key is the operator's)
	AuthKeysJWT = "api_keys_jwt"
	AuthNone    = "none" // no API is served (targets without ingest)
)

// authMode names how the API authenticates: open when setupAuth built no
// authenticator for an API it serves.
func authMode(cfg Config, servesAPI, open bool) string {
	switch {
	case !servesAPI:
		return AuthNone
	case open:
		return AuthOpen
	case cfg.JWTHS256Secret != "" || cfg.JWTJWKSFile != "":
		return AuthKeysJWT
	default:
		return AuthAPIKeys
	}
}

// Banner writes, in plain text for people (the logs are JSON for machines),
// where a started Intake can be reached and what to try next.
func Banner(w io.Writer, i Info) {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	base := httpURL(i.HTTPAddr)
	b.WriteString("Intake is ready.\n")
	if i.Auth == AuthNone {
		line("Health", "%shealthz (metrics: %smetrics)", base, base)
	} else {
		line("Web page, API", "%s (API under %sv1)", base, base)
	}
	switch {
	case i.NATSURL == "":
		line("NATS", "embedded, reached in this process only (--embedded-nats-addr opens a listener)")
	case i.NATSContext != "":
		line("NATS", "%s, user and password in %s", redactURLs(i.NATSURL), i.NATSContext)
		line("", "nats --context %s sub 'intake.events.>'", i.NATSContext)
	default:
		line("NATS", "%s", redactURLs(i.NATSURL))
	}
	if i.MongoSocket != "" {
		line("MongoDB", "embedded FerretDB on the Unix socket %s", i.MongoSocket)
	} else {
		line("MongoDB", "%s", redactURLs(i.MongoURI))
	}
	line("", "mongosh %q   (records: %s_records)", mongoshURI(redactURLs(i.MongoURI), i.MongoDB), i.MongoDB)
	if i.DataDir != "" {
		line("Data directory", "%s", i.DataDir)
	}
	switch i.Auth {
	case AuthOpen:
		line("Authentication", "open: no credential configured, every request acts for tenant default (loopback only);")
		line("", "no keys can be created; to require keys set INTAKE_BOOTSTRAP_API_KEY and restart")
	case AuthAPIKeys:
		line("Authentication", "API keys (X-API-Key; --api-key or INTAKE_API_KEY for the CLI)")
	case AuthKeysJWT:
		line("Authentication", "API keys (X-API-Key) and JWT bearer tokens")
	}
	if i.Auth != AuthNone {
		cmd := "intake import"
		if base != httpURL(ingest.DefaultHTTPAddr) {
			cmd += " --server " + strings.TrimSuffix(base, "/")
		}
		if i.Auth != AuthOpen {
			cmd += " --api-key KEY"
		}
		line("Try", "%s --schema contacts FILE", cmd)
	}
	_, _ = io.WriteString(w, b.String())
}

// httpURL is the URL a browser on this machine opens for a listen address:
// an unspecified host (0.0.0.0, [::]) is reached on loopback.
func httpURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// mongoshURI is uri with the database db as its path, unless uri names one.
func mongoshURI(uri, db string) string {
	rest, query, hasQuery := strings.Cut(uri, "?")
	scheme, hosts, ok := strings.Cut(rest, "://")
	if !ok {
		return uri
	}
	hosts, path, _ := strings.Cut(hosts, "/")
	if path == "" {
		path = db
	}
	out := scheme + "://" + hosts + "/" + path
	if hasQuery {
		out += "?" + query
	}
	return out
}
