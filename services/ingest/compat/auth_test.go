package compat_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/client"
	"github.com/intake/intake/services/ingest/compat"
)

// Auth error bodies of each contract, for status and the auth package's message.
func customersAuthBody(status int, msg string) string { return js(map[string]any{"detail": msg}) }
func personsAuthBody(status int, msg string) string {
	return js(map[string]any{"meta": map[string]any{"pagination": map[string]any{"limit": 0, "offset": 0, "total_count": 0}},
		"errors": []any{map[string]any{"httpcode": status, "message": msg}}})
}
func messageAuthBody(_ int, msg string) string { return js(map[string]any{"message": msg}) }
func audienceAuthBody(status int, msg string) string {
	m := map[int]string{401: "Unauthorized request", 403: "Forbidden request"}[status]
	return js(map[string]any{"message": m, "detail": msg})
}
func phonebookAuthBody(status int, _ string) string {
	m := map[int]string{401: "authorization required", 403: "forbidden: missing capability"}[status]
	return js(map[string]any{"code": status, "message": m})
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const (
	msgNoCreds    = "no credentials: send X-API-Key or Authorization: Bearer"
	msgBadSig     = "invalid credentials: jwt signature invalid"
	msgUnknownKey = "invalid credentials: unknown api key"
	msgExpired    = "invalid credentials: jwt expired"
)

// endpoint is one compatibility route with a request that succeeds for
// tenant "acme" given the capability.
type endpoint struct {
	name      string
	method    string
	path      string
	headers   map[string]string // besides credentials
	parts     []part
	cap       string
	okStatus  int
	body      func(status int, msg string) string
	jwtOnly   bool
	tenantMsg string // the 403 message for a principal of another tenant ("": no such check)
	// tenantOf is the tenant an import of principal p goes to, for
	// endpoints whose tenant is the principal's (not named in the request).
	tenantOf func(p auth.Principal) string
}

func principalTenant(p auth.Principal) string { return p.Tenant }

var customersCSV = "name,email\nAnn Lee,ann@example.com\n"

func endpoints() []endpoint {
	return []endpoint{
		{name: "customers", method: "POST", path: "/customers/import", parts: []part{file("file", "c.csv", customersCSV)},
			cap: auth.CapImportsWrite, okStatus: 200, body: customersAuthBody, tenantOf: principalTenant},
		{name: "persons", method: "POST", path: "/persons/bulk-import", headers: map[string]string{"SlashID-OrgID": "acme"},
			parts: []part{file("persons", "p.csv", "slashid:emails\nann@example.com\n")}, cap: auth.CapImportsWrite, okStatus: 200, body: personsAuthBody,
			tenantMsg: "forbidden: the credentials do not belong to organization acme"},
		{name: "users bulk-import", method: "POST", path: "/apis/v1/users/bulk-import",
			parts: []part{file("data", "u.csv", "Email\nann@example.com\n"), field("communityId", "acme")}, cap: auth.CapImportsWrite, okStatus: 200, body: messageAuthBody,
			tenantMsg: "forbidden: the credentials do not belong to community acme"},
		{name: "users bulk-update", method: "POST", path: "/apis/v1/users/bulk-update",
			parts: []part{file("data", "u.csv", "Email\nann@example.com\n"), field("communityId", "acme")}, cap: auth.CapImportsWrite, okStatus: 200, body: messageAuthBody,
			tenantMsg: "forbidden: the credentials do not belong to community acme"},
		{name: "users logs", method: "GET", path: "/apis/v1/users/bulk-import/logs?communityId=acme", cap: auth.CapImportsRead, okStatus: 200, body: messageAuthBody,
			tenantMsg: "forbidden: the credentials do not belong to community acme"},
		{name: "users log", method: "GET", path: "/apis/v1/users/bulk-import/logs/imp_community?communityId=acme", cap: auth.CapImportsRead, okStatus: 200, body: messageAuthBody,
			tenantMsg: "forbidden: the credentials do not belong to community acme"},
		{name: "audience import", method: "POST", path: "/vpns/api/v1/audience/import",
			parts: []part{file("uploadFile", "a.csv", "Email\nann@example.com\n")}, cap: auth.CapImportsWrite, okStatus: 200, body: audienceAuthBody, tenantOf: principalTenant},
		{name: "audience status", method: "GET", path: "/vpns/api/v1/audience/import/imp_audience", cap: auth.CapImportsRead, okStatus: 200, body: audienceAuthBody},
		// (Another tenant's principal asking for this import gets 404: TestAudienceStatus.)
		{name: "phonebook", method: "POST", path: "/phonebook/import/", parts: []part{file("file", "c.csv", "name,workemail\nJohn,john@example.com\n")},
			cap: compat.CapPhonebook, okStatus: 200, body: phonebookAuthBody, jwtOnly: true, tenantOf: compat.PhonebookTenant},
	}
}

func (e endpoint) call(t *testing.T, base string, creds map[string]string) response {
	t.Helper()
	h := withHeaders(e.headers, creds)
	if e.method == "GET" {
		return get(t, base+e.path, h)
	}
	return post(t, base+e.path, h, e.parts...)
}

// TestAuthMatrix runs missing, wrong, expired, wrong-tenant and
// under-privileged credentials against every endpoint, through the real
// pkg/auth, and checks each contract's status and error body.
func TestAuthMatrix(t *testing.T) {
	ev := newEnv(t)
	imp := &fakeImporter{view: allCreated(1),
		imports: map[string]string{"imp_community": "acme", "imp_audience": "acme"}}
	base := serve(t, imp, compat.Config{Auth: ev.auth, ListImports: func(_ context.Context, tenant string, _ int) ([]client.Summary, error) { return nil, nil }})

	for _, e := range endpoints() {
		t.Run(e.name, func(t *testing.T) {
			// The fake's summary must match the endpoint's schema for the GETs.
			imp.mu.Lock()
			imp.view.Schema = map[string]string{"users log": "community_users", "audience status": "audience_users"}[e.name]
			imp.mu.Unlock()
			good := jwt(t, "acme", "ann", e.cap)
			cases := []struct {
				name   string
				creds  map[string]string
				status int
				msg    string
			}{
				{"missing", nil, 401, msgNoCreds},
				{"wrong secret", bearer(jwtWith(t, []byte(strings.Repeat("x", 40)), "acme", "ann", time.Now().Add(time.Hour), e.cap)), 401, msgBadSig},
				{"unknown api key", map[string]string{"X-API-Key": "ik_" + strings.Repeat("a", 52)}, 401, msgUnknownKey},
				{"expired", bearer(jwtWith(t, []byte(testSecret), "acme", "ann", time.Now().Add(-10*time.Minute), e.cap)), 401, msgExpired},
				{"missing capability", bearer(jwt(t, "acme", "ann", "imports:something")), 403, "forbidden: missing capability " + e.cap},
				{"ok", bearer(good), e.okStatus, ""},
			}
			if e.tenantMsg != "" {
				cases = append(cases, struct {
					name   string
					creds  map[string]string
					status int
					msg    string
				}{"wrong tenant", bearer(jwt(t, "other", "ann", e.cap)), 403, e.tenantMsg})
			}
			if e.jwtOnly {
				cases = append(cases, struct {
					name   string
					creds  map[string]string
					status int
					msg    string
				}{"api key instead of a user's jwt", map[string]string{"X-API-Key": ev.keys.add(t, "acme", e.cap)}, 401, ""})
			} else {
				cases = append(cases, struct {
					name   string
					creds  map[string]string
					status int
					msg    string
				}{"api key", map[string]string{"X-API-Key": ev.keys.add(t, "acme", e.cap)}, e.okStatus, ""})
			}
			if e.tenantOf != nil {
				// Another tenant's principal imports into its own tenant: the
				// request cannot name another.
				t.Run("other tenant", func(t *testing.T) {
					r := e.call(t, base, bearer(jwt(t, "other", "bob", e.cap)))
					if r.status != e.okStatus {
						t.Fatalf("status %d: %s", r.status, r.raw)
					}
					req, _ := imp.last(t)
					if want := e.tenantOf(auth.Principal{Tenant: "other", Subject: "bob"}); req.Tenant != want {
						t.Fatalf("imported into %q, want %q", req.Tenant, want)
					}
				})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					r := e.call(t, base, c.creds)
					if c.status >= 400 {
						expect(t, r, c.status, e.body(c.status, c.msg))
						if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
							t.Error("401 without WWW-Authenticate")
						}
						return
					}
					if r.status != c.status {
						t.Fatalf("status %d, want %d: %s", r.status, c.status, r.raw)
					}
				})
			}
		})
	}
}

// TestNoAuthenticator: without Auth (and not Open) every endpoint refuses.
func TestNoAuthenticator(t *testing.T) {
	imp := &fakeImporter{}
	base := serve(t, imp, compat.Config{})
	for _, e := range endpoints() {
		r := e.call(t, base, bearer(jwt(t, "acme", "ann", e.cap)))
		expect(t, r, 401, e.body(401, msgNoCreds))
	}
	if imp.count() != 0 {
		t.Fatal("something was submitted without authentication")
	}
}

// TestOpen: Open acts as tenant default with every capability, and takes
// the organisation and community IDs as given.
func TestOpen(t *testing.T) {
	imp := &fakeImporter{view: allCreated(1)}
	base := serve(t, imp, compat.Config{Open: true})
	expect(t, post(t, base+"/customers/import", nil, file("file", "c.csv", customersCSV)), 200, "")
	if req, _ := imp.last(t); req.Tenant != "default" {
		t.Fatalf("tenant %q", req.Tenant)
	}
	expect(t, post(t, base+"/persons/bulk-import", map[string]string{"SlashID-OrgID": "org1"}, file("persons", "p.csv", "slashid:emails\na@example.com\n")), 200, "")
	if req, _ := imp.last(t); req.Tenant != "org1" {
		t.Fatalf("tenant %q", req.Tenant)
	}
	expect(t, post(t, base+"/phonebook/import/", nil, file("file", "c.csv", "name,workemail\nJ,j@example.com\n")), 200, "")
	if req, _ := imp.last(t); req.Tenant != compat.PhonebookTenant(auth.Principal{Tenant: "default", Subject: "anonymous"}) {
		t.Fatalf("tenant %q", req.Tenant)
	}
}

// TestSlashIDKeyHeader: a SlashID client's own key header works as X-API-Key.
func TestSlashIDKeyHeader(t *testing.T) {
	ev := newEnv(t)
	imp := &fakeImporter{view: allCreated(1)}
	base := serve(t, imp, compat.Config{Auth: ev.auth})
	key := ev.keys.add(t, "acme", auth.CapImportsWrite)
	r := post(t, base+"/persons/bulk-import", map[string]string{"SlashID-OrgID": "acme", "SlashID-API-Key": key},
		file("persons", "p.csv", "slashid:emails\nann@example.com\n"))
	expect(t, r, 200, "")
	// Only for persons.
	r = post(t, base+"/customers/import", map[string]string{"SlashID-API-Key": key}, file("file", "c.csv", customersCSV))
	expect(t, r, 401, customersAuthBody(401, msgNoCreds))
}

// TestAuthErrorsDoNotLeak: no body echoes a credential.
func TestAuthErrorsDoNotLeak(t *testing.T) {
	base := serveAuth(t, &fakeImporter{}, nil)
	bad := jwtWith(t, []byte(strings.Repeat("y", 40)), "acme", "ann", time.Now().Add(time.Hour), "admin")
	for _, e := range endpoints() {
		for _, creds := range []map[string]string{bearer(bad), {"X-API-Key": "ik_" + strings.Repeat("z", 52)}} {
			r := e.call(t, base, creds)
			for _, v := range creds {
				_, cred, _ := strings.Cut(v, " ")
				if cred == "" {
					cred = v
				}
				if strings.Contains(r.raw, cred) || strings.Contains(r.raw, testSecret) {
					t.Errorf("%s: body leaks the credential: %s", e.name, r.raw)
				}
			}
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s: status %d", e.name, r.status)
			}
		}
	}
}

type downKeys struct{}

func (downKeys) LookupKey(context.Context, string) (auth.Key, bool, error) {
	return auth.Key{}, false, errors.New("mongodb at 10.9.8.7:27017: connection refused")
}

// TestAuthUnavailableAndRateLimited: a key store that cannot be read, and
// an address blocked after failed attempts, in every contract's body.
func TestAuthUnavailableAndRateLimited(t *testing.T) {
	unavailable := map[string]struct {
		status int
		body   string
	}{
		"customers":         {503, `{"detail":"authentication is unavailable; try again"}`},
		"persons":           {503, personsAuthBody(503, "authentication is unavailable; try again")},
		"users bulk-import": {503, `{"message":"authentication is unavailable; try again"}`},
		"users bulk-update": {503, `{"message":"authentication is unavailable; try again"}`},
		"users logs":        {503, `{"message":"authentication is unavailable; try again"}`},
		"users log":         {503, `{"message":"authentication is unavailable; try again"}`},
		"audience import":   {500, `{"message":"Server failure to process request"}`},
		"audience status":   {500, `{"message":"Server failure to process request"}`},
		"phonebook":         {503, `{"code":503,"message":"authentication unavailable"}`},
	}
	down, err := auth.New(auth.Config{FailuresPerMinute: -1}, downKeys{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, &fakeImporter{}, compat.Config{Auth: down})
	for _, e := range endpoints() {
		want := unavailable[e.name]
		expect(t, e.call(t, base, map[string]string{"X-API-Key": "ik_" + strings.Repeat("k", 52)}), want.status, want.body)
	}

	limited := map[string]string{
		"customers":         `{"detail":"too many failed authentication attempts: retry in 60s"}`,
		"persons":           personsAuthBody(429, "too many failed authentication attempts: retry in 60s"),
		"users bulk-import": `{"message":"too many failed authentication attempts: retry in 60s"}`,
		"users bulk-update": `{"message":"too many failed authentication attempts: retry in 60s"}`,
		"users logs":        `{"message":"too many failed authentication attempts: retry in 60s"}`,
		"users log":         `{"message":"too many failed authentication attempts: retry in 60s"}`,
		"audience import":   `{"message":"Too many requests","detail":"too many failed authentication attempts: retry in 60s"}`,
		"audience status":   `{"message":"Too many requests","detail":"too many failed authentication attempts: retry in 60s"}`,
		"phonebook":         `{"code":429,"message":"too many failed authentication attempts"}`,
	}
	for _, e := range endpoints() {
		// One authenticator per endpoint, so that each starts unblocked.
		now := time.Now()
		a, err := auth.New(auth.Config{HS256Secret: []byte(testSecret), FailuresPerMinute: 1, Now: func() time.Time { return now }}, &fakeKeys{})
		if err != nil {
			t.Fatal(err)
		}
		base := serve(t, &fakeImporter{}, compat.Config{Auth: a})
		bad := map[string]string{"X-API-Key": "ik_" + strings.Repeat("q", 52)}
		expect(t, e.call(t, base, bad), 401, "")
		r := e.call(t, base, bad)
		expect(t, r, 429, limited[e.name])
		if r.header.Get("Retry-After") != "60" {
			t.Errorf("%s: Retry-After %q", e.name, r.header.Get("Retry-After"))
		}
	}
}
