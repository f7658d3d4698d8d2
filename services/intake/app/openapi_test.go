package app_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/services/ingest"
)

// The OpenAPI document of the native API (schemas/openapi.yaml) must describe
// exactly the routes the ingest router serves, with the capabilities the
// router checks, and component schemas that match the Go response types.

const openAPIFile = "../../../schemas/openapi.yaml"

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIFile, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIFile, err)
	}
	return doc
}

// asMap and asList read a YAML node of a known shape ("" or nil when absent).
func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }
func asString(v any) string      { s, _ := v.(string); return s }

// dig follows keys through nested maps.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		v = asMap(v)[k]
	}
	return v
}

// pathParam matches a path parameter of chi ({id}, {id:[0-9]+}) or OpenAPI ({id}).
var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// normPath makes chi and OpenAPI paths comparable: parameter names do not matter.
func normPath(p string) string { return pathParam.ReplaceAllString(p, "{}") }

// nativeRoute reports whether a router path belongs to the documented native
// API: /v1 and the health endpoints. Everything else (the compatibility
// endpoints, the web page at / and /ui/*) is documented elsewhere.
func nativeRoute(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics", "/v1":
		return true
	}
	return strings.HasPrefix(p, "/v1/")
}

// testRouter is the real ingest router, built without starting anything:
// routes() needs only a logger at construction (Metrics adds /metrics).
func testRouter(t *testing.T, a *auth.Authenticator) chi.Router {
	t.Helper()
	d := platform.Deps{Log: zap.NewNop(), Metrics: metrics.New()}
	return ingest.New(ingest.Config{Auth: a}, d).Router()
}

// routerOps lists the router's native routes as "METHOD normalised-path" with
// the original pattern. A route registered for every method (chi's Handle, as
// /metrics is) counts as GET.
func routerOps(t *testing.T, r chi.Router) map[string]string {
	t.Helper()
	byPath := map[string][]string{}
	pattern := map[string]string{}
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !nativeRoute(route) {
			return nil
		}
		byPath[normPath(route)] = append(byPath[normPath(route)], method)
		pattern[normPath(route)] = route
		return nil
	})
	if err != nil {
		t.Fatalf("chi.Walk: %v", err)
	}
	all := []string{http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
		http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace}
	ops := map[string]string{}
	for p, methods := range byPath {
		everyMethod := true
		for _, m := range all {
			if !slices.Contains(methods, m) {
				everyMethod = false
			}
		}
		if everyMethod {
			methods = []string{http.MethodGet}
		}
		for _, m := range methods {
			ops[m+" "+p] = m + " " + pattern[p]
		}
	}
	return ops
}

// docOps lists the document's operations as "METHOD normalised-path".
func docOps(doc map[string]any) map[string]string {
	ops := map[string]string{}
	for p, item := range asMap(doc["paths"]) {
		for _, m := range httpMethods {
			if _, ok := asMap(item)[m]; ok {
				ops[strings.ToUpper(m)+" "+normPath(p)] = strings.ToUpper(m) + " " + p
			}
		}
	}
	return ops
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := routerOps(t, testRouter(t, nil))
	documented := docOps(doc)
	if len(routes) == 0 {
		t.Fatal("the router has no native routes: is chi.Walk seeing the /v1 subrouter?")
	}
	var undocumented, missing []string
	for k, orig := range routes {
		if _, ok := documented[k]; !ok {
			undocumented = append(undocumented, orig)
		}
	}
	for k, orig := range documented {
		if _, ok := routes[k]; !ok {
			missing = append(missing, orig)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(missing)
	if len(undocumented)+len(missing) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s and the ingest router disagree:\n", openAPIFile)
		for _, r := range undocumented {
			fmt.Fprintf(&b, "  served but not documented: %s\n", r)
		}
		for _, r := range missing {
			fmt.Fprintf(&b, "  documented but not served: %s\n", r)
		}
		t.Fatal(b.String())
	}
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if v := asString(doc["openapi"]); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: %q, want 3.1.x", v)
	}
	for _, k := range []string{"title", "version"} {
		if asString(dig(doc, "info", k)) == "" {
			t.Errorf("info.%s missing", k)
		}
	}

	// Security: an API key in X-API-Key and JWT bearer tokens, required by default.
	schemes := asMap(dig(doc, "components", "securitySchemes"))
	if s := asMap(schemes["apiKey"]); s["type"] != "apiKey" || s["in"] != "header" || s["name"] != "X-API-Key" {
		t.Errorf("securitySchemes.apiKey = %v, want an apiKey in header X-API-Key", s)
	}
	if s := asMap(schemes["bearer"]); s["type"] != "http" || s["scheme"] != "bearer" || s["bearerFormat"] != "JWT" {
		t.Errorf("securitySchemes.bearer = %v, want http bearer JWT", s)
	}
	var global []string
	for _, req := range asList(doc["security"]) {
		for name := range asMap(req) {
			global = append(global, name)
		}
	}
	sort.Strings(global)
	if !slices.Equal(global, []string{"apiKey", "bearer"}) {
		t.Errorf("top-level security: %v, want apiKey or bearer", global)
	}

	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch n := v.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				if _, err := resolveRef(doc, ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, c := range n {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range n {
				walk(c, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")

	// Operations: unique IDs, responses, no auth on health endpoints, the
	// authentication errors on every /v1 operation, a capability named.
	seenIDs := map[string]string{}
	for p, item := range asMap(doc["paths"]) {
		for _, m := range httpMethods {
			op := asMap(asMap(item)[m])
			if op == nil {
				continue
			}
			name := strings.ToUpper(m) + " " + p
			id := asString(op["operationId"])
			if id == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := seenIDs[id]; dup {
				t.Errorf("%s: operationId %q also used by %s", name, id, other)
			}
			seenIDs[id] = name
			responses := asMap(op["responses"])
			if len(responses) == 0 {
				t.Errorf("%s: no responses", name)
			}
			sec, hasSec := op["security"]
			if strings.HasPrefix(p, "/v1/") {
				if hasSec {
					t.Errorf("%s: /v1 operations use the document's security, not their own", name)
				}
				for _, code := range []string{"401", "403", "429"} {
					if _, ok := responses[code]; !ok {
						t.Errorf("%s: response %s (authentication) not documented", name, code)
					}
				}
				if capabilityOf(op) == "" {
					t.Errorf("%s: the description does not say \"Capability: `...`\"", name)
				}
			} else if !hasSec || len(asList(sec)) != 0 {
				t.Errorf("%s: health endpoints need no authentication: want security: []", name)
			}
			// Error responses are the {"error"} body (except where noted).
			for code, resp := range responses {
				if code < "400" || p == "/readyz" {
					continue
				}
				r := asMap(resp)
				if ref := asString(r["$ref"]); ref != "" {
					res, _ := resolveRef(doc, ref)
					r = asMap(res)
				}
				if ref := asString(dig(r, "content", "application/json", "schema", "$ref")); ref != "#/components/schemas/Error" {
					t.Errorf("%s: response %s: want the Error schema, got %q", name, code, ref)
				}
			}
		}
	}
}

// TestOpenAPICapabilities checks each /v1 operation's documented capability
// against the router: a token with only that capability gets past the
// capability check, and a token with every other capability (not admin) gets 403.
func TestOpenAPICapabilities(t *testing.T) {
	doc := loadOpenAPI(t)
	secret := []byte("openapi-test-secret-of-at-least-32-bytes")
	a, err := auth.New(auth.Config{HS256Secret: secret, FailuresPerMinute: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := testRouter(t, a)
	for p, item := range asMap(doc["paths"]) {
		if !strings.HasPrefix(p, "/v1/") {
			continue
		}
		for _, m := range httpMethods {
			op := asMap(asMap(item)[m])
			if op == nil {
				continue
			}
			name := strings.ToUpper(m) + " " + p
			want := capabilityOf(op)
			if want == "" {
				continue // reported by TestOpenAPIDocument
			}
			url := strings.NewReplacer("{id}", "imp_test", "{name}", "contacts", "{format}", "csv").Replace(p)

			code, panicked := serveWith(h, strings.ToUpper(m), url, hs256(t, secret, []string{want}))
			if code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Errorf("%s: documented capability %s, but a token with it gets %d", name, want, code)
			}
			_ = panicked // the handler ran (without a broker or database behind it): the capability was accepted

			var others []string
			for _, c := range auth.AllCapabilities() {
				if c != want && c != auth.CapAdmin && c != auth.CapOperator { // admin implies the rest; no JWT carries operator
					others = append(others, c)
				}
			}
			if code, _ := serveWith(h, strings.ToUpper(m), url, hs256(t, secret, others)); code != http.StatusForbidden {
				t.Errorf("%s: documented capability %s, but a token with only %v gets %d, want 403", name, want, others, code)
			}
		}
	}
}

// TestOpenAPIComponents checks that the component schemas list exactly the
// JSON fields of the Go types the handlers encode.
func TestOpenAPIComponents(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, typ := range map[string]reflect.Type{
		"ImportView": reflect.TypeOf(ingest.ImportView{}),
		"RowError":   reflect.TypeOf(ingest.RowError{}),
		"Key":        reflect.TypeOf(auth.Key{}),
		"Schema":     reflect.TypeOf(schema.Schema{}),
		"Field":      reflect.TypeOf(schema.Field{}),
	} {
		props := asMap(dig(doc, "components", "schemas", name, "properties"))
		if props == nil {
			t.Errorf("components.schemas.%s: no properties", name)
			continue
		}
		var inGo, inDoc []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			if !f.IsExported() || tag == "-" || tag == "" {
				continue
			}
			inGo = append(inGo, tag)
		}
		for p := range props {
			inDoc = append(inDoc, p)
		}
		sort.Strings(inGo)
		sort.Strings(inDoc)
		if !slices.Equal(inGo, inDoc) {
			t.Errorf("components.schemas.%s properties %v, but %s encodes %v", name, inDoc, typ, inGo)
		}
		// Fields the Go type always writes (no omitempty) are required.
		required := map[string]bool{}
		for _, r := range asList(dig(doc, "components", "schemas", name, "required")) {
			required[asString(r)] = true
		}
		if name == "Schema" || name == "Field" {
			continue // input documents too: required means required to write
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			parts := strings.Split(f.Tag.Get("json"), ",")
			if !f.IsExported() || parts[0] == "" || parts[0] == "-" {
				continue
			}
			if always := !slices.Contains(parts[1:], "omitempty"); always != required[parts[0]] {
				t.Errorf("components.schemas.%s: %s required=%v, but the Go type always writes it=%v", name, parts[0], required[parts[0]], always)
			}
		}
	}
	errProps := asMap(dig(doc, "components", "schemas", "Error", "properties"))
	if _, ok := errProps["error"]; !ok || len(errProps) != 2 || errProps["import_id"] == nil {
		t.Errorf("components.schemas.Error: want properties error and import_id, got %v", errProps)
	}
}

var capabilityRE = regexp.MustCompile("Capability: `([a-z:._]+)`")

func capabilityOf(op map[string]any) string {
	m := capabilityRE.FindStringSubmatch(asString(op["description"]))
	if m == nil {
		return ""
	}
	return m[1]
}

// resolveRef follows a local JSON pointer (#/a/b) through the document.
func resolveRef(doc map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q: only local references are used", ref)
	}
	var v any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m := asMap(v)
		next, ok := m[part]
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve (no %q)", ref, part)
		}
		v = next
	}
	return v, nil
}

// hs256 signs a JWT for tenant default with the given capabilities.
func hs256(t *testing.T, secret []byte, caps []string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	now := time.Now()
	claims, err := json.Marshal(map[string]any{"sub": "openapi-test", "tenant": "default", "capabilities": caps,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// serveWith sends an empty request with a bearer token. The router has no
// broker or database behind it, so a handler that gets past authentication
// may panic on its nil dependencies: that is reported as panicked, with the
// status written so far (200 if none).
func serveWith(h http.Handler, method, url, token string) (code int, panicked bool) {
	req := httptest.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	defer func() {
		if recover() != nil {
			code, panicked = rec.Code, true
		}
	}()
	h.ServeHTTP(rec, req)
	return rec.Code, false
}
