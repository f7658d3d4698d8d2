package app_test

// The documents that must match the code: the OpenAPI document of the
// native API (schemas/openapi.yaml) and the examples of docs/data-model.md.

import (
	"context"
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
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/intake/intake/pkg/auth"
	"github.com/intake/intake/pkg/metrics"
	"github.com/intake/intake/pkg/platform"
	"github.com/intake/intake/pkg/schema"
	"github.com/intake/intake/pkg/store"
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
		fields := jsonFields(typ)
		var inGo, inDoc []string
		for _, f := range fields {
			inGo = append(inGo, f[0])
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
		for _, parts := range fields {
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

// jsonFields are the JSON tags (name, then options) of the fields
// encoding/json writes for typ, those of embedded structs without a tag
// included, as it flattens them (client.Summary embeds envelope.Counts).
func jsonFields(typ reflect.Type) [][]string {
	var out [][]string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		parts := strings.Split(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && parts[0] == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type)...)
		case !f.IsExported() || parts[0] == "" || parts[0] == "-":
		default:
			out = append(out, parts)
		}
	}
	return out
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

// docExample is one mongosh example of docs/data-model.md, as the driver
// runs it.
type docExample struct {
	db, coll, method string
	arg, sort        string // JSON
}

// exampleLine is the one form the examples take:
// db.getSiblingDB("D").getCollection("C").find(JSON)[.sort(JSON)] or .aggregate(JSON).
var exampleLine = regexp.MustCompile(`^db\.getSiblingDB\("([^"]+)"\)\.getCollection\("([^"]+)"\)\.(find|aggregate)\((.*?)\)(?:\.sort\((.*)\))?$`)

// readDocExamples parses the examples, each a ```js block after a
// <!-- example: NAME --> line.
func readDocExamples(t *testing.T, path string) map[string]docExample {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]docExample{}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "<!-- example: ")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, " -->")
		if i+3 >= len(lines) || lines[i+1] != "```js" || lines[i+3] != "```" {
			t.Fatalf("example %s: want one line in a ```js block after its marker", name)
		}
		m := exampleLine.FindStringSubmatch(lines[i+2])
		if m == nil {
			t.Fatalf("example %s: %q is not in the form the test runs", name, lines[i+2])
		}
		out[name] = docExample{db: m[1], coll: m[2], method: m[3], arg: m[4], sort: m[5]}
	}
	return out
}

// run runs an example with the doc's placeholder import ID replaced.
func (e docExample) run(t *testing.T, client *mongo.Client, importID string) []bson.M {
	t.Helper()
	ctx := context.Background()
	arg := strings.ReplaceAll(e.arg, "imp_5q2k8v3m1x", importID)
	c := client.Database(e.db).Collection(e.coll)
	var cur *mongo.Cursor
	var err error
	switch e.method {
	case "find":
		var filter bson.D
		if err := bson.UnmarshalExtJSON([]byte(arg), false, &filter); err != nil {
			t.Fatalf("filter %s: %v", arg, err)
		}
		opts := options.Find()
		if e.sort != "" {
			var sortBy bson.D
			if err := bson.UnmarshalExtJSON([]byte(e.sort), false, &sortBy); err != nil {
				t.Fatalf("sort %s: %v", e.sort, err)
			}
			opts.SetSort(sortBy)
		}
		cur, err = c.Find(ctx, filter, opts)
	case "aggregate":
		// Extended JSON is read as a document: wrap the array in one.
		var wrapped struct {
			Pipeline []bson.D `bson:"p"`
		}
		if err := bson.UnmarshalExtJSON([]byte(`{"p":`+arg+`}`), false, &wrapped); err != nil {
			t.Fatalf("pipeline %s: %v", arg, err)
		}
		cur, err = c.Aggregate(ctx, wrapped.Pipeline)
	}
	if err != nil {
		t.Fatalf("%s on %s.%s: %v", e.method, e.db, e.coll, err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// The mongosh examples of docs/data-model.md answer what they say against
// real imports on the embedded default, and the indexes the doc names exist.
func TestDataModelExamples(t *testing.T) {
	examples := readDocExamples(t, "../../../docs/data-model.md")
	for _, name := range []string{"person-by-email", "failed-rows", "created-by-import", "imports-newest-first"} {
		if _, ok := examples[name]; !ok {
			t.Fatalf("docs/data-model.md lacks the example %s", name)
		}
	}
	s := startSystem(t, t.TempDir(), nil)
	importCSV := func(csv string) ingest.ImportView {
		t.Helper()
		code, body := s.upload([]byte(csv), map[string]string{"schema": "contacts"})
		if code != 202 {
			t.Fatalf("upload: %d %v", code, body)
		}
		return s.waitDone(fmt.Sprint(body["id"]), time.Minute)
	}
	first := importCSV("Full Name,E-mail\r\nAnn Lee,ann@example.com\r\nBad Row,not-an-email\r\nBo Ek,bo@example.com\r\n")
	second := importCSV("Full Name,E-mail\r\nCy Ng,cy@example.com\r\nAnn Lee,ann@example.com\r\n") // Ann unchanged: skipped
	if first.Created != 2 || first.Failed != 1 || second.Created != 1 || second.Skipped != 1 {
		t.Fatalf("imports: %+v / %+v", first, second)
	}

	people := examples["person-by-email"].run(t, s.mongo, first.ID)
	if len(people) != 1 || people[0]["_id"] != "email:ann@example.com" || people[0]["name"] != "Ann Lee" {
		t.Fatalf("person-by-email found %v", people)
	}

	var failedRows []int
	for _, d := range examples["failed-rows"].run(t, s.mongo, first.ID) {
		var g struct {
			Notes struct {
				Result   string
				Rows     []int
				Problems []struct{ Field, Message string }
			}
		}
		raw, _ := bson.Marshal(d)
		if err := bson.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		if g.Notes.Result != "failed" || len(g.Notes.Problems) == 0 || g.Notes.Problems[0].Field != "email" {
			t.Fatalf("failed-rows found %+v", g.Notes)
		}
		failedRows = append(failedRows, g.Notes.Rows...)
	}
	if !slices.Equal(failedRows, []int{3}) {
		t.Fatalf("failed-rows of the first import: %v, want [3] (the API says %+v)", failedRows, first.Errors)
	}

	var created []string
	for _, d := range examples["created-by-import"].run(t, s.mongo, first.ID) {
		created = append(created, fmt.Sprint(d["_id"]))
	}
	sort.Strings(created)
	if !slices.Equal(created, []string{"email:ann@example.com", "email:bo@example.com"}) {
		t.Fatalf("created-by-import: %v", created)
	}

	var listed []string
	for _, d := range examples["imports-newest-first"].run(t, s.mongo, first.ID) {
		listed = append(listed, fmt.Sprint(d["_id"]))
	}
	if !slices.Equal(listed, []string{second.ID, first.ID}) {
		t.Fatalf("imports-newest-first: %v, want %s then %s", listed, second.ID, first.ID)
	}

	// The indexes the examples rely on.
	ctx := context.Background()
	for coll, want := range map[*mongo.Collection]string{
		s.mongo.Database("intake_records").Collection("records.default.contacts"): store.RecordIndexName("email"),
		s.mongo.Database("intake").Collection("imports"):                          "tenant_created_at",
		s.mongo.Database("intake").Collection("import_rows"):                      "import",
	} {
		names, err := store.IndexNames(ctx, coll)
		if err != nil || !slices.Contains(names, want) {
			t.Errorf("%s: indexes %v (%v), want %s", coll.Name(), names, err, want)
		}
	}
}
